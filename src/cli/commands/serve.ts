import { open } from "node:fs/promises";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { pino } from "pino";
import { envNameFor, formatKeyPath, loadConfigWithSources, type LoadedConfig } from "../../config/index.js";
import { parseInteger, parseModelSpec, parseOnOff } from "../parse.js";
import type { Config } from "../../config/index.js";
import { parseKeepAliveMs } from "../../dialects/openai/convert-request.js";
import { parseSizeBytes } from "../../util/size-units.js";
import { modelRefName, parseModelRef } from "../../models/model-ref.js";
import { defaultMoestroHome, ModelStore } from "../../models/model-store.js";
import { MoestroError } from "../../errors/index.js";
import { pullWithProgress } from "./models.js";

/** The flags of serve that are not config keys; the others are read through {@link serveConfigFlags}. */
interface ServeFlags {
  model?: Array<{ path: string; id?: string }>;
  upstream?: Array<{ url: string; name?: string }>;
  json?: boolean;
  config?: string;
}

/** A flag of serve that sets a config key. */
interface ConfigFlag {
  option: Option;
  /** The dotted config key it sets (`engine.threads`). */
  key: string;
}

/**
 * A {@link ConfigFlag} whose help ends with the variable that sets the same key and the default: `help (env
 * MOESTRO_ENGINE__PARALLEL, default 4)`, or `default: the model's` for a default in words. `envNote` follows the
 * variable's name (` in ms`).
 */
function configFlag(
  flags: string,
  key: string,
  help: string,
  options: {
    defaultText?: string;
    envNote?: string;
    parse?: (value: string, previous: unknown) => unknown;
    choices?: readonly string[];
  } = {},
): ConfigFlag {
  const defaultText =
    options.defaultText === undefined ? "" : `, default${options.defaultText.includes(" ") ? ":" : ""} ${options.defaultText}`;
  const option = new Option(flags, `${help} (env ${envNameFor(key.split("."))}${options.envNote ?? ""}${defaultText})`);
  if (options.parse) option.argParser(options.parse);
  if (options.choices) option.choices(options.choices);
  return { option, key };
}

/** Wraps a parser that throws any error so that commander reports it as an invalid value of the flag. */
function asFlagParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

const collectText = (value: string, previous: unknown) => [...((previous as string[] | undefined) ?? []), value];

