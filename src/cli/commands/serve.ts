import { Command, Option } from "commander";
import { pino } from "pino";
import { loadConfig, type ConfigInput } from "../../config/index.js";
import { parseInteger, parseModelSpec, parseOnOff } from "../parse.js";
import type { Config } from "../../config/index.js";
import { parseKeepAliveMs } from "../../dialects/openai/convert-request.js";
import { parseSizeBytes } from "../../util/size-units.js";
import { modelRefName, parseModelRef } from "../../models/model-ref.js";
import { defaultMoestroHome, ModelStore } from "../../models/model-store.js";
import { MoestroError } from "../../errors/index.js";
import { pullWithProgress } from "./models.js";

interface ServeFlags {
  model: Array<{ path: string; id?: string }>;
  host?: string;
  port?: number;
  threads?: number;
  parallel?: number;
  ctxSize?: number;
  batchSize?: number;
  maxQueue?: number;
  flashAttention?: boolean;
  gpu?: "auto" | "cpu" | "cuda" | "vulkan" | "metal";
  logLevel?: ConfigInput["logLevel"];
  json?: boolean;
  adminKey?: string;
  databaseUrl?: string;
  home?: string;
  priceBook?: string;
  rateLimitStore?: "memory" | "redis" | "postgres";
  redisUrl?: string;
  keepAlive?: string;
  maxMemory?: string;
  corsOrigin?: string[];
  config?: string;
}

