import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { pino } from "pino";
import { type AppDeps, createApp } from "../../src/api/app.js";
import { loadConfig, type ConfigInput } from "../../src/config/index.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { listenOnFreePort } from "./fake-app.js";
import { scriptedTokens, type Script } from "./scripted-tokens.js";

export { parseSse } from "./sse.js";

/** A real moestro server on a free port, with an official OpenAI client pointed at it. */
export interface TestServer {
  server: RunningServer;
  client: OpenAI;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the real server on 127.0.0.1 with a free port, one thread and the given models. Logs are silent unless
 * `MOESTRO_TEST_LOG` names a level. Unless `input` names a store (`home` or `databaseUrl`), the store is SQLite in a
 * fresh temporary folder, removed on close. `options.now` is the server's clock; `options.apiKey` the client's key;
 * `options.engine` serves every model in-process (the default) or in llama-server workers (`testLlamaServer`).
 */
export async function startTestServer(
  input: ConfigInput,
  options: { now?: () => number; apiKey?: string; engine?: "inproc" | "llama-server" } = {},
): Promise<TestServer> {
  const workerEngine =
    options.engine === "llama-server" ? { kind: "llama-server" as const, llamaServer: (await import("./engines.js")).testLlamaServer } : {};
  const temporaryHome =
    input.home === undefined && input.databaseUrl === undefined ? mkdtempSync(path.join(os.tmpdir(), "moestro-test-")) : undefined;
  const config = loadConfig({
    flags: {
      ...input,
      home: input.home ?? temporaryHome,
      server: { host: "127.0.0.1", port: 0, ...input.server },
      engine: { threads: 1, ...workerEngine, ...input.engine },
    },
  });
  const logger = pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" });
  const server = await startServer(config, logger, { now: options.now });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: options.apiKey ?? "unused", maxRetries: 0 });
  return {
    server,
    client,
    url: server.url,
    close: async () => {
      await server.close();
      if (temporaryHome !== undefined) rmSync(temporaryHome, { recursive: true, force: true });
    },
  };
}

/** An app built with `createApp` (for tests that inject deps such as usage sinks or a faulty backend), served on a free port. */
export async function serveApp(deps: AppDeps): Promise<{ url: string; client: OpenAI; close(): Promise<void> }> {
  const { url, close } = await listenOnFreePort(createApp(deps));
  return { url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }), close };
}

/**
 * Loads a model for tests: one thread, small batch (the Qwen vocabulary makes the logits buffer large). With `script`,
 * the model writes what the script returns for a request instead of sampling (see `scriptedTokens`). `engine` picks
 * in-process (the default) or a llama-server worker (`testLlamaServer`, CPU only).
 */
export async function loadTestBackend(options: {
  modelPath: string;
  parallel?: number;
  contextTokens?: number;
  id?: string;
  maxQueuedRequests?: number;
  script?: Script;
  engine?: "inproc" | "llama-server";
}) {
  const { getTestLlama } = await import("./models.js");
  const llama = await getTestLlama();
  const { script, engine = "inproc", ...rest } = options;
  const common = {
    llama,
    threads: 1,
    batchSize: 64,
    logger: pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" }),
    createTokenSource: script && scriptedTokens(script),
    ...rest,
  };
  if (engine === "llama-server") {
    const { testLlamaServer } = await import("./engines.js");
    const { createLlamaServerBackend } = await import("../../src/engines/llama-server/llama-server-backend.js");
    if (testLlamaServer === undefined) throw new Error("no llama-server binary for worker tests (see test/helpers/engines.ts)");
    return await createLlamaServerBackend({
      ...common,
      binary: { path: testLlamaServer, version: "test" },
      placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 },
    });
  }
  const { createLlamaBackend } = await import("../../src/engines/inproc/llama-backend.js");
  return await createLlamaBackend(common);
}

/** Posts JSON and returns the raw response. */
export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });
}
