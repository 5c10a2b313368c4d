import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";
import { createApp, type AppDeps } from "./api/app.js";
import { startBatchRunner, type BatchRunner } from "./api/batch/batch-runner.js";
import { defaultFileRetentionMs } from "./api/routes/openai/batches.js";
import { createModelPlanner } from "./api/model-planner.js";
import { createStoredResultsReader } from "./api/stored-results.js";
import type { Config } from "./config/index.js";
import { MoestroError } from "./errors/index.js";
import { Metrics } from "./api/metrics.js";
import { modelIdFromPath } from "./engines/inproc/llama-backend.js";
import { measureMemoryBudgetBytes } from "./engines/inproc/memory-estimate.js";
import { createModelLoader } from "./engines/model-loader.js";
import { createUpstreamBackend } from "./engines/upstream/upstream-backend.js";
import { UpstreamGateway } from "./engines/upstream/upstream-gateway.js";
import { FallbackRoutes } from "./gateway/fallbacks.js";
import { ModelScheduler } from "./engines/model-scheduler.js";
import type { ModelEntry, ModelRegistry } from "./spec/index.js";
import { createHubClient } from "./models/hub-client.js";
import { defaultMoestroHome, ModelStore, type StoredModel } from "./models/model-store.js";
import { createModelPuller } from "./models/pull-model.js";
import { probeLlamaGpu } from "./planner/index.js";
import { openServerListener, type ServerListener } from "./server-listener.js";
import { createOllamaPortFetch } from "./api/routes/ollama/ollama-port.js";
import { createStudio, type Studio } from "./studio.js";

/** A running moestro server. */
export interface RunningServer {
  /** Base URL, `http://HOST:PORT`, with the real port when port 0 was asked for. */
  url: string;
  /** Base URL of the Ollama port (`server.ollamaPort`), when one is served. */
  ollamaUrl?: string;
  /** The served models. */
  models: ModelRegistry;
  /**
   * Stops accepting connections, lets in-flight requests run for `graceMs` (default 0), then ends them (streams get a
   * `server_shutting_down` error event, other requests a 503), waits until every response has sent its last byte (at
   * most {@link shutdownFlushBoundMs}), closes the remaining connections, and frees every model and the store.
   * Idempotent.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * The longest a shutdown waits, after it ended the in-flight requests, for their responses to send their last byte
 * (their usage recorded, their error event written), ms. A response still open then has its connection closed.
 */
export const shutdownFlushBoundMs = 5_000;

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
 * Binds `config.server.host:port` first, so that a busy port is reported before anything is opened or loaded; then
 * opens the store (API keys and the usage ledger: SQLite in `config.home`, or `config.databaseUrl`), loads every model
 * of `config.models` and serves the API. Until then every request gets 503 `server_unavailable` with `Retry-After: 1`.
 * Resolves once the server accepts requests (every model is loaded by then). Key checks, rate limits and budgets are on
 * when `config.adminKey` is set; the ledger records every model request either way.
 *
 * `options.listener` is a listener already bound on `config.server` ({@link openServerListener}; `moestro serve` binds
 * it before it pulls models), which the server takes over: it is closed if the start fails. `options.llama` reuses a
 * llama.cpp binding; `options.now` is the clock (epoch ms) for usage times, key expiry, budgets and price effective
 * dates, `Date.now` by default.
 *
 * @throws {MoestroError} `model_not_found` naming the path when a file of `config.models` is missing (checked before
 *   the port is bound, when it is bound here); `port_in_use` when the port is taken, `invalid_request` naming
 *   `server.port` or `server.host` when it cannot be bound otherwise; or whatever opening the store, the rate-limit
 *   store or a model throws (whatever was opened is closed first).
 * @example
 * const server = await startServer(loadConfig({flags: {models: [{path: "model.gguf"}], server: {port: 0}}}), pino());
 * console.log(server.url);
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: { llama?: Llama; now?: () => number; listener?: ServerListener } = {},
): Promise<RunningServer> {
  let listener = options.listener;
  let ollamaListener: ServerListener | undefined;
  try {
    await checkModelFiles(config);
    listener ??= await openServerListener(config);
    // Ollama's port (--ollama-port) serves the same app; it closes with the main one.
    if (config.server.ollamaPort !== undefined)
      ollamaListener = await openServerListener(config, { port: config.server.ollamaPort, portKey: "ollamaPort", errorDialect: "ollama" });
    const studio = await createStudio(config, { logger, now: options.now });
    logger.info(
      { store: studio.store.location, keyChecks: studio.accessControl !== undefined, rateLimitStore: config.limits.store },
      "store open",
    );
    try {
      return await startWithStudio(config, logger, options, studio, listener, ollamaListener);
    } catch (error) {
      await studio.dispose();
      throw error;
    }
  } catch (error) {
    await listener?.close();
    await ollamaListener?.close();
    throw error;
  }
}

