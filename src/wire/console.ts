/**
 * Wire types of the endpoints the web console reads under `/v1/moestro/` (besides keys and usage, in `admin.ts`):
 * server info, models and loaded models, pull progress, a model's plan, per-request usage events and stored bench and
 * eval results. snake_case, like the rest of the API; shared with the typed client in `client/` and, type-only, with
 * `web/`. Answers are read leniently (`.passthrough()`), so a server that adds fields does not break older consoles.
 */
import { z } from "zod";
import { wireTokenCostFields } from "./admin.js";
import { distributionSummarySchema } from "./bench-report.js";

/** Which optional parts of the studio a server has. A console page whose part is missing says so instead of failing. */
export const wireServerFeaturesSchema = z
  .object({
    /** `POST /v1/moestro/pull`: the server has a model store to pull into. */
    pull: z.boolean(),
    /** `GET /v1/moestro/plan`: MoE facts and the plan for this machine. */
    plan: z.boolean(),
    /** Key management: true only when key checks are on (an admin key is set). */
    keys: z.boolean(),
    /** `GET /v1/moestro/usage` and `/usage/events`: the usage ledger. */
    usage: z.boolean(),
    /** `GET /v1/moestro/results`: stored bench and eval results. */
    results: z.boolean(),
  })
  .passthrough();
/** Which optional parts of the studio a server has. */
export type WireServerFeatures = z.infer<typeof wireServerFeaturesSchema>;

/** `GET /v1/moestro/info`: what the console needs to know about the server. */
export const wireServerInfoSchema = z
  .object({
    object: z.literal("moestro.info"),
    /** moestro's version. */
    version: z.string(),
    /** Whether API key checks are on: the console then logs in with the admin key. */
    key_checks: z.boolean(),
    features: wireServerFeaturesSchema,
    /** The folder whose bench and eval results `GET /v1/moestro/results` lists, or `null` when none is configured. */
    results_dir: z.string().nullable(),
    /**
     * The scheduler's memory budget for loaded models (`--max-memory`, else measured at start), bytes: `null` when the
     * server does not say; absent from older servers.
     */
    memory_budget_bytes: z.number().nullable().optional(),
  })
  .passthrough();
/** `GET /v1/moestro/info`. */
export type WireServerInfo = z.infer<typeof wireServerInfoSchema>;

/** One model the server can serve, as `GET /v1/moestro/models` lists it. */
export const wireModelEntrySchema = z
  .object({
    id: z.string(),
    aliases: z.array(z.string()),
    path: z.string(),
    /** `config` (`--model`) or `store` (pulled). */
    source: z.string(),
    loaded: z.boolean(),
    /**
     * Whether its requests cost $0 for want of a price: an upstream's model the price book gives no `tiers` or `hourly`
     * price (no engine time to charge either), so no budget counts them (docs/studio.md, "Unpriced models"). Absent
     * from older servers and where the server has no price book.
     */
    unpriced: z.boolean().optional(),
    /**
     * Facts from the GGUF header, read without loading the model; `null` when the header cannot be read. Absent from
     * servers older than the field: the console then offers everything, as before.
     */
    facts: z
      .object({
        /** GGUF `general.architecture` (`llama`, `qwen3moe`). */
        architecture: z.string(),
        /** Routed experts per layer; `null` for a dense model. */
        expert_count: z.number().nullable(),
        /** Routed experts used per token; `null` for a dense model. */
        expert_used_count: z.number().nullable(),
        /** Whether the model can think (its vocabulary has `<think>` and `</think>` tokens): thinking controls apply to it. */
        can_think: z.boolean(),
      })
      .passthrough()
      .nullish(),
  })
  .passthrough();
/** One model the server can serve. */
export type WireModelEntry = z.infer<typeof wireModelEntrySchema>;

/** `GET /v1/moestro/models`. */
export const wireModelEntryListSchema = z.object({ data: z.array(wireModelEntrySchema) }).passthrough();

/** Where a loaded model's weights sit (spec `PlacementInfo`). */
export const wirePlacementSchema = z
  .object({
    /** In words: `all on the GPU`, `experts of the first 86 layers in RAM, the rest on the GPU`, `CPU only`. */
    description: z.string(),
    /** Layers on the GPU (llama.cpp `-ngl`). */
    gpu_layers: z.number(),
    /** Layers (from the first) whose routed experts stay in host RAM (llama.cpp `--n-cpu-moe`). */
    cpu_moe_layers: z.number(),
  })
  .passthrough();
