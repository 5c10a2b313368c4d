import { serve, type ServerType } from "@hono/node-server";
import type { Hono } from "hono";
import OpenAI from "openai";
import { pino } from "pino";
import { type AppDeps, type AppEnv, createApp } from "../../src/api/app.js";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ModelBackend, ModelRegistry, UsageEvent } from "../../src/spec/index.js";

/**
 * How a test reaches the app:
 * - `app.request`: Hono's in-process `app.request()`, no port (streams go through Hono's `stream()` helper);
 * - `node`: the app served by @hono/node-server on 127.0.0.1, port 0, as `moestro serve` does (streams are written
 *   straight to Node's `ServerResponse`).
 */
export type Transport = "app.request" | "node";

/** An app on fake backends, with what tests inspect. */
export interface FakeApp {
  /** The model registry the app serves (`listLoaded()` shows the leases held). */
  models: ModelRegistry;
  /** Usage events, one per model request. */
  events: UsageEvent[];
  /** `fetch` into the app: a path (`/v1/models`) or a full URL. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** POSTs `body` as JSON to `path`. */
  post(path: string, body: unknown, init?: RequestInit): Promise<Response>;
  /** The official `openai` client, its `fetch` routed into the app; no retries. */
  client: OpenAI;
  /** Stops the server (node transport). */
  close(): Promise<void>;
}

/**
 * Builds `createApp` over `backends` (a static registry), with a usage sink that collects events and a silent logger,
 * reached through `transport`. `deps` overrides or adds app dependencies.
 */
export async function createFakeApp(
  backends: readonly ModelBackend[],
  options: { transport?: Transport; deps?: Partial<AppDeps> } = {},
): Promise<FakeApp> {
  const events: UsageEvent[] = [];
  const models = createStaticModelRegistry(backends);
  const app = createApp({
    models,
    logger: pino({ level: "silent" }),
    usageSinks: [{ record: async (event) => void events.push(event) }],
    ...options.deps,
  });
  let base = "http://moestro.test";
  let fetchApp = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => await app.request(input, init);
  let close = async (): Promise<void> => undefined;
  if (options.transport === "node") {
    const served = await listenOnFreePort(app);
    base = served.url;
    fetchApp = async (input, init) => await fetch(typeof input === "string" && input.startsWith("/") ? `${base}${input}` : input, init);
    close = served.close;
  }
  return {
    models,
    events,
    fetch: fetchApp,
    post: (path, body, init = {}) =>
      fetchApp(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init }),
    client: new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0, fetch: (url, init) => fetchApp(url, init) }),
    close,
  };
}

/**
 * Serves `app` with @hono/node-server on 127.0.0.1 at a free port, as `moestro serve` does. `close` stops the server
 * and ends its open connections.
 */
export async function listenOnFreePort(app: Hono<AppEnv>): Promise<{ url: string; close(): Promise<void> }> {
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve({ server, port: info.port }));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** Waits until `predicate` holds, checking every millisecond, for at most `timeoutMs` (default 2000). */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const startedAt = performance.now();
  while (!predicate()) {
    if (performance.now() - startedAt > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
