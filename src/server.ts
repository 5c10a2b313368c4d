import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";
import { createApp } from "./api/app.js";
import type { Config } from "./config/index.js";
import { createLlamaBackend } from "./engine/llama-backend.js";
import { createStaticModelRegistry, type ModelRegistry } from "./engine/model-registry.js";
import { createStudio, type Studio } from "./studio.js";
import type { ModelBackend } from "./spec/index.js";

/** A running moestro server. */
export interface RunningServer {
  /** Base URL, `http://HOST:PORT`, with the real port when port 0 was asked for. */
  url: string;
  /** The served models. */
  models: ModelRegistry;
  /** Stops accepting connections, ends open ones, and frees every model. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates the llama.cpp binding for `config.engine`: the thread cap and the compute backend. Logs of llama.cpp go to
 * `logger` (warnings and errors only).
 */
export async function createLlama(config: Config, logger: Logger): Promise<Llama> {
  const gpu = config.engine.gpu === "cpu" ? false : config.engine.gpu;
  return await getLlama({
    gpu,
    build: "never",
    maxThreads: config.engine.threads,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (text.length === 0) return;
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger.error({ source: "llama.cpp" }, text);
      else logger.warn({ source: "llama.cpp" }, text);
    },
  });
}

/**
 * Opens the store (API keys and the usage ledger: SQLite in `config.home`, or `config.databaseUrl`), loads every model
 * of `config.models` and serves the API on `config.server.host:port`. Resolves once the server accepts requests (every
 * model is loaded by then). Key checks, rate limits and budgets are on when `config.adminKey` is set; the ledger
 * records every model request either way.
 *
 * `options.llama` reuses a llama.cpp binding; `options.now` is the clock (epoch ms) for usage times, key expiry,
 * budgets and price effective dates, `Date.now` by default.
 *
 * @throws when the store, the rate-limit store or a model cannot be opened, or the port cannot be bound (whatever was
 *   opened is closed first).
 * @example
 * const server = await startServer(loadConfig({flags: {models: [{path: "model.gguf"}], server: {port: 0}}}), pino());
 * console.log(server.url);
 */
export async function startServer(config: Config, logger: Logger, options: { llama?: Llama; now?: () => number } = {}): Promise<RunningServer> {
  const studio = await createStudio(config, { logger, now: options.now });
  logger.info({ store: studio.store.location, keyChecks: studio.accessControl !== undefined, rateLimitStore: config.limits.store }, "store open");
  try {
    return await startWithStudio(config, logger, options, studio);
  } catch (error) {
    await studio.dispose();
    throw error;
  }
}

async function startWithStudio(config: Config, logger: Logger, options: { llama?: Llama; now?: () => number }, studio: Studio): Promise<RunningServer> {
  const llama = options.llama ?? (await createLlama(config, logger));
  const backends: ModelBackend[] = [];
  try {
    for (const entry of config.models) {
      const startedAt = performance.now();
      const backend = await createLlamaBackend({
        llama,
        modelPath: entry.path,
        id: entry.id,
        threads: config.engine.threads!,
        parallel: config.engine.parallel,
        contextTokens: config.engine.contextTokens,
        batchSize: config.engine.batchSize,
        maxQueuedRequests: config.engine.maxQueuedRequests,
        thinkingByDefault: entry.thinking ?? config.engine.thinking,
        logger,
      });
      backends.push(backend);
      logger.info(
        { model: backend.info.id, architecture: backend.info.architecture, contextTokens: backend.info.contextTokens, parallel: backend.info.parallelSequences, chatWrapper: backend.info.chatWrapperName, loadMs: Math.round(performance.now() - startedAt) },
        "model loaded",
      );
    }
  } catch (error) {
    await Promise.all(backends.map((backend) => backend.dispose()));
    throw error;
  }
  const models = createStaticModelRegistry(backends);
  const app = createApp({
    models,
    logger,
    now: options.now,
    bodyLimitBytes: config.server.bodyLimitBytes,
    usageSinks: studio.usageSinks,
    accessControl: studio.accessControl,
    admin: studio.admin,
  });

  let server: ServerType;
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, (info) => resolve(info));
    server.once("error", reject);
  }).catch(async (error: unknown) => {
    await models.dispose();
    throw error;
  });
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    models,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await models.dispose();
        await studio.dispose();
      })()),
  };
}
