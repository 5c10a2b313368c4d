import { readFileSync } from "node:fs";
import os from "node:os";
import { z } from "zod";
import { schemaNamePattern, schemaNameRule } from "../store/postgres-target.js";
import { gatewaySchema, poolEntrySchema, upstreamEntrySchema } from "./gateway-schema.js";

export { gatewaySchema, poolEntrySchema, sessionAffinitySchema, upstreamEntrySchema, upstreamKindSchema } from "./gateway-schema.js";

/** CPU cores this process may use (`os.availableParallelism()`, which honours CPU affinity), the cap for `engine.threads`. */
export function availableCores(): number {
  return os.availableParallelism();
}

/**
 * Physical cores of this machine, counted as llama.cpp counts them (`common_cpu_get_num_physical_cores` in its
 * `common/common.cpp`): on Linux, the distinct `/sys/devices/system/cpu/cpuN/topology/thread_siblings` masks, so that
 * two hyperthreads of one core count once; elsewhere, or when sysfs cannot be read, the logical CPUs (`os.cpus()`).
 * Unlike llama.cpp's `cpu_get_num_math` it does not leave out the efficiency cores of hybrid Intel CPUs.
 */
export function physicalCores(): number {
  if (process.platform === "linux") {
    const siblings = new Set<string>();
    for (let cpu = 0; ; cpu++) {
      let mask: string;
      try {
        mask = readFileSync(`/sys/devices/system/cpu/cpu${cpu}/topology/thread_siblings`, "utf8").trim();
      } catch {
        break;
      }
      siblings.add(mask);
    }
    if (siblings.size > 0) return siblings.size;
  }
  return Math.max(1, os.cpus().length);
}

/**
 * The default of `engine.threads`: every physical core but one, at least 1, and never more than the cores this process
 * may use (`available`) minus one. The core left over keeps llama.cpp's threads from collapsing when anything else
 * wants a core, this server's own event loop included: ggml's threads spin at a barrier after every operation, so one
 * thread that loses its core stalls all of them. With one hog on a 2-core machine, 2 threads decoded 40 tokens of
 * stories260K in seconds and 1 thread in tens of milliseconds (figures and reasoning in docs/threads.md). llama-server
 * and Ollama use every physical (performance) core instead.
 *
 * @param cores `physical` (see {@link physicalCores}) and `available` (see {@link availableCores}) core counts.
 * @returns a whole number ≥ 1.
 */
export function defaultThreadCount(cores: { physical: number; available: number }): number {
  return Math.max(1, Math.min(cores.physical, cores.available) - 1);
}

/** Config keys whose values are secrets: never shown in full (`moestro config show`, error messages). */
export const secretConfigKeys: ReadonlySet<string> = new Set(["adminKey", "hub.token", "databaseUrl", "limits.redisUrl"]);

/** The {@link secretConfigKeys} that are URLs whose secret is their password: shown with the password hidden. */
export const passwordUrlConfigKeys: ReadonlySet<string> = new Set(["databaseUrl", "limits.redisUrl"]);

/**
 * Which engine serves a model (docs/engines.md):
 * - `inproc`: node-llama-cpp in this process, the embedded default;
 * - `llama-server`: a managed llama.cpp server worker process, started with the planner's placement;
 * - `auto`: a worker where the plan needs what the in-process engine cannot do (routed experts in RAM while the rest
 *   sits on a GPU, or some layers on the GPU) and a llama-server binary is available; otherwise in-process, and always
 *   in-process on a machine without a GPU.
 */
export const engineKindSchema = z.enum(["auto", "inproc", "llama-server"]);

/**
 * A model's speculative decoding (docs/engine.md, "Speculative decoding"), on both engines: in-process through
 * node-llama-cpp's predictors, on llama-server workers through llama-server's server-wide speculative flags.
 */