/** Where a loaded model's weights sit. */
export type WirePlacement = z.infer<typeof wirePlacementSchema>;

/** A loaded model's llama-server worker process (spec `WorkerInfo`). */
export const wireWorkerSchema = z
  .object({
    /** The process id; `null` while it restarts. */
    pid: z.number().nullable(),
    /** Path of the llama-server binary. */
    binary: z.string(),
    /** What the binary says it is (`version: 1 (80fb11a)`). */
    version: z.string(),
    /** Its command-line arguments, the API key replaced by `***`. */
    args: z.array(z.string()),
    /** Restarts since the model was loaded (after the worker died). */
    restarts: z.number(),
    /** When the running process started, ISO 8601. */
    started_at: z.string(),
    /** Seconds since the running process started, at the time of the answer. */
    uptime: z.number(),
    /**
     * Its speculative decoding (models[].speculative): `draft` or `ngram` while it speculates; once it backed off
     * (restarted without speculation until the model is reloaded), `off (backed off: 0% of 512 drafted tokens accepted;
     * restarted in 1840 ms)` (`restarting` until the new process is ready); `null` when it was started without. Absent
     * from older servers.
     */
    speculation: z.string().nullish(),
  })
  .passthrough();
/** A loaded model's worker process. */
export type WireWorker = z.infer<typeof wireWorkerSchema>;

/**
 * One upstream of a model's pool, as `GET /v1/moestro/ps` and `GET /v1/moestro/upstreams` show it (spec
 * `UpstreamInfo`). The fields marked optional are absent from servers older than them.
 */
export const wireUpstreamSchema = z
  .object({
    name: z.string(),
    url: z.string(),
    kind: z.string(),
    /** `healthy` (gets requests) or `ejected` (failed its health check or requests in a row; left out until re-admitted). */
    state: z.string(),
    weight: z.number(),
    /** Requests it serves now. */
    in_flight: z.number(),
    /**
     * Requests waiting in its own queue, as its `/metrics` last said (fresh readings only); `null` for a kind that
     * publishes none, or when no reading is fresh.
     */
    queued: z.number().nullish(),
    /** The fraction of its KV cache in use, 0 to 1, from its `/metrics`; `null` when it does not say. */
    kv_cache_usage: z.number().nullish(),
    /** Requests sent to it since start (every attempt). */
    requests_total: z.number(),
    /** Requests it failed since start (refused connections, timeouts, 5xx, 429, broken streams). */
    errors_total: z.number(),
    consecutive_failures: z.number(),
    /** Moving average of its time to first event, ms; `null` before its first answer. */
    latency_ms: z.number().nullable(),
    /** The median of its last 100 times to the first event, ms; `null` before its first answer. */
    latency_p50_ms: z.number().nullish(),
    /** How many attempts `recent_error_rate` is over: its last ones answered whole or failed, at most 100. */
    recent_attempts: z.number().optional(),
    /** Its failed attempts among the last `recent_attempts`, 0 to 1; `null` when there are none. */
    recent_error_rate: z.number().nullish(),
    /** Until when it gets no request (ejected, or a 429's Retry-After), ISO 8601; `null` when it gets them. */
    ejected_until: z.string().nullable(),
    /** Why it is ejected (a failed health check, a 401 or 403 on its model list, its requests' failures); `null` while it is not. Absent from older servers. */
    reason: z.string().nullish(),
    models: z.array(z.string()),
  })
  .passthrough();
/** One upstream of a pool. */
export type WireUpstream = z.infer<typeof wireUpstreamSchema>;

/** A pool: a model id served by upstreams (and a local model of the same id, its member `local`). */
export const wireUpstreamPoolSchema = z
  .object({
    /** The model id clients ask for. */
    model: z.string(),
    /** Whether it is loaded now (a pool of upstreams alone always is; one with a local member while that is loaded). */
    loaded: z.boolean(),
    /** Its members in balancing order: the local model first (`local`), then its upstreams in config order. */
    members: z.array(wireUpstreamSchema),
  })
  .passthrough();
/** A pool and its members. */
export type WireUpstreamPool = z.infer<typeof wireUpstreamPoolSchema>;

/** `GET /v1/moestro/upstreams`: every configured upstream (config order), and the pools their models make. */
export const wireUpstreamListSchema = z
  .object({
    object: z.literal("list"),
    /**
     * The server's time of the answer, ISO 8601: `ejected_until` minus it is the cooldown left, whatever the reader's
     * own clock says.
     */
    at: z.string(),
    /** Every upstream, one each, whether or not it serves a model yet (one unreachable since start serves none). */
    data: z.array(wireUpstreamSchema),
    /** One per model id the upstreams serve, in the order of the upstreams and their model lists. */
    pools: z.array(wireUpstreamPoolSchema),
  })
  .passthrough();