/** serve's flags that set config keys, in the order help lists them (after --model). */
const serveConfigFlags: readonly ConfigFlag[] = [
  configFlag("--host <host>", "server.host", "address to listen on", { defaultText: "127.0.0.1" }),
  configFlag("-p, --port <port>", "server.port", "TCP port, 0 for a free one", { defaultText: "8080", parse: parseInteger }),
  configFlag(
    "--ollama-port <port>",
    "server.ollamaPort",
    "also serve on this port for Ollama clients (11434 is Ollama's), 0 for a free one",
    {
      defaultText: "none",
      parse: parseInteger,
    },
  ),
  configFlag("-t, --threads <n>", "engine.threads", "CPU threads for prefill and decode", {
    defaultText: "every physical core but one",
    parse: parseInteger,
  }),
  configFlag("--parallel <n>", "engine.parallel", "sequences decoded in parallel per model", { defaultText: "4", parse: parseInteger }),
  configFlag("-c, --ctx-size <tokens>", "engine.contextTokens", "context window of each sequence", {
    defaultText: "the model's, at most 4096",
    parse: parseInteger,
  }),
  configFlag("-b, --batch-size <tokens>", "engine.batchSize", "tokens per evaluation batch", { defaultText: "512", parse: parseInteger }),
  configFlag("--max-queue <n>", "engine.maxQueuedRequests", "requests that may wait for a sequence before 503", {
    defaultText: "64",
    parse: parseInteger,
  }),
  configFlag("--flash-attention <on|off>", "engine.flashAttention", "flash attention in llama.cpp", {
    defaultText: "on",
    parse: parseOnOff,
  }),
  configFlag("--gpu <backend>", "engine.gpu", "compute backend", {
    defaultText: "auto",
    choices: ["auto", "cpu", "cuda", "vulkan", "metal"],
  }),
  configFlag(
    "--engine <kind>",
    "engine.kind",
    "which engine serves models: inproc (in this process), llama-server (managed llama.cpp workers), auto (a worker only where the plan needs one and a binary is available)",
    {
      defaultText: "auto",
      choices: ["auto", "inproc", "llama-server"],
    },
  ),
  configFlag("--llama-server <path>", "engine.llamaServer", "the llama-server binary workers run (a newer llama.cpp, a distribution's)", {
    defaultText: "the newest `moestro engine build`",
  }),
  configFlag("--log-level <level>", "logLevel", "log level of the JSON logs on stderr", {
    defaultText: "info",
    choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
  }),
  configFlag(
    "--keep-alive <duration>",
    "engine.keepAliveMs",
    "how long an idle model stays loaded: 5m, 1h, 0 (unload after each request), -1 (forever)",
    { envNote: " in ms", defaultText: "5m", parse: asFlagParser(parseKeepAliveMs) },
  ),
  configFlag("--max-memory <size>", "engine.maxMemoryBytes", "memory budget for loaded models, such as 24GiB or 512MiB", {
    defaultText: "free RAM and VRAM at start",
    parse: asFlagParser(parseSizeBytes),
  }),
  configFlag(
    "--cache-ram <size>",
    "engine.cacheRamBytes",
    "prefix cache per model: RAM for the KV states of past prompts beyond the slots, within --max-memory; 0 turns it off",
    { defaultText: "the slots' KV cache size, at most 8GiB", parse: asFlagParser(parseSizeBytes) },
  ),
  configFlag(
    "--cors-origin <origin>",
    "server.corsOrigins",
    "a browser origin allowed to call the API, * wildcards; repeatable; '*' allows all",
    { defaultText: "this machine and browser extensions", parse: collectText },
  ),
  configFlag("--admin-key <key>", "adminKey", "turn API key checks on; this key works everywhere", {
    envNote: "; prefer the env: flags show in ps",
  }),
  configFlag("--database-url <url>", "databaseUrl", "keep keys and the usage ledger in PostgreSQL, postgres://...", {
    defaultText: "SQLite in MOESTRO_HOME",
  }),
  configFlag("--database-schema <name>", "databaseSchema", "the PostgreSQL schema of the store, created when missing", {
    defaultText: "the URL's search_path",
  }),
  configFlag("--home <dir>", "home", "data folder with the SQLite store moestro.db", { defaultText: "~/.moestro" }),
  configFlag("--price-book <path>", "metering.priceBookPath", "a JSON price book added to the built-in cloud list prices"),
  configFlag("--rate-limit-store <store>", "limits.store", "where per-key rate-limit counters live", {
    defaultText: "memory",
    choices: ["memory", "redis", "postgres"],
  }),
  configFlag("--redis-url <url>", "limits.redisUrl", "Redis for --rate-limit-store redis", { defaultText: "redis://127.0.0.1:6379" }),
];

/**
 * The flag of serve that sets each config key (`{"engine.threads": "--threads"}`), `--model` and `--upstream` included:
 * for error messages and docs/config.md (whose test checks that every flag there is this one).
 */
export function serveFlagNames(): Record<string, string> {
  const names: Record<string, string> = { models: "--model", upstreams: "--upstream" };
  for (const { option, key } of serveConfigFlags) names[key] = option.long!;
  return names;
}

