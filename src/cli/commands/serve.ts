import { Command, Option } from "commander";
import { pino } from "pino";
import { loadConfig, type ConfigInput } from "../../config/index.js";
import { startServer } from "../../server.js";
import { parseInteger, parseModelSpec } from "../parse.js";

interface ServeFlags {
  model: Array<{ path: string; id?: string }>;
  host?: string;
  port?: number;
  threads?: number;
  parallel?: number;
  ctxSize?: number;
  batchSize?: number;
  maxQueue?: number;
  gpu?: "auto" | "cpu" | "cuda" | "vulkan" | "metal";
  logLevel?: ConfigInput["logLevel"];
  json?: boolean;
}

/** `moestro serve`: load GGUF models and serve the OpenAI-compatible API until Ctrl-C or SIGTERM. */
export function createServeCommand(): Command {
  return new Command("serve")
    .description("Serve GGUF models over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models).")
    .option("-m, --model <[NAME=]PATH>", "a GGUF file to serve; repeatable; NAME is the id clients send (default: the file name without .gguf)", (value: string, previous: ServeFlags["model"]) => [...previous, parseModelSpec(value)], [])
    .option("--host <host>", "address to listen on (env MOESTRO_SERVER__HOST)", undefined)
    .option("-p, --port <port>", "TCP port, 0 for a free one (env MOESTRO_SERVER__PORT, default 8080)", parseInteger)
    .option("-t, --threads <n>", "CPU threads for prefill and decode (env MOESTRO_ENGINE__THREADS, default: the available cores)", parseInteger)
    .option("--parallel <n>", "sequences decoded in parallel per model (env MOESTRO_ENGINE__PARALLEL, default 4)", parseInteger)
    .option("-c, --ctx-size <tokens>", "context window of each sequence (env MOESTRO_ENGINE__CONTEXT_TOKENS, default: the model's, at most 4096)", parseInteger)
    .option("-b, --batch-size <tokens>", "tokens per evaluation batch (env MOESTRO_ENGINE__BATCH_SIZE, default 512)", parseInteger)
    .option("--max-queue <n>", "requests that may wait for a sequence before 503 (env MOESTRO_ENGINE__MAX_QUEUED_REQUESTS, default 64)", parseInteger)
    .addOption(new Option("--gpu <backend>", "compute backend (env MOESTRO_ENGINE__GPU, default auto)").choices(["auto", "cpu", "cuda", "vulkan", "metal"]))
    .addOption(new Option("--log-level <level>", "log level of the JSON logs on stderr (env MOESTRO_LOG_LEVEL, default info)").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]))
    .option("--json", "print the listening address as one JSON line instead of text")
    .action(async (flags: ServeFlags) => {
      const config = loadConfig({
        env: process.env,
        flags: {
          server: { host: flags.host, port: flags.port },
          engine: {
            threads: flags.threads,
            parallel: flags.parallel,
            contextTokens: flags.ctxSize,
            batchSize: flags.batchSize,
            maxQueuedRequests: flags.maxQueue,
            gpu: flags.gpu,
          },
          models: flags.model.length > 0 ? flags.model : undefined,
          logLevel: flags.logLevel,
        },
      });
      if (config.models.length === 0) {
        process.stderr.write("moestro serve: no model given. Pass a GGUF file: moestro serve --model ./model.gguf\n");
        process.exitCode = 2;
        return;
      }
      const logger = pino({ level: config.logLevel, base: undefined }, pino.destination(2));
      const server = await startServer(config, logger);
      if (flags.json) process.stdout.write(JSON.stringify({ event: "listening", url: server.url, models: server.models.list().map((model) => model.info.id) }) + "\n");
      else process.stdout.write(`listening on ${server.url}\n`);

      const shutdown = (signal: string): void => {
        logger.info({ signal }, "shutting down");
        server.close().then(
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