/** `moestro serve`: load GGUF models and serve the OpenAI-compatible API until Ctrl-C or SIGTERM. */
export function createServeCommand(): Command {
  return new Command("serve")
    .description("Serve GGUF models over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models).")
    .option(
      "-m, --model <[NAME=]PATH>",
      "a GGUF file to serve; repeatable; NAME is the id clients send (default: the file name without .gguf)",
      (value: string, previous: ServeFlags["model"]) => [...previous, parseModelSpec(value)],
      [],
    )
    .option("--host <host>", "address to listen on (env MOESTRO_SERVER__HOST)", undefined)
    .option("-p, --port <port>", "TCP port, 0 for a free one (env MOESTRO_SERVER__PORT, default 8080)", parseInteger)
    .option(
      "-t, --threads <n>",
      "CPU threads for prefill and decode (env MOESTRO_ENGINE__THREADS, default: the available cores)",
      parseInteger,
    )
    .option("--parallel <n>", "sequences decoded in parallel per model (env MOESTRO_ENGINE__PARALLEL, default 4)", parseInteger)
    .option(
      "-c, --ctx-size <tokens>",
      "context window of each sequence (env MOESTRO_ENGINE__CONTEXT_TOKENS, default: the model's, at most 4096)",
      parseInteger,
    )
    .option("-b, --batch-size <tokens>", "tokens per evaluation batch (env MOESTRO_ENGINE__BATCH_SIZE, default 512)", parseInteger)
    .option(
      "--max-queue <n>",
      "requests that may wait for a sequence before 503 (env MOESTRO_ENGINE__MAX_QUEUED_REQUESTS, default 64)",
      parseInteger,
    )
    .option("--flash-attention <on|off>", "flash attention in llama.cpp (env MOESTRO_ENGINE__FLASH_ATTENTION, default on)", parseOnOff)
    .addOption(
      new Option("--gpu <backend>", "compute backend (env MOESTRO_ENGINE__GPU, default auto)").choices([
        "auto",
        "cpu",
        "cuda",
        "vulkan",
        "metal",
      ]),
    )
    .addOption(
      new Option("--log-level <level>", "log level of the JSON logs on stderr (env MOESTRO_LOG_LEVEL, default info)").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    )
    .option(
      "--keep-alive <duration>",
      "how long an idle model stays loaded: 5m, 1h, 0 (unload after each request), -1 (forever) (env MOESTRO_ENGINE__KEEP_ALIVE_MS in ms, default 5m)",
    )
    .option(
      "--max-memory <size>",
      "memory budget for loaded models, such as 24GiB or 512MiB (env MOESTRO_ENGINE__MAX_MEMORY_BYTES, default: free RAM and VRAM at start)",
    )
    .option(
      "--cors-origin <origin>",
      "a browser origin allowed to call the API, * wildcards; repeatable; '*' allows all (env MOESTRO_SERVER__CORS_ORIGINS, default: this machine and browser extensions)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--config <file>", "a JSON config file (env MOESTRO_CONFIG, default ~/.moestro/config.json when it exists)")
    .option("--json", "print the listening address as one JSON line instead of text")
    .option(
      "--admin-key <key>",
      "turn API key checks on; this key works everywhere (env MOESTRO_ADMIN_KEY; prefer the env: flags show in ps)",
    )
    .option(
      "--database-url <url>",
      "keep keys and the usage ledger in PostgreSQL, postgres://... (env MOESTRO_DATABASE_URL, default: SQLite in MOESTRO_HOME)",
    )
    .option("--home <dir>", "data folder with the SQLite store moestro.db (env MOESTRO_HOME, default ~/.moestro)")
    .option("--price-book <path>", "a JSON price book added to the built-in cloud list prices (env MOESTRO_METERING__PRICE_BOOK_PATH)")
    .addOption(
      new Option(
        "--rate-limit-store <store>",
        "where per-key rate-limit counters live (env MOESTRO_LIMITS__STORE, default memory)",
      ).choices(["memory", "redis", "postgres"]),
    )
    .option("--redis-url <url>", "Redis for --rate-limit-store redis (env MOESTRO_LIMITS__REDIS_URL, default redis://127.0.0.1:6379)")
    .action(async (flags: ServeFlags) => {
      const loaded = loadConfig({
        env: process.env,
        configFile: flags.config,
        flags: {
          server: { host: flags.host, port: flags.port, corsOrigins: flags.corsOrigin },
          engine: {
            threads: flags.threads,
            parallel: flags.parallel,
            contextTokens: flags.ctxSize,
            batchSize: flags.batchSize,
            maxQueuedRequests: flags.maxQueue,
            flashAttention: flags.flashAttention,
            gpu: flags.gpu,
            keepAliveMs: flags.keepAlive === undefined ? undefined : parseKeepAliveMs(flags.keepAlive),
            maxMemoryBytes: flags.maxMemory === undefined ? undefined : parseSizeBytes(flags.maxMemory),
          },
          models: flags.model.length > 0 ? flags.model : undefined,
          logLevel: flags.logLevel,
          adminKey: flags.adminKey,
          databaseUrl: flags.databaseUrl,
          home: flags.home,
          metering: { priceBookPath: flags.priceBook },
          limits: { store: flags.rateLimitStore, redisUrl: flags.redisUrl },
        },
      });
      const config = await resolveModelsToServe(loaded, flags.json === true);
      const logger = pino({ level: config.logLevel, base: undefined }, pino.destination(2));
      // Imported here, not at the top: node-llama-cpp takes about a second to load, which every other command would pay.
      const { startServer } = await import("../../server.js");
      const server = await startServer(config, logger);
      if (flags.json)
        process.stdout.write(
          JSON.stringify({ event: "listening", url: server.url, models: server.models.listLoaded().map((model) => model.id) }) + "\n",
        );
      else process.stdout.write(`listening on ${server.url}\n`);

      const shutdown = (signal: string): void => {
        logger.info({ signal }, "shutting down");
        server.close({ graceMs: config.server.shutdownGraceMs }).then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGINT", () => shutdown("SIGINT"));
      process.once("SIGTERM", () => shutdown("SIGTERM"));
    });
}

/**
 * Turns the models to serve into local files: an `hf:` reference or URL given with `--model` is pulled into the store
 * when it is not there yet (with a progress bar), and with no `--model` at all the store's models are served, or, when
 * the store is empty, the default model is pulled first (said on stderr: a line of text, or with `json` a JSON line
 * `{"event": "pulling-default-model", "model", "store"}`).
 *
 * @returns the config with local paths.
 * @throws {MoestroError} with the pull's code when a model cannot be pulled (a hub that cannot be reached), its message
 *   saying how to serve a local file instead.
 */
async function resolveModelsToServe(config: Config, json: boolean): Promise<Config> {
  const store = new ModelStore(config.home ?? defaultMoestroHome());
  const wanted = [...config.models];
  if (wanted.length === 0 && (await store.list()).length === 0) {
    process.stderr.write(
      json
        ? `${JSON.stringify({ event: "pulling-default-model", model: config.defaultModel, store: store.root })}\n`
        : `moestro serve: no --model given and no model pulled yet; pulling the default model ${config.defaultModel} into ${store.root}\n`,
    );
    wanted.push({ path: config.defaultModel });
  }
  const models: Config["models"] = [];
  for (const entry of wanted) {
    const target = config.aliases[entry.path] ?? entry.path;
    const ref = parseModelRef(target);
    if (ref.kind === "path") {
      models.push({ ...entry, path: target });
      continue;
    }
    try {
      const name = modelRefName(ref);
      const stored = (await store.get(name)) ?? (await pullWithProgress(target, { home: config.home, quiet: json }));
      models.push({ ...entry, path: stored.path, id: entry.id ?? (config.aliases[entry.path] ? entry.path : name) });
    } catch (error) {
      const message = (error as Error).message;
      const hint = message.includes("--model") ? "" : " Serve a local GGUF file instead: moestro serve --model ./model.gguf";
      throw new MoestroError(error instanceof MoestroError ? error.code : "internal_error", `cannot get ${target}: ${message}${hint}`, {
        param: "model",
        cause: error,
      });
    }
  }
  return { ...config, models } as Config;
}
