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
 * fresh temporary folder, removed on close. `options.now` is the server's clock; `options.apiKey` the client's key.
 */
export async function startTestServer(input: ConfigInput, options: { now?: () => number; apiKey?: string } = {}): Promise<TestServer> {
  const temporaryHome =
    input.home === undefined && input.databaseUrl === undefined ? mkdtempSync(path.join(os.tmpdir(), "moestro-test-")) : undefined;
  const config = loadConfig({
    flags: {
      ...input,
      home: input.home ?? temporaryHome,
      server: { host: "127.0.0.1", port: 0, ...input.server },
      engine: { threads: 1, ...input.engine },
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
 * the model writes what the script returns for a request instead of sampling (see `scriptedTokens`).
 */
export async function loadTestBackend(options: {
  modelPath: string;
  parallel?: number;
  contextTokens?: number;
  id?: string;
  maxQueuedRequests?: number;
  script?: Script;
}) {
  const { getTestLlama } = await import("./models.js");
  const { createLlamaBackend } = await import("../../src/engines/inproc/llama-backend.js");
  const llama = await getTestLlama();
  const { script, ...rest } = options;
  return await createLlamaBackend({
    llama,
    threads: 1,
    batchSize: 64,
    logger: pino({ level: "silent" }),
    createTokenSource: script && scriptedTokens(script),
    ...rest,
  });
}

/** Posts JSON and returns the raw response. */
export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });
}
