import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { hasTestModels, storiesGreedy40, testModelPath } from "../helpers/models.js";
import { killHard, startServe } from "../helpers/serve-process.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");

describe("moestro CLI: serve", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  function temporaryHome(): string {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    return home;
  }

  it("prints help", () => {
    const help = spawnSync(process.execPath, [bin, "serve", "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--model");
  });

  it("says in one clear line when the default model cannot be downloaded, and how to pass a local file; it does not hang", () => {
    const startedAt = performance.now();
    const result = spawnSync(process.execPath, [bin, "serve", "--port", "0"], {
      encoding: "utf8",
      env: { ...process.env, MOESTRO_HOME: temporaryHome(), HF_ENDPOINT: "http://127.0.0.1:9" },
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cannot get hf:Qwen\/Qwen3-0\.6B-GGUF:Q8_0: Cannot reach the model hub at http:\/\/127\.0\.0\.1:9/);
    const lines = result.stderr
      .trim()
      .split("\n")
      .filter((line) => !line.includes("pulling the default model"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("--model ./model.gguf");
    expect(performance.now() - startedAt).toBeLessThan(30_000);
  });

  it.skipIf(!hasTestModels)(
    "with no --model, pulls the default model once from the hub (HF_ENDPOINT) with progress, then serves it",
    async () => {
      const hub: FakeHub = await startFakeHub({
        repos: { "Qwen/Qwen3-0.6B-GGUF": [{ path: "Qwen3-0.6B-Q8_0.gguf", content: fileBytes(testModelPath("stories260K.gguf")) }] },
      });
      cleanups.push(() => hub.close());
      const home = temporaryHome();
      const serve = startServe(["--port", "0", "--threads", "1", "--log-level", "warn"], { MOESTRO_HOME: home, HF_ENDPOINT: hub.url });
      cleanups.push(() => killHard(serve.child));
      const url = await serve.url;
      expect(serve.stderr()).toContain("pulling the default model hf:Qwen/Qwen3-0.6B-GGUF:Q8_0");
      expect(serve.stderr()).toMatch(/100%/);
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
      const completion = await client.completions.create({
        model: "Qwen/Qwen3-0.6B-GGUF:Q8_0",
        prompt: "Once upon a time",
        max_tokens: 40,
        temperature: 0,
      });
      expect(completion.choices[0]!.text).toBe(storiesGreedy40);
      const exited = new Promise((resolve) => serve.child.once("exit", resolve));
      serve.child.kill("SIGTERM");
      await exited;

      // The second start finds it in the store and downloads nothing.
      const downloads = hub.requests.filter((request) => request.includes("/resolve/")).length;
      const again = startServe(["--port", "0", "--threads", "1", "--log-level", "warn"], { MOESTRO_HOME: home, HF_ENDPOINT: hub.url });
      cleanups.push(() => killHard(again.child));
      await again.url;
      expect(hub.requests.filter((request) => request.includes("/resolve/")).length).toBe(downloads);
    },
  );

  it.skipIf(!hasTestModels)("reports a busy port in one line before it opens the store or loads a model", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as AddressInfo).port;
    const home = temporaryHome();
    const args = [bin, "serve", "--model", testModelPath("stories260K.gguf"), "--port", String(port), "--threads", "1"];
    const result = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, MOESTRO_HOME: home }, timeout: 60_000 });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `moestro serve: port ${port} on 127.0.0.1 is in use; pick another with --port or MOESTRO_SERVER__PORT`,
    );
    expect(readdirSync(home)).toEqual([]); // the store was never opened
    const json = spawnSync(process.execPath, [...args, "--json"], { encoding: "utf8", env: { ...process.env, MOESTRO_HOME: home } });
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "port_in_use", param: "server.port" } });
  });

  it("reports a busy port before it pulls a model it needs, having downloaded nothing", async () => {
    const hub: FakeHub = await startFakeHub({
      repos: { "owner/big-GGUF": [{ path: "big-Q8_0.gguf", content: Buffer.from("GGUF model") }] },
    });
    cleanups.push(() => hub.close());
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as AddressInfo).port;
    const home = temporaryHome();
    // Spawned, not spawnSync: the fake hub in this process must be able to answer if the pull went first.
    const serve = startServe(["--model", "hf:owner/big-GGUF:Q8_0", "--port", String(port), "--threads", "1"], {
      MOESTRO_HOME: home,
      HF_ENDPOINT: hub.url,
    });
    cleanups.push(() => killHard(serve.child));
    const status = await new Promise<number | null>((resolve) => serve.child.once("exit", resolve));
    expect(status).toBe(1);
    expect(serve.stderr().trim()).toBe(
      `moestro serve: port ${port} on 127.0.0.1 is in use; pick another with --port or MOESTRO_SERVER__PORT`,
    );
    expect(hub.requests).toEqual([]);
    expect(readdirSync(home)).toEqual([]);
  });

  it("names a missing model file and what to do, instead of a raw ENOENT", () => {
    const missing = path.join(temporaryHome(), "no-such-model.gguf");
    const result = spawnSync(process.execPath, [bin, "serve", "--model", missing, "--port", "0", "--threads", "1", "--json"], {
      encoding: "utf8",
      env: { ...process.env, MOESTRO_HOME: temporaryHome() },
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    const { error } = JSON.parse(result.stderr) as { error: { code: string; message: string; param: string } };
    expect(error).toMatchObject({ code: "model_not_found", param: "model" });
    expect(error.message).toContain(missing);
    expect(error.message).toMatch(/no such file\. Check the path given with --model, or pull a model \(moestro pull hf:/);
    expect(error.message).not.toContain("ENOENT");
  });

  it.skipIf(!hasTestModels)("serves a model: 'listening on' once ready, then answers the OpenAI client; SIGTERM stops it", async () => {
    const serve = startServe(
      ["--model", `tales=${testModelPath("stories260K.gguf")}`, "--port", "0", "--threads", "1", "--log-level", "warn"],
      { MOESTRO_HOME: temporaryHome() },
    );
    cleanups.push(() => killHard(serve.child));
    const client = new OpenAI({ baseURL: `${await serve.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const completion = await client.completions.create({ model: "tales", prompt: "Once upon a time", max_tokens: 40, temperature: 0 });
    expect(completion.choices[0]!.text).toBe(storiesGreedy40);
    const exited = new Promise<number | null>((resolve) => serve.child.once("exit", (code) => resolve(code)));
    serve.child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it.skipIf(!hasTestModels)("on SIGTERM lets an in-flight stream finish within the grace period", async () => {
    const serve = startServe(
      ["--model", testModelPath("tiny-qwen3moe.gguf"), "--port", "0", "--threads", "1", "-b", "64", "--log-level", "warn"],
      { MOESTRO_HOME: temporaryHome(), MOESTRO_SERVER__SHUTDOWN_GRACE_MS: "20000" },
    );
    cleanups.push(() => killHard(serve.child));
    const client = new OpenAI({ baseURL: `${await serve.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "tiny-qwen3moe",
      max_tokens: 120,
      stream: true,
      messages: [{ role: "user", content: "Hi" }],
    });
    const exited = new Promise<number | null>((resolve) => serve.child.once("exit", (code) => resolve(code)));
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      if (chunks++ === 2) serve.child.kill("SIGTERM");
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("length");
    expect(await exited).toBe(0);
  });

  it.skipIf(!hasTestModels)("on SIGTERM ends a stream that outlives the grace period with an error event", async () => {
    const serve = startServe(
      ["--model", testModelPath("tiny-qwen3moe.gguf"), "--port", "0", "--threads", "1", "-b", "64", "--log-level", "warn"],
      { MOESTRO_HOME: temporaryHome(), MOESTRO_SERVER__SHUTDOWN_GRACE_MS: "200" },
    );
    cleanups.push(() => killHard(serve.child));
    const client = new OpenAI({ baseURL: `${await serve.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "tiny-qwen3moe",
      max_tokens: 4000,
      stream: true,
      messages: [{ role: "user", content: "Hi" }],
    });
    let chunks = 0;
    const error = await (async () => {
      for await (const _chunk of stream) if (chunks++ === 2) serve.child.kill("SIGTERM");
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toMatch(/shutting down/);
  });
});