/** `moestro serve`: load GGUF models and serve the OpenAI-compatible API until Ctrl-C or SIGTERM. */
export function createServeCommand(): Command {
  const command = new Command("serve")
    .description(
      "Serve GGUF models over HTTP: the OpenAI API (/v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings, /v1/models, /v1/files, /v1/batches), Anthropic's Messages API (/v1/messages) and Ollama's (/api/chat, /api/generate, /api/tags, ...).",
    )
    // No default value: commander would print "(default: [])" after the help's own default.
    .option(
      "-m, --model <[NAME=]MODEL>",
      "a model to serve: a GGUF file, hf:owner/repo:QUANT, hf:owner/repo/file.gguf or an https:// URL of a GGUF file (pulled into the store first when missing), or a config alias; repeatable; NAME is the id clients send (default: the file name without .gguf, or the hf: reference without hf:; with no --model: the pulled models, else defaultModel)",
      (value: string, previous: ServeFlags["model"]) => [...(previous ?? []), parseModelSpec(value)],
    )
    .option(
      "--upstream <[NAME=]URL>",
      "an OpenAI-compatible server whose models to serve, such as http://host:8000/v1; repeatable; NAME names it in the x-moestro-upstream header, ps and the ledger (default: its host:port); with upstreams and no --model nothing is pulled (docs/gateway.md)",
      (value: string, previous: ServeFlags["upstream"]) => [...(previous ?? []), parseUpstreamSpec(value)],
    );
  for (const { option } of serveConfigFlags) command.addOption(option);
  return command
    .option(
      "--config <file>",
      "a JSON config file, keys in docs/config.md (env MOESTRO_CONFIG, default: config.json in the home folder, $MOESTRO_HOME or ~/.moestro, when it exists)",
    )
    .option("--json", "print the listening address as one JSON line instead of text")
    .action(async (flags: ServeFlags) => {
      const fromFlags: Record<string, unknown> = { models: flags.model, upstreams: flags.upstream };
      const flagNames = serveFlagNames();
      for (const { option, key } of serveConfigFlags) {
        const value: unknown = command.getOptionValue(option.attributeName());
        if (value === undefined) continue;
        const parts = key.split(".");
        let node = fromFlags;
        for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
        node[parts.at(-1)!] = value;
      }
      const withSources = loadConfigWithSources({ env: process.env, configFile: flags.config, flags: fromFlags, flagNames });
      const loaded = withSources.config;
      // Before the port: a clash or a missing file is the command line's or the config file's mistake.
      await checkModelsToServe(withSources);
      // The port first, so that a busy one is reported before a model is pulled (the default one is 639 MB); requests
      // get 503 server_unavailable meanwhile.
      const { openServerListener } = await import("../../server-listener.js");
      const listener = await openServerListener(loaded);
      let config: Config;
      let startServer: typeof import("../../server.js").startServer;
      try {
        config = await resolveModelsToServe(loaded, flags.json === true);
        // Imported here, not at the top: node-llama-cpp takes about a second to load, which every other command would pay.
        ({ startServer } = await import("../../server.js"));
      } catch (error) {
        await listener.close(); // else the bound socket would keep the process alive
        throw error;
      }
      const logger = pino({ level: config.logLevel, base: undefined }, pino.destination(2));
      const server = await startServer(config, logger, { listener });
      if (flags.json)
        process.stdout.write(
          JSON.stringify({
            event: "listening",
            url: server.url,
            ollama_url: server.ollamaUrl ?? null,
            models: server.models.listLoaded().map((model) => model.id),
          }) + "\n",
        );
      else process.stdout.write(`listening on ${server.url}\n`);
      if (server.ollamaUrl !== undefined && !flags.json) process.stdout.write(`Ollama API listening on ${server.ollamaUrl}\n`);

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

/** A model to serve with where it was given: `--model a=x.gguf`, `models[0].path in /etc/moestro.json`. */
interface ModelOrigin {
  entry: Config["models"][number];
  origin: string;
}

/** Where each of `loaded`'s models was given, in words, for messages. */
function modelOrigins(loaded: LoadedConfig): ModelOrigin[] {
  const source = loaded.sources.models;
  return loaded.config.models.map((entry, index) => ({
    entry,
    origin:
      source === "flag"
        ? `--model ${entry.id === undefined ? "" : `${entry.id}=`}${entry.path}`
        : source === "env"
          ? `${formatKeyPath(["models", index, "path"])} in ${loaded.envVariables.models ?? envNameFor(["models"])}`
          : `${formatKeyPath(["models", index, "path"])}${loaded.file === undefined ? "" : ` in ${loaded.file}`}`,
  }));
}

/**
 * The id a model entry is served under, as the server and {@link resolveModelsToServe} give it: its `id`, else an
 * alias's name, else a path's file name without `.gguf` (`modelIdFromPath`) or a reference's store name.
 */
function servedModelId(entry: Config["models"][number], aliases: Readonly<Record<string, string>>): string {
  if (entry.id !== undefined) return entry.id;
  const target = aliases[entry.path] ?? entry.path;
  const ref = parseModelRef(target);
  if (ref.kind === "path") return path.basename(target).replace(/\.gguf$/i, "");
  return aliases[entry.path] !== undefined ? entry.path : modelRefName(ref);
}

/**
 * Checks the models to serve before anything is bound or pulled: no two share an id (only one of them would answer,
 * while /v1/models listed both; LiteLLM and llama-swap refuse duplicates too), and every local file is there and starts
 * with GGUF's magic.
 *
 * @throws {MoestroError} `invalid_request` (param `model`) naming the clashing id and both origins;
 *   `model_not_found` (param `model`) naming a missing file and where it was given; `invalid_request` (param `model`)
 *   for a file that is not a GGUF file, in one line: `Cannot read a GGUF header from F (--model F): ...`.
 */
async function checkModelsToServe(loaded: LoadedConfig): Promise<void> {
  const { aliases } = loaded.config;
  const origins = modelOrigins(loaded);
  const seen = new Map<string, ModelOrigin>();
  for (const model of origins) {
    const id = servedModelId(model.entry, aliases);
    const first = seen.get(id);
    if (first !== undefined)
      throw new MoestroError(
        "invalid_request",
        `two models have the id "${id}": ${first.origin} and ${model.origin}; give each its own id (--model NAME=PATH, or "id" in the config file)`,
        { param: "model" },
      );
    seen.set(id, model);
  }
  for (const { entry, origin } of origins) {
    const target = aliases[entry.path] ?? entry.path;
    if (parseModelRef(target).kind !== "path") continue;
    const file = path.resolve(target);
    const check = loaded.sources.models === "flag" ? "the path given with --model" : origin.replace(/ in .*/, "");
    let header: Buffer;
    try {
      const handle = await open(file, "r");
      try {
        if (!(await handle.stat()).isFile())
          throw new MoestroError(
            "model_not_found",
            `cannot serve the model file ${file} (${origin}): it is a folder; give the .gguf file inside it.`,
            { param: "model" },
          );
        header = Buffer.alloc(4);
        const { bytesRead } = await handle.read(header, 0, 4, 0);
        header = header.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (error instanceof MoestroError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      // A folder fails open's read on some systems (EISDIR) rather than stat.
      const reason =
        code === "ENOENT" || code === "ENOTDIR"
          ? "there is no such file"
          : code === "EISDIR"
            ? "it is a folder; give the .gguf file inside it"
            : `it cannot be read (${code ?? (error as Error).message})`;
      throw new MoestroError(
        "model_not_found",
        `cannot serve the model file ${file}${loaded.sources.models === "flag" ? "" : ` (${origin})`}: ${reason}. Check ${check}, or pull a model (moestro pull hf:owner/repo:QUANT) and serve it by its hf: reference.`,
        { param: "model", cause: error },
      );
    }
    if (header.toString("latin1") !== "GGUF")
      throw new MoestroError(
        "invalid_request",
        `Cannot read a GGUF header from ${file} (${origin}): it does not start with "GGUF" but with ${JSON.stringify(header.toString("latin1"))}, so it is not a GGUF model file.`,
        { param: "model" },
      );
  }
}

/**
 * Reads `--upstream [NAME=]URL`: a URL alone, or a name, `=`, and the URL (the name is what precedes the first `=`
 * when the text before it is not a URL's start).
 *
 * @throws {InvalidArgumentError} for an empty name or URL.
 */
export function parseUpstreamSpec(value: string): { url: string; name?: string } {
  const equals = value.indexOf("=");
  const scheme = value.indexOf("://");
  if (equals > 0 && (scheme < 0 || equals < scheme)) {
    const name = value.slice(0, equals);
    const url = value.slice(equals + 1);
    if (url.length === 0) throw new InvalidArgumentError("give the upstream's URL after NAME=, such as vllm1=http://host:8000/v1.");
    return { name, url };
  }
  if (value.length === 0) throw new InvalidArgumentError("give an upstream URL, such as http://host:8000/v1.");
  return { url: value };
}

/**
 * Turns the models to serve into local files: an `hf:` reference or URL given with `--model` is pulled into the store
 * when it is not there yet (with a progress bar), and with no `--model` at all the store's models are served, or, when
 * the store is empty and no upstream is configured, the default model is pulled first (said on stderr: a line of text, or with `json` a JSON line
 * `{"event": "pulling-default-model", "model", "store"}`).
 *
 * @returns the config with local paths.
 * @throws {MoestroError} with the pull's code when a model cannot be pulled (a hub that cannot be reached), its message
 *   saying how to serve a local file instead.
 */
async function resolveModelsToServe(config: Config, json: boolean): Promise<Config> {
  const store = new ModelStore(config.home ?? defaultMoestroHome());
  const wanted = [...config.models];
  // A gateway in front of upstreams needs no local model: nothing is pulled for it.
  if (wanted.length === 0 && config.upstreams.length === 0 && (await store.list()).length === 0) {
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
