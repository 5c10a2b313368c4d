import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeScript } from "../../../test/helpers/test-programs.js";
import { LlamaServerWorker } from "./worker-process.js";

/**
 * A stand-in llama-server, a real process: it listens where `--port` says and answers `/health` 200, which is all the
 * supervisor needs; SIGTERM ends it.
 */
const fakeServer = `
const http = require("node:http");
const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1]);
http.createServer((request, response) => {
  response.writeHead(request.url === "/health" ? 200 : 404);
  response.end("{}");
}).listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("LlamaServerWorker.restartWith: a planned restart (a stand-in llama-server process)", () => {
  let folder: string;
  let binary: string;
  let worker: LlamaServerWorker | undefined;
  let restarted: number;

  beforeEach(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), "moestro-worker-process-"));
    const server = path.join(folder, "fake-llama-server.cjs");
    await fs.writeFile(server, fakeServer);
    binary = await writeScript(folder, "llama-server", `exec "${process.execPath}" "${server}" "$@"`);
    restarted = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await fs.rm(folder, { recursive: true, force: true });
  });

  const start = async (maxRestarts?: number) =>
    (worker = await LlamaServerWorker.start({
      binary,
      version: "fake",
      args: ["--spec-type", "draft-simple"],
      modelId: "m",
      logger: pino({ level: "silent" }),
      maxRestarts,
      onRestarted: () => restarted++,
    }));

  it("waits for the streams under way, holds new ones back meanwhile, and starts the new arguments; no crash counted", async () => {
    const running = await start();
    const oldPid = running.info().pid!;
    const stream = running.hold();
    const restart = running.restartWith(["--plain"], { drainTimeoutMs: 60_000 });
    let isReady = false;
    void running.ready().then(() => (isReady = true));
    await sleep(300);
    // The old process still serves the stream; a new stream waits.
    expect(isReady).toBe(false);
    expect(isAlive(oldPid)).toBe(true);
    expect(stream.isCut()).toBe(false);
    stream.release();
    await restart;
    await running.ready();
    expect(isReady).toBe(true);
    expect(stream.isCut()).toBe(false);
    const info = running.info();
    expect(info.pid).not.toBe(oldPid);
    expect(info.args.slice(0, 1)).toEqual(["--plain"]);
    expect(info.restarts).toBe(0);
    expect(restarted).toBe(1);
    expect(isAlive(oldPid)).toBe(false);
    // The new process takes streams.
    running.hold().release();
  });

  it("cuts a stream still under way when the drain's time runs out; planned restarts never reach maxRestarts, a crash still restarts", async () => {
    const running = await start(1);
    const stream = running.hold();
    await running.restartWith(["--plain"], { drainTimeoutMs: 50 });
    expect(stream.isCut()).toBe(true);
    stream.release();
    stream.release();
    // More planned restarts than maxRestarts (1): the worker is not given up.
    await running.restartWith(["--plain"]);
    await running.restartWith(["--plain"]);
    expect(running.isReady).toBe(true);
    expect(running.info().restarts).toBe(0);
    // A crash is restarted with the latest arguments, and counted.
    const pid = running.info().pid!;
    process.kill(pid, "SIGKILL");
    await sleep(100);
    await running.ready();
    expect(running.info()).toMatchObject({ restarts: 1, args: expect.arrayContaining(["--plain"]) });
    expect(running.info().pid).not.toBe(pid);
  });
});