/** `GET /v1/moestro/upstreams`. */
export type WireUpstreamList = z.infer<typeof wireUpstreamListSchema>;

/** One loaded model, as `GET /v1/moestro/ps` lists it. Times are ISO 8601. */
export const wireLoadedModelSchema = z
  .object({
    id: z.string(),
    /** The scheduler's estimate of its memory (weights, KV cache, buffers), bytes. */
    memory_bytes: z.number(),
    active_requests: z.number(),
    sequences_in_use: z.number(),
    /** When it unloads if it stays idle; `null` while in use or when kept forever. */
    expires_at: z.string().nullable(),
    loaded_at: z.string(),
    /**
     * Which engine serves it: `inproc` (node-llama-cpp in the server's process) or `llama-server` (a managed worker
     * process). Absent from servers older than the field.
     */
    engine: z.string().optional(),
    /** Where its weights sit. Absent from servers older than the field. */
    placement: wirePlacementSchema.optional(),
    /** Its worker process (`llama-server` only); `null` for the in-process engine. Absent from older servers. */
    worker: wireWorkerSchema.nullish(),
    /** The upstreams of its pool (engine `upstream`, docs/gateway.md); absent for local models and from older servers. */
    upstreams: z.array(wireUpstreamSchema).optional(),
  })
  .passthrough();
/** One loaded model. */
export type WireLoadedModel = z.infer<typeof wireLoadedModelSchema>;

/** `GET /v1/moestro/ps`. */
export const wireLoadedModelListSchema = z.object({ data: z.array(wireLoadedModelSchema) }).passthrough();

/** The answer to `POST /v1/moestro/models/unload`. */
export const wireUnloadResultSchema = z.object({ id: z.string(), was_loaded: z.boolean() }).passthrough();
/** The answer to `POST /v1/moestro/models/unload`. */
export type WireUnloadResult = z.infer<typeof wireUnloadResultSchema>;

/** The answer to `POST /v1/moestro/models/load`. */
export const wireLoadResultSchema = z
  .object({
    id: z.string(),
    /** `false` when the model was unloaded again before the answer (an unload was waiting for it). */
    loaded: z.boolean(),
    /** The scheduler's estimate of its memory, bytes; `null` when it is not loaded. */
    memory_bytes: z.number().nullable(),
  })
  .passthrough();
/** The answer to `POST /v1/moestro/models/load`. */
export type WireLoadResult = z.infer<typeof wireLoadResultSchema>;

/** One line of `POST /v1/moestro/pull`'s progress. Statuses come in order: `resolving`, `downloading`…, `done`. */
export const wirePullProgressSchema = z
  .object({
    status: z.string(),
    model: z.string(),
    file: z.string().nullable(),
    completed_bytes: z.number(),
    /** `null` when the server of a URL sends no length. */
    total_bytes: z.number().nullable(),
  })
  .passthrough();
/** One line of a pull's progress. */
export type WirePullProgress = z.infer<typeof wirePullProgressSchema>;

/** Memory a placement puts on one device, bytes. */
export const wireDeviceUsageSchema = z
  .object({
    name: z.string(),
    budget_bytes: z.number(),
    weights_bytes: z.number(),
    cache_bytes: z.number(),
    compute_bytes: z.number(),
    total_bytes: z.number(),
  })
  .passthrough();
/** Memory a placement puts on one device. */
export type WireDeviceUsage = z.infer<typeof wireDeviceUsageSchema>;

