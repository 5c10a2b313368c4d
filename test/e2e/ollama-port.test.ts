import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { Ollama } from "ollama";
import { afterEach, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { killHard, startServe } from "../helpers/serve-process.js";

/** A TCP port free now (bound to 0, read, released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Needs the built CLI (npm run build). Case D10's probes on the Ollama port.
describe.skipIf(!hasTestModels)("moestro serve --ollama-port", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("D10: also listens on the Ollama port, where GET / answers 'Ollama is running' and the client lists models; both close on SIGTERM", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-ollama-port-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const ollamaPort = await freePort();
    const serve = startServe(
      [
        "--model",
        testModelPath("tiny-qwen3moe.gguf"),
        "--port",
        "0",
        "--ollama-port",
        String(ollamaPort),
        "--threads",
        "1",
        "--log-level",
        "warn",
      ],
      { MOESTRO_HOME: home },
    );
    cleanups.push(() => killHard(serve.child));
    const url = await serve.url;
    const ollamaUrl = `http://127.0.0.1:${ollamaPort}`;
    const root = await fetch(`${ollamaUrl}/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toBe("Ollama is running");
    expect((await fetch(`${ollamaUrl}/`, { method: "HEAD" })).status).toBe(200);
    const ollama = new Ollama({ host: ollamaUrl });
    expect((await ollama.list()).models.map((model) => model.name)).toContain("tiny-qwen3moe:latest");
    expect(await (await fetch(`${ollamaUrl}/nope`)).json()).toEqual({ error: expect.any(String) });
    expect(await (await fetch(`${ollamaUrl}/api/show`, { method: "POST", body: "{}" })).json()).toEqual({ error: expect.any(String) });
    // Under /v1 errors keep OpenAI's envelope, as Ollama's OpenAI-compatible endpoints answer: the openai client reads them.
    const openai = new OpenAI({ baseURL: `${ollamaUrl}/v1`, apiKey: "ollama", maxRetries: 0 });
    const refused = await openai.chat.completions
      .create({ model: "nope", messages: [{ role: "user", content: "Hi" }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.NotFoundError);
    expect(refused).toMatchObject({ status: 404, code: "model_not_found" });
    // The names /api/tags lists work on /v1: here by Ollama's rules in full (without case), on the main port only
    // without `:latest`; the answer names the real id.
    const ask = (client: OpenAI, model: string) =>
      client.chat.completions.create({ model, max_tokens: 2, messages: [{ role: "user", content: "Hi" }] });
    for (const model of ["tiny-qwen3moe:latest", "TINY-QWEN3MOE", "Tiny-Qwen3MoE:latest"])
      expect((await ask(openai, model)).model, model).toBe("tiny-qwen3moe");
    const main = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    expect((await ask(main, "tiny-qwen3moe:latest")).model).toBe("tiny-qwen3moe");
    await expect(ask(main, "TINY-QWEN3MOE")).rejects.toMatchObject({ status: 404, code: "model_not_found" });
    // The main port keeps its own root (the console) and answers /api too.
    expect(await (await fetch(`${url}/`)).text()).not.toBe("Ollama is running");
    expect((await fetch(`${url}/api/version`)).status).toBe(200);

    const exited = new Promise((resolve) => serve.child.once("exit", resolve));
    serve.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(`${ollamaUrl}/`)).rejects.toThrow();
  });

  it("refuses a busy Ollama port in one clear line naming --ollama-port", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const { port } = busy.address() as AddressInfo;
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-ollama-port-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const serve = startServe(
      ["--model", testModelPath("tiny-qwen3moe.gguf"), "--port", "0", "--ollama-port", String(port), "--threads", "1"],
      {
        MOESTRO_HOME: home,
      },
    );
    cleanups.push(() => killHard(serve.child));
    const code = await new Promise((resolve) => serve.child.once("exit", resolve));
    expect(code).toBe(1);
    expect(serve.stderr()).toContain(`port ${port} on 127.0.0.1 is in use`);
    expect(serve.stderr()).toContain("--ollama-port");
  });
});