export const speculativeSchema = z
  .object({
    type: z
      .enum(["ngram", "draft"])
      .describe(
        "Where drafted tokens come from: ngram (prompt lookup: what followed the last tokens in the prompt; on a llama-server worker, in the prompt and the output) or draft (a smaller model, draftModel).",
      ),
    draftModel: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Path of the draft model's GGUF file, with the same vocabulary as the model; required with type draft. Loaded beside the model (in a worker: by llama-server, --spec-draft-model), within the memory budget.",
      ),
    maxDraftTokens: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe("The most tokens drafted per step. Defaults to 16 with a draft model, 3 with ngram."),
    minConfidence: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        "Draft model: drafting stops at a token the draft model gives a lower probability than this, 0 to 1; above 0 it costs a full distribution per drafted token (about 45 ms on a 151,936-token vocabulary). Defaults to 0.",
      ),
    minAcceptance: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        "The acceptance below which speculation backs off, 0 to 1; 0 never backs off. In-process engine: drafting pauses (16 steps, doubling up to 512) while fewer drafted tokens than this share are accepted. llama-server workers: see backOff. Defaults to 0.3.",
      ),
    backOff: z
      .boolean()
      .optional()
      .describe(
        "llama-server workers: when a window of backOffWindowTokens drafted tokens is accepted below minAcceptance, restart the worker without speculation (after its requests in flight finish), and keep it so until the model is reloaded; false only logs a warning. Defaults to true.",
      ),
    backOffWindowTokens: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("llama-server workers: drafted tokens per window over which the acceptance is judged (backOff). Defaults to 512."),
    byDefault: z
      .boolean()
      .optional()
      .describe(
        "Whether requests that do not say (their speculative field) speculate. Defaults to true. A llama-server worker speculates for every request or none: false leaves it without speculation.",
      ),
  })
  .refine((value) => value.type !== "draft" || value.draftModel !== undefined, {
    message: "type draft needs draftModel (the draft model's GGUF path)",
    path: ["draftModel"],
  });

/** One model to serve: a GGUF file and the id clients send as `model`. */
export const modelEntrySchema = z.object({
  path: z.string().min(1).describe("Path of the GGUF file."),
  id: z.string().min(1).optional().describe("The id clients send as `model`. Defaults to the file name without .gguf."),
  thinking: z
    .boolean()
    .optional()
    .describe("Whether this model thinks when a request does not say (models with <think> tokens). Defaults to engine.thinking."),
  engine: engineKindSchema
    .optional()
    .describe("Which engine serves this model: auto, inproc or llama-server (docs/engines.md). Defaults to engine.kind."),
  gpuLayers: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("llama-server workers: layers on the GPU (-ngl), in place of the planner's choice. Defaults to the plan's."),
  cpuMoeLayers: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "llama-server workers: layers (from the first) whose routed experts stay in host RAM (--n-cpu-moe), in place of the planner's choice. Defaults to the plan's.",
    ),
  extraArgs: z
    .array(z.string())
    .optional()
    .describe("llama-server workers: more arguments, appended after moestro's own (a later flag wins in llama-server). Defaults to none."),
  speculative: speculativeSchema
    .optional()
    .describe(
      "Speculative decoding, by prompt lookup or a draft model, in-process or on a llama-server worker (server-wide there: a request's speculative field cannot switch it; docs/engine.md). Defaults to none.",
    ),
});

/**
 * The one schema of moestro's configuration. Every field says its unit and default. Values come from flags, then
 * environment variables (`MOESTRO_` + the upper-case path with `__` between levels, such as `MOESTRO_ENGINE__THREADS`),
 * then defaults; `loadConfig` applies that precedence.
 */