/** `GET /v1/moestro/plan?model=ID`: a model's facts from its GGUF header and its plan on this machine (docs/planner.md). */
export const wireModelPlanSchema = z
  .object({
    object: z.literal("moestro.plan"),
    /** The model id asked for. */
    model: z.string(),
    facts: z
      .object({
        name: z.string(),
        architecture: z.string(),
        /** llama.cpp's file type (`Q4_K_M`), when the header says. */
        file_type: z.string().nullable(),
        file_size_bytes: z.number().nullable(),
        context_tokens: z.number().nullable(),
        layer_count: z.number(),
        total_parameters: z.number(),
        /** Parameters used per token (non-expert weights plus the routed experts' used share). */
        active_parameters: z.number(),
        /** Routed experts per layer; `null` for dense models. */
        expert_count: z.number().nullable(),
        /** Routed experts used per token; `null` for dense models. */
        expert_used_count: z.number().nullable(),
        shared_expert_count: z.number().nullable(),
        weights_bytes: z.number(),
        routed_expert_bytes: z.number(),
        /** Bytes read per decoded token (the bandwidth-bound decode speed divides by it). */
        active_bytes_per_token: z.number(),
        quantization: z.array(
          z.object({ type: z.string(), tensor_count: z.number(), parameters: z.number(), size_bytes: z.number() }).passthrough(),
        ),
      })
      .passthrough(),
    /** The machine the plan is for. */
    hardware: z.object({ name: z.string(), sources: z.array(z.string()) }).passthrough(),
    memory: z
      .object({
        context_tokens: z.number(),
        sequences: z.number(),
        weights_bytes: z.number(),
        kv_cache_bytes: z.number(),
        recurrent_state_bytes: z.number(),
        compute_buffer_bytes: z.number(),
        output_buffer_bytes: z.number(),
        total_bytes: z.number(),
      })
      .passthrough(),
    placement: z
      .object({
        /** `gpu`, `gpu-cpu-experts`, `gpu-cpu-layers`, `cpu` or `none`. */
        kind: z.string(),
        fits: z.boolean(),
        reason: z.string().nullable(),
        description: z.string(),
        gpu_layers: z.number(),
        cpu_expert_layers: z.number(),
        gpu: wireDeviceUsageSchema.nullable(),
        host: wireDeviceUsageSchema,
      })
      .passthrough(),
    /** Predicted decode speed of one sequence, tokens per second; `null` when it does not fit. */
    decode_tokens_per_second: z.number().nullable(),
    /** Predicted prefill speed, tokens per second; `null` when it does not fit. */
    prefill_tokens_per_second: z.number().nullable(),
    /** The same placement as llama-server flags. */
    llama_server_args: z.array(z.string()),
    /** The whole llama-server command line a worker would get (the planner's `workerArgs`); empty when it does not fit. */
    worker_args: z.array(z.string()),
    /** The nearest cloud model's list price per 1M output tokens, for comparison. */
    cloud: z.object({ model: z.string(), output_micro_usd_per_million_tokens: z.number() }).passthrough().nullable(),
    assumptions: z.array(z.string()),
  })
  .passthrough();
/** A model's facts and plan. */
export type WireModelPlan = z.infer<typeof wireModelPlanSchema>;

/** One ledger row (one model request), as `GET /v1/moestro/usage/events` lists it. Money in integer micro-USD. */
export const wireUsageEventSchema = z
  .object({
    request_id: z.string(),
    /** The API key's id (`admin` for the admin key), `null` when key checks are off. */
    key_id: z.string().nullable(),
    model: z.string(),
    endpoint: z.string(),
    stream: z.boolean(),
    /**
     * Which engine served the request: `inproc` (node-llama-cpp in the server's process) or `llama-server` (a managed
     * worker); `null` for rows from before the ledger recorded it. Absent from older servers.
     */
    engine: z.string().nullish(),
    /** The upstream that served it (engine `upstream`, docs/gateway.md); `null` otherwise. Absent from older servers. */
    upstream: z.string().nullish(),
    /** Upstreams tried before one answered, that one included (engine `upstream`); `null` otherwise. Absent from older servers. */
    attempts: z.number().nullish(),
    /**
     * Whether the token counts are estimates (an upstream that sent no usage, for a model this server has no tokenizer
     * of; docs/gateway.md). Absent from older servers.
     */
    usage_estimated: z.boolean().optional(),
    /** The model the client asked for when a fallback answered (`model` is the answering one); `null` otherwise. Absent from older servers. */
    requested_model: z.string().nullish(),
    /** `running`, `ok`, `error`, `aborted` or `interrupted` (its server instance went away while it ran). */
    status: z.string(),
    error_code: z.string().nullable(),
    ...wireTokenCostFields,
    started_at_ms: z.number(),
    time_to_first_token_ms: z.number().nullable(),
    latency_ms: z.number(),
  })
  .passthrough();
/** One ledger row. */
export type WireUsageEvent = z.infer<typeof wireUsageEventSchema>;

/** `GET /v1/moestro/usage/events`: ledger rows, oldest first. */
export const wireUsageEventListSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(wireUsageEventSchema),
    /** Whether the range holds more rows than `limit`. */
    has_more: z.boolean(),
  })
  .passthrough();
/** `GET /v1/moestro/usage/events`. */
export type WireUsageEventList = z.infer<typeof wireUsageEventListSchema>;