/**
 * Checks that every file of `config.models` is there and is a file, before anything is bound, opened or loaded.
 *
 * @throws {MoestroError} `model_not_found` (param `model`) naming the path and what to do.
 */
async function checkModelFiles(config: Config): Promise<void> {
  for (const model of config.models) {
    const info = await stat(model.path).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error) {
      const reason = info.code === "ENOENT" || info.code === "ENOTDIR" ? "there is no such file" : `it cannot be read (${info.code})`;
      throw new MoestroError(
        "model_not_found",
        `cannot serve the model file ${path.resolve(model.path)}: ${reason}. Check the path given with --model, or pull a model (moestro pull hf:owner/repo:QUANT) and serve it by its hf: reference.`,
        { param: "model", cause: info },
      );
    }
    if (!info.isFile())
      throw new MoestroError(
        "model_not_found",
        `cannot serve the model file ${path.resolve(model.path)}: it is a folder; pass the .gguf file inside it with --model.`,
        { param: "model" },
      );
  }
}

async function startWithStudio(
  config: Config,
  logger: Logger,
  options: { llama?: Llama; now?: () => number },
  studio: Studio,
  listener: ServerListener,
  ollamaListener: ServerListener | undefined,
): Promise<RunningServer> {
  const llama = options.llama ?? (await createLlama(config, logger));
  // Which llama.cpp binary runs: node-llama-cpp's prebuilt one (a per-CPU variant), or a local build for this machine
  // (`npx --no node-llama-cpp source download --gpu false`, see docs/bench.md).
  logger.info(
    { build: llama.buildType, gpu: llama.gpu, llamaCpp: llama.llamaCppRelease.release, threads: config.engine.threads },
    "llama.cpp ready",
  );
  if (llama.gpu !== false) {
    // The time pricing's default power is the GPU's (the catalog's typical power) once the binding runs on one.
    const deviceNames = await llama.getGpuDeviceNames().catch(() => []);
    studio.useGpuDevices(deviceNames);
    logger.info({ gpu: deviceNames }, "time pricing: the GPU's typical power applies where the price book gives no watts");
  }
  const store = new ModelStore(config.home ?? defaultMoestroHome());
  const puller = createModelPuller({ store, hub: createHubClient({ endpoint: config.hub.endpoint, token: config.hub.token }) });
  // The upstreams (docs/gateway.md): their models are read before the server listens, so that the first request finds them.
  const gateway =
    config.upstreams.length === 0
      ? undefined
      : new UpstreamGateway({ upstreams: config.upstreams, rules: config.gateway, logger, now: options.now });
  await gateway?.start();
  // Fallbacks by error kind and the local members' weights (config pools, docs/gateway.md).
  const fallbacks = new FallbackRoutes({ pools: config.pools, aliases: config.aliases, maxFallbacks: config.gateway.maxFallbacks });
  const upstreamEntries = (): ModelEntry[] => (gateway?.modelIds() ?? []).map((id) => ({ id, path: "", source: "upstream" }));
  const listEntries = async (): Promise<ModelEntry[]> =>
    withAliases(configEntries(config), await store.list(), config.aliases, upstreamEntries());
  const loader = createModelLoader({ config, llama, home: config.home ?? defaultMoestroHome(), logger, now: options.now });
  let maxMemoryBytes: number;
  try {
    maxMemoryBytes = config.engine.maxMemoryBytes ?? (await measureMemoryBudgetBytes(llama));
    await loader.checkBinary();
  } catch (error) {
    gateway?.dispose();
    throw error;
  }
  const scheduler = new ModelScheduler({
    listEntries,
    // A pool of upstreams holds no memory here: its backend routes each request to the pool's members. A local model
    // of the same id (its entry keeps the file's path) is loaded as one of those members.
    loadModel: async (entry) =>
      entry.source === "upstream" && gateway !== undefined
        ? createUpstreamBackend({
            gateway,
            modelId: entry.id,
            local: entry.path === "" ? undefined : await loader.loadModel(entry),
            localWeight: fallbacks.localWeight(entry.id),
            hasFallbacks: fallbacks.fallbacksOf(entry.id, "unavailable").length > 0,
            logger,
            now: options.now,
          })
        : await loader.loadModel(entry),
    estimateMemoryBytes: async (entry) => (entry.source === "upstream" && entry.path === "" ? 0 : await loader.estimateMemoryBytes(entry)),
    maxMemoryBytes,
    defaultKeepAliveMs: config.engine.keepAliveMs,
    logger,
    now: options.now,
    upstreams: () => gateway?.allInfo() ?? [],
    // A pool of upstreams alone holds nothing here: it stays loaded for good (docs/gateway.md, "Pools").
    keepsLoaded: (entry) => entry.source === "upstream" && entry.path === "",
  });
  logger.info({ maxMemoryBytes, keepAliveMs: config.engine.keepAliveMs }, "scheduler ready");
  try {
    // Models named on the command line are loaded before the server says it listens, so the first request is fast.
    for (const entry of configEntries(config)) await scheduler.load(entry.id);
    // Pools of upstreams alone stay "loaded" for good: they cost nothing, and ps shows their upstreams. One that a local
    // model joins keeps the local model's keep-alive (it was loaded above when it came from --model).
    for (const entry of await listEntries())
      if (entry.source === "upstream" && entry.path === "") await scheduler.load(entry.id, { keepAliveMs: -1 });
  } catch (error) {
    await scheduler.dispose();
    gateway?.dispose();
    throw error;
  }

  const memoryById = () => new Map(scheduler.listLoaded().map((model) => [model.id, model.memoryBytes]));
  const metrics = new Metrics({
    loadedBackends: () => scheduler.loadedBackends(),
    modelMemoryBytes: memoryById,
    loadCount: () => scheduler.loadCount,
    upstreams: () => gateway?.allInfo() ?? [],
    affinityOutcomes: () => gateway?.affinityOutcomes ?? { hit: 0, moved: 0, new: 0 },
  });
  const shutdown = new AbortController();
  // Every running request listens to it (without a cap: Node warns of a leak past 10 listeners).
  setMaxListeners(0, shutdown.signal);
  // The batch runner is started once the app exists (its lines are requests to the app); created batches wake it.
  let batchRunner: BatchRunner | undefined;
  const app = createApp({
    models: scheduler,
    logger,
    maxMemoryBytes,
    now: options.now,
    bodyLimitBytes: config.server.bodyLimitBytes,
    usageSinks: [...studio.usageSinks, metrics.usageSink()],
    accessControl: studio.accessControl,
    admin: studio.admin,
    responses: studio.responses,
    batches: { repository: studio.store.batches, fileRetentionMs: defaultFileRetentionMs, wake: () => batchRunner?.wake() },
    puller,
    metrics,
    corsOrigins: config.server.corsOrigins,
    shutdownSignal: shutdown.signal,
    upstreams: () => gateway?.allInfo() ?? [],
    routing: {
      fallbacks,
      affinity: config.gateway.affinity.enabled
        ? { header: config.gateway.affinity.header.toLowerCase(), userField: config.gateway.affinity.userField }
        : undefined,
    },
    ollama: {
      aliases: config.aliases,
      contextTokens: config.engine.contextTokens,
      removeStoredModel: async (name) => {
        await store.remove(name);
      },
    },
    ...consoleDeps(config, llama),
  });

  batchRunner = startBatchRunner({
    repository: studio.store.batches,
    fetch: (request, env) => app.fetch(request, env),
    ownerId: studio.instance.id,
    isGone: (ownerId) => studio.instance.isGone(ownerId),
    logger,
    now: options.now,
  });
  listener.handleWith(app.fetch);
  ollamaListener?.handleWith(createOllamaPortFetch(app.fetch));
  const servers = [listener.server, ...(ollamaListener === undefined ? [] : [ollamaListener.server])];
  // Responses not yet ended: on shutdown their connections are closed only once these have sent their last byte.
  const openResponses = new Set<ServerResponse>();
  let onResponsesEnded: (() => void) | undefined;
  for (const server of servers) {
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
      openResponses.add(response);
      response.once("close", () => {
        openResponses.delete(response);
        if (openResponses.size === 0) onResponsesEnded?.();
      });
    });
  }
  const urlOf = ({ address }: ServerListener): string =>
    `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  let closing: Promise<void> | undefined;
  return {
    url: urlOf(listener),
    ollamaUrl: ollamaListener === undefined ? undefined : urlOf(ollamaListener),
    models: scheduler,
    close: ({ graceMs = 0 }: { graceMs?: number } = {}) =>
      (closing ??= (async () => {
        // Batch lines under way are cut and not answered: they run again when the batch resumes (here or elsewhere).
        await batchRunner?.dispose();
        const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
        for (const server of servers) (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        // In-flight requests may finish within the grace period; then they are ended with an error.
        const deadline = performance.now() + graceMs;
        while (performance.now() < deadline && scheduler.listLoaded().some((model) => model.activeRequests > 0)) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        shutdown.abort(new Error("shutdown"));
        // Each cut request now records its usage and sends its last event (a stream's server_shutting_down error);
        // closing its connection before that flushed reset the socket instead (1 of 24 streams with a fixed 50 ms).
        await new Promise<void>((resolve) => {
          if (openResponses.size === 0) return resolve();
          const timer = setTimeout(resolve, shutdownFlushBoundMs);
          onResponsesEnded = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        for (const server of servers) (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        await closed;
        await scheduler.dispose();
        gateway?.dispose();
        await studio.dispose();
      })()),
  };
}

/**
 * What the web console needs besides the API: the static build in `web/dist` beside `dist/` (or `src/`), the planner
 * (GPU probed through the server's own llama.cpp binding), the results folder `$MOESTRO_HOME/results`, and the version.
 */
function consoleDeps(config: Config, llama: Llama): Pick<AppDeps, "version" | "consoleDir" | "planner" | "results"> {
  let version = "unknown";
  try {
    version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? version;
  } catch {
    // Not from a checkout or package (bundled): the version stays unknown.
  }
  const planner = createModelPlanner({
    contextTokens: config.engine.contextTokens,
    sequences: config.engine.parallel,
    batchTokens: config.engine.batchSize,
    threads: config.engine.threads,
    probeGpu: () => probeLlamaGpu(llama),
  });
  return {
    version,
    consoleDir: fileURLToPath(new URL("../web/dist", import.meta.url)),
    planner,
    results: createStoredResultsReader(path.join(config.home ?? defaultMoestroHome(), "results")),
  };
}

/** The models named in the config (`--model`), as scheduler entries. */
function configEntries(config: Config): ModelEntry[] {
  return config.models.map((model) => ({
    id: model.id ?? modelIdFromPath(model.path),
    path: model.path,
    source: "config",
    thinking: model.thinking,
    engine: { kind: model.engine, gpuLayers: model.gpuLayers, cpuMoeLayers: model.cpuMoeLayers, extraArgs: model.extraArgs },
    speculative: model.speculative,
  }));
}

/**
 * Config models plus store models (a store model with the id of a config model is hidden by it), then the upstreams'
 * pools, with the config's aliases attached to the model each one names (by id, or by `hf:` reference). A local model
 * with the id of a pool joins it: its entry becomes the pool's (`source` `upstream`, its path and engine settings
 * kept), so that one backend serves both (docs/gateway.md, "Pools").
 */
function withAliases(
  fromConfig: ModelEntry[],
  stored: StoredModel[],
  aliases: Readonly<Record<string, string>>,
  fromUpstreams: ModelEntry[],
): ModelEntry[] {
  const entries = [...fromConfig];
  for (const model of stored) {
    if (!entries.some((entry) => entry.id === model.name)) entries.push({ id: model.name, path: model.path, source: "store" });
  }
  for (const pool of fromUpstreams) {
    const index = entries.findIndex((entry) => entry.id === pool.id);
    if (index < 0) entries.push(pool);
    else entries[index] = { ...entries[index]!, source: "upstream" };
  }
  return entries.map((entry) => {
    const names = Object.entries(aliases)
      .filter(([, target]) => target === entry.id || target.replace(/^hf:/, "") === entry.id)
      .map(([alias]) => alias);
    return names.length > 0 ? { ...entry, aliases: names } : entry;
  });
}