export const configSchema = z.object({
  server: z
    .object({
      host: z.string().default("127.0.0.1").describe("Address to listen on. Defaults to 127.0.0.1 (this machine only)."),
      port: z.number().int().min(0).max(65535).default(8080).describe("TCP port; 0 picks a free one. Defaults to 8080."),
      ollamaPort: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .optional()
        .describe(
          "A second TCP port serving the same API for Ollama's clients (11434 is Ollama's), where GET / answers 'Ollama is running' and errors take Ollama's shape (docs/ollama.md); 0 picks a free one. Defaults to none.",
        ),
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .default(32 * 1024 * 1024)
        .describe("Largest request body, in bytes; larger bodies get 413. Defaults to 32 MiB."),
      corsOrigins: z
        .array(z.string().min(1))
        .default([
          "http://localhost",
          "https://localhost",
          "http://localhost:*",
          "https://localhost:*",
          "http://127.0.0.1",
          "https://127.0.0.1",
          "http://127.0.0.1:*",
          "https://127.0.0.1:*",
          "app://*",
          "file://*",
          "tauri://*",
          "vscode-webview://*",
          "chrome-extension://*",
          "moz-extension://*",
          "safari-web-extension://*",
        ])
        .describe(
          "Browser origins allowed to call the API (CORS); * is a wildcard, a lone * allows every origin. Env: a comma-separated list. Defaults to this machine's pages and browser extensions, as Ollama's OLLAMA_ORIGINS.",
        ),
      shutdownGraceMs: z
        .number()
        .int()
        .min(0)
        .default(10_000)
        .describe("On Ctrl-C or SIGTERM, how long in-flight requests may run before they are ended with an error, ms. Defaults to 10000."),
    })
    .default({}),
  engine: z
    .object({
      threads: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          "CPU threads for prefill and decode. Defaults to every physical core but one (at least 1; 1 on a 2-core machine), see docs/threads.md; never more than the available cores.",
        ),
      parallel: z
        .number()
        .int()
        .min(1)
        .max(256)
        .default(4)
        .describe("Sequences decoded in parallel per model (continuous batching slots). Defaults to 4."),
      contextTokens: z
        .number()
        .int()
        .min(16)
        .optional()
        .describe("Context window of each sequence, in tokens. Defaults to the model's training context, capped at 4096."),
      batchSize: z.number().int().min(1).default(512).describe("Tokens per evaluation batch (prefill chunk). Defaults to 512."),
      flashAttention: z
        .boolean()
        .default(true)
        .describe(
          "Flash attention in llama.cpp's attention (llama-server turns it on by default too, -fa auto): about 5% more decode throughput at 4 sequences on the 735M test MoE here. Defaults to true.",
        ),
      maxQueuedRequests: z
        .number()
        .int()
        .min(0)
        .default(64)
        .describe("Requests that may wait for a free sequence per model; beyond it the server answers 503. Defaults to 64."),
      keepAliveMs: z
        .number()
        .int()
        .default(5 * 60 * 1000)
        .describe(
          "How long an idle model stays loaded, ms; negative keeps it forever, and so does a value over 2147483647 (2^31 - 1 ms, about 24.8 days, the longest a timer holds); 0 unloads it after each request. Requests may set keep_alive. Defaults to 5 minutes.",
        ),
      maxMemoryBytes: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          "Memory budget for loaded models (RAM plus VRAM), bytes; loads beyond it evict idle models or are refused. Defaults to the free RAM and VRAM at start.",
        ),
      thinking: z
        .boolean()
        .default(true)
        .describe(
          "Whether models that can think (Qwen3, Qwen3.5) do so when a request does not say; per model: models[].thinking. Defaults to true, as Qwen3's template does.",
        ),
      kind: engineKindSchema
        .default("auto")
        .describe(
          "Which engine serves models: auto, inproc (node-llama-cpp in this process) or llama-server (managed llama.cpp server workers); per model: models[].engine. auto uses a worker only where the plan needs one and a binary is available (docs/engines.md). Defaults to auto.",
        ),
      llamaServer: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Path of a llama-server binary for workers (a newer llama.cpp, a distribution's). Defaults to the newest one `moestro engine build` put in home/engines.",
        ),
      cacheRamBytes: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          "Prefix cache per model: host-RAM budget for the KV states of past prompts beyond the slots (in-process: saved sequence states, restored when a prompt shares their prefix; llama-server workers: their own --cache-ram, rounded down to MiB), bytes, counted in maxMemoryBytes; 0 turns it off. Defaults to the size of the model's slots' KV cache (contextTokens x parallel), at most 8 GiB (llama-server's own default).",
        ),
      sharedPrefill: z
        .boolean()
        .default(true)
        .describe(
          "In-process engine: requests that arrive together on different slots and share a long prefix (a system prompt of 64 tokens or more) wait for the first one's prompt evaluation and restore its state from the prefix cache, instead of each evaluating the prefix (docs/engine.md). Needs the prefix cache (cacheRamBytes above 0). Defaults to true.",
        ),
      workerCacheRamBytes: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          "Deprecated: the name cacheRamBytes had when it applied to llama-server workers only; read as cacheRamBytes when that is not set.",
        ),
      gpu: z
        .enum(["auto", "cpu", "cuda", "vulkan", "metal"])
        .default("auto")
        .describe("Compute backend: auto picks a GPU when there is one, cpu forces the CPU. Defaults to auto."),
    })
    .default({}),
  models: z.array(modelEntrySchema).default([]).describe("Models to serve beside the pulled ones (--model). Defaults to none."),
  upstreams: z
    .array(upstreamEntrySchema)
    .default([])
    .describe("Remote OpenAI-compatible servers whose models moestro serves (--upstream, docs/gateway.md). Defaults to none."),
  gateway: gatewaySchema,
  pools: z
    .record(poolEntrySchema)
    .default({})
    .describe(
      "Routing rules per pool, keyed by model id or alias: fallbacks by error kind and the local member's weight (docs/gateway.md, Fallbacks). Defaults to none.",
    ),
  aliases: z
    .record(z.string().min(1))
    .default({})
    .describe(
      "Short names for models: alias → model id or hf: reference (such as qwen3:30b-a3b → hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M). Defaults to none.",
    ),
  defaultModel: z
    .string()
    .min(1)
    .default("hf:Qwen/Qwen3-0.6B-GGUF:Q8_0")
    .describe(
      "What serve pulls and serves when it is given no --model and the store is empty. Defaults to hf:Qwen/Qwen3-0.6B-GGUF:Q8_0 (Qwen3 0.6B, 639 MB).",
    ),
  hub: z
    .object({
      endpoint: z
        .string()
        .url()
        .default("https://huggingface.co")
        .describe("The Hugging Face hub or a mirror in its URL layout. Env HF_ENDPOINT too. Defaults to https://huggingface.co."),
      token: z.string().min(1).optional().describe("Token for gated or private repos. Env HF_TOKEN too. Secret. Defaults to none."),
    })
    .default({}),
  home: z
    .string()
    .min(1)
    .optional()
    .describe("moestro's data folder (the SQLite store moestro.db). Env MOESTRO_HOME. Defaults to ~/.moestro."),
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe(
      "A postgres:// URL to keep keys and the usage ledger in PostgreSQL instead of SQLite. Secret (may hold a password). Defaults to none (SQLite in home).",
    ),
  databaseSchema: z
    .string()
    .regex(schemaNamePattern, schemaNameRule)
    .optional()
    .describe(
      "The PostgreSQL schema of keys and the usage ledger (with databaseUrl), created when missing; it replaces the URL's search_path. Defaults to none (the URL's search_path, else the connection's current schema).",
    ),
  sqliteSynchronous: z
    .enum(["normal", "full"])
    .default("normal")
    .describe(
      "SQLite store: normal keeps every committed ledger row through a crash or kill -9 of the process; full also through power loss or an OS crash, for an fsync per request (about 0.35 ms here). Defaults to normal.",
    ),
  adminKey: z
    .string()
    .min(16, "the admin key must have at least 16 characters")
    .optional()
    .describe(
      "serve: turns API key checks on; this key works everywhere, admin endpoints included. CLI: authenticates admin commands given url. Secret. Defaults to none (key checks off).",
    ),
  url: z
    .string()
    .url()
    .optional()
    .describe(
      "Base URL of a running server (http://host:port) for admin commands (keys, usage); without it they use the local store. Defaults to none.",
    ),
  limits: z
    .object({
      store: z
        .enum(["memory", "redis", "postgres"])
        .default("memory")
        .describe(
          "Where per-key rate-limit counters live: memory (this process), redis, or postgres (databaseUrl), to share limits between instances. Defaults to memory.",
        ),
      redisUrl: z
        .string()
        .min(1)
        .default("redis://127.0.0.1:6379")
        .describe("Redis URL when store is redis. Secret (may hold a password). Defaults to redis://127.0.0.1:6379."),
      keyPrefix: z
        .string()
        .min(1)
        .default("moestro")
        .describe("Prefix of the counters' keys in Redis or PostgreSQL; instances with the same prefix share limits. Defaults to moestro."),
    })
    .default({}),
  metering: z
    .object({
      priceBookPath: z
        .string()
        .min(1)
        .optional()
        .describe(
          "A JSON price book (local model costs, more cloud prices) added to the built-in cloud list prices. Defaults to none: the built-in book, where local models are priced by engine time at an estimated hourly cost (docs/studio.md).",
        ),
      heartbeatMs: z
        .number()
        .int()
        .min(50)
        .max(10_000)
        .default(1000)
        .describe(
          "How often the ledger flushes the token counts of running requests, ms: a crash loses at most this much of a request's usage. At most 10000: a running row whose last flush is older than 30 s is taken for interrupted. Defaults to 1000.",
        ),
    })
    .default({}),
  responses: z
    .object({
      retentionDays: z
        .number()
        .positive()
        .max(36_500)
        .default(30)
        .describe(
          "How long stored responses of the Responses API (store: true) are kept and served, days (fractions allowed); expired ones are deleted within the hour (docs/responses.md). Defaults to 30, as OpenAI.",
        ),
    })
    .default({}),
  logLevel: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("Log level of the structured (pino) logs on stderr. Defaults to info."),
});

/** moestro's effective configuration, after defaults. */
export type Config = z.infer<typeof configSchema>;
/** A configuration before defaults: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;