/**
 * The count, mean and percentiles of a distribution, ms; `null` when it had no values. The stored report's own summary
 * ({@link distributionSummarySchema}): its fields are the same in both shapes.
 */
export const wireDistributionSchema = distributionSummarySchema.passthrough();
/** The count, mean and percentiles of a distribution. */
export type WireDistribution = z.infer<typeof wireDistributionSchema>;

/** One concurrency level of a stored serving benchmark (docs/bench.md). */
export const wireBenchLevelSchema = z
  .object({
    concurrency: z.number(),
    requests: z.number(),
    completed: z.number(),
    errors: z.number(),
    requests_per_second: z.number(),
    output_tokens_per_second: z.number(),
    total_tokens_per_second: z.number(),
    goodput_requests_per_second: z.number(),
    slo_attainment: z.number(),
    mean_prompt_tokens: z.number().nullable(),
    mean_output_tokens: z.number().nullable(),
    ttft_ms: wireDistributionSchema,
    tpot_ms: wireDistributionSchema,
    itl_ms: wireDistributionSchema,
    e2e_latency_ms: wireDistributionSchema,
  })
  .passthrough();
/** One concurrency level of a stored serving benchmark. */
export type WireBenchLevel = z.infer<typeof wireBenchLevelSchema>;

/** A stored serving benchmark (`moestro bench --out FILE.json`). */
export const wireBenchRunSchema = z
  .object({
    kind: z.literal("bench"),
    /** The file's path relative to the results folder. */
    id: z.string(),
    started_at: z.string(),
    finished_at: z.string(),
    endpoint: z.string(),
    prompt_tokens: z.number().nullable(),
    max_tokens: z.number(),
    slo: z.object({ ttft_ms: z.number(), tpot_ms: z.number() }).passthrough(),
    targets: z.array(
      z.object({ label: z.string(), model: z.string(), base_url: z.string(), levels: z.array(wireBenchLevelSchema) }).passthrough(),
    ),
  })
  .passthrough();
/** A stored serving benchmark. */
export type WireBenchRun = z.infer<typeof wireBenchRunSchema>;

/** One model in one thinking mode of a stored eval (docs/bench.md). */
export const wireEvalResultSchema = z
  .object({
    model: z.string(),
    /** `on`, `off` or `default`. */
    thinking: z.string(),
    questions: z.number(),
    done: z.number(),
    correct: z.number(),
    wrong: z.number(),
    unparsable: z.number(),
    errors: z.number(),
    /** Correct over done, 0 to 1. */
    accuracy: z.number(),
    wilson_lower: z.number(),
    wilson_upper: z.number(),
    mean_prompt_tokens: z.number().nullable(),
    mean_completion_tokens: z.number().nullable(),
    mean_reasoning_tokens: z.number().nullable(),
    cost_usd: z.number(),
    cost_per_1000_questions_usd: z.number(),
    cloud_model: z.string().nullable(),
    cloud_cost_usd: z.number(),
    cloud_cost_per_1000_questions_usd: z.number(),
    mean_latency_ms: z.number().nullable(),
    is_pareto_optimal: z.boolean(),
  })
  .passthrough();
/** One model in one thinking mode of a stored eval. */
export type WireEvalResult = z.infer<typeof wireEvalResultSchema>;

/** A stored eval (`moestro eval --out DIR`: its `results.json`). */
export const wireEvalRunSchema = z
  .object({
    kind: z.literal("eval"),
    /** The folder's path relative to the results folder. */
    id: z.string(),
    created_at: z.string(),
    dataset: z.object({ path: z.string(), questions: z.number() }).passthrough(),
    /** `own` or `cloud`: which cost the Pareto flags use. */
    cost_basis: z.string(),
    max_tokens: z.number(),
    results: z.array(wireEvalResultSchema),
  })
  .passthrough();
/** A stored eval. */
export type WireEvalRun = z.infer<typeof wireEvalRunSchema>;

/** `GET /v1/moestro/results`: the stored runs, newest first. */
export const wireResultListSchema = z
  .object({
    object: z.literal("list"),
    /** The folder read. */
    results_dir: z.string(),
    data: z.array(z.discriminatedUnion("kind", [wireBenchRunSchema, wireEvalRunSchema])),
    /** Files that look like results but could not be read, with the reason. */
    skipped: z.array(z.object({ id: z.string(), reason: z.string() }).passthrough()),
  })
  .passthrough();
/** `GET /v1/moestro/results`. */
export type WireResultList = z.infer<typeof wireResultListSchema>;
