import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeHub } from "../helpers/fake-hub.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");

/** Runs `moestro ARGS` as a user would, and returns its exit code and output. */
function runMoestro(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Starts `moestro ARGS` without blocking this process (a fake hub in it must answer); `ended` resolves with its exit
 * code and output.
 */
function spawnMoestro(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { interrupt(): void; ended: Promise<{ status: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const ended = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("close", (status) => resolve({ status, stdout, stderr })),
  );
  return { interrupt: () => child.kill("SIGINT"), ended };
}

/** The one JSON line a failed command with `--json` writes to stderr. */
function jsonError(stderr: string): { message: string; code: string; type: string; param: string | null } {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  return (JSON.parse(lines[0]!) as { error: { message: string; code: string; type: string; param: string | null } }).error;
}

describe("moestro CLI: errors", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  function temporaryHome(): string {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-errors-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    return home;
  }

  it("with --json, a command's error is one JSON object on stderr, stdout stays empty, and the exit code is 1", () => {
    const result = runMoestro(["rm", "nothing-here", "--json", "--home", temporaryHome()]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    const error = jsonError(result.stderr);
    expect(error).toMatchObject({ code: "model_not_found", type: "invalid_request_error", param: "model" });
    expect(error.message).toMatch(/No model named 'nothing-here'/);
  });

  it("with --json, a flag the parser refuses is a JSON error naming the flag", () => {
    const result = runMoestro(["serve", "--port", "abc", "--json"]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(jsonError(result.stderr)).toMatchObject({ code: "invalid_request", param: "--port" });
    const missing = runMoestro(["bench", "--json"]);
    expect(missing.status).toBe(1);
    expect(jsonError(missing.stderr)).toMatchObject({ code: "invalid_request", param: "--url" });
    expect(jsonError(missing.stderr).message).toContain("--url");
  });

  it("without --json, the error is one line of text prefixed with the command", () => {
    const result = runMoestro(["rm", "nothing-here", "--home", temporaryHome()]);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^moestro rm: No model named 'nothing-here'/);
    const parse = runMoestro(["serve", "--port", "abc"]);
    expect(parse.stderr.trim()).toBe("moestro serve: option '-p, --port <port>' argument 'abc' is invalid. 'abc' is not a whole number.");
  });

  it("a bad MOESTRO_* value names the variable, what it accepts and what it got; a bad file value names the key and the file", () => {
    const home = temporaryHome();
    const result = runMoestro(["ls", "--json"], { MOESTRO_HOME: home, MOESTRO_ENGINE__THREADS: "abc" });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toEqual({
      message: 'MOESTRO_ENGINE__THREADS (engine.threads): expected a whole number ≥ 1, got "abc"',
      code: "invalid_request",
      type: "invalid_request_error",
      param: "engine.threads",
    });
    const file = path.join(home, "config.json");
    writeFileSync(file, JSON.stringify({ engine: { gpu: "tpu" } }));
    const fromFile = runMoestro(["config", "show"], { MOESTRO_HOME: home });
    expect(fromFile.status).toBe(1);
    expect(fromFile.stderr.trim()).toBe(
      `moestro config show: engine.gpu in ${file}: expected one of auto, cpu, cuda, vulkan, metal, got "tpu"`,
    );
  });

  it("a serve flag whose value the config refuses is named by its flag", () => {
    const result = runMoestro(["serve", "--threads", "0", "--model", "missing.gguf", "--json"], { MOESTRO_HOME: temporaryHome() });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toMatchObject({
      message: "--threads (engine.threads): expected a whole number ≥ 1, got 0",
      param: "engine.threads",
    });
  });

  it("a failed pull says why and leaves no empty model folder behind", () => {
    const home = temporaryHome();
    const result = runMoestro(["pull", "http://127.0.0.1:9/model-Q8_0.gguf", "--json"], { MOESTRO_HOME: home });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toMatchObject({ code: "hub_unreachable" });
    expect(existsSync(path.join(home, "models")) ? readdirSync(path.join(home, "models")) : []).toEqual([]);
  });

  it("Ctrl-C stops a pull with one line saying how to resume (JSON with --json), exit code 130; the same command resumes", async () => {
    const hub = await startFakeHub({
      repos: { "owner/slow-GGUF": [{ path: "slow-Q8_0.gguf", content: Buffer.alloc(400_000, 7) }] },
      bytesPerSecond: 100_000,
    });
    cleanups.push(() => hub.close());
    const env = { MOESTRO_HOME: temporaryHome(), HF_ENDPOINT: hub.url };
    const pull = spawnMoestro(["pull", "hf:owner/slow-GGUF:Q8_0", "--json"], env);
    const deadline = Date.now() + 20_000;
    while (!hub.requests.some((request) => request.includes("/resolve/")) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 300)); // some bytes on disk
    pull.interrupt();
    const interrupted = await pull.ended;
    expect(interrupted.status).toBe(130);
    expect(interrupted.stdout).toBe("");
    expect(jsonError(interrupted.stderr)).toEqual({
      message: "interrupted; run the same command again to resume.",
      code: "interrupted",
      type: "invalid_request_error",
      param: null,
    });
    const again = await spawnMoestro(["pull", "hf:owner/slow-GGUF:Q8_0", "--json"], env).ended;
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ sizeBytes: 400_000 });
    expect(hub.requests.filter((request) => request.includes("/resolve/")).at(-1)).toMatch(/ bytes=[1-9]\d*-$/);
  });

  it("a URL with malformed percent-encoding is a clear invalid_request, not an internal error", () => {
    const result = runMoestro(["pull", "https://127.0.0.1:9/%zz.gguf", "--json"], { MOESTRO_HOME: temporaryHome() });
    expect(result.status).toBe(1);
    const error = jsonError(result.stderr);
    expect(error).toMatchObject({ code: "invalid_request", param: "model" });
    expect(error.message).toContain("malformed percent-encoding in its file name '%zz.gguf'");
  });

  it("help and the version still exit 0", () => {
    expect(runMoestro(["--version"]).status).toBe(0);
    const help = runMoestro(["ls", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--json");
  });
});
