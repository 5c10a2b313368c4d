import { z } from "zod";

/** A model id or alias, or a list of them, as a list. */
const modelNamesSchema = z.union([
  z
    .string()
    .min(1)
    .transform((name) => [name]),
  z.array(z.string().min(1)),
]);

/**
 * The routing rules of one pool (config `pools`, keyed by model id or alias; docs/gateway.md, "Fallbacks"): where a
 * request goes when the pool cannot answer it before its first byte, as LiteLLM's `context_window_fallbacks` and
 * `fallbacks`, and the weight of its local member.
 */
export const poolEntrySchema = z.object({
  contextFallbacks: modelNamesSchema
    .optional()
    .describe(
      "Longer-context models (ids or aliases, in order) to try when the request does not fit this pool's context (context_length_exceeded, from a local model or an upstream's 400). Defaults to none.",
    ),
  fallbacks: modelNamesSchema
    .optional()
    .describe(
      "Pools (ids or aliases, in order) to try when this one cannot take the request: model_not_found, or no member available or able to answer (all ejected, rate-limited or failed before the first byte). Defaults to none.",
    ),
  localWeight: z
    .number()
    .positive()
    .optional()
    .describe("The balancing weight of the pool's local member (the local model of the same id), as upstreams[].weight. Defaults to 1."),
});

/**
 * Session affinity (config `gateway.affinity`, docs/gateway.md, "Session affinity"): the requests of one session go to
 * the pool member that served the session last, so that a multi-turn chat finds its prefix in that member's cache.
 */
export const sessionAffinitySchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe("Whether requests of one session return to the member that served it last. Defaults to false."),
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, "a header name is letters, digits and -")
      .default("x-session-id")
      .describe("The request header that names the session. Defaults to x-session-id."),
    userField: z
      .boolean()
      .default(true)
      .describe("Whether an OpenAI request's user field names the session when the header is absent. Defaults to true."),
    maxSessions: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe("Sessions remembered; past it the least recently used is forgotten. Defaults to 10000."),
    ttlMs: z
      .number()
      .int()
      .min(1000)
      .default(30 * 60 * 1000)
      .describe("How long a session is remembered after its last request, ms. Defaults to 1800000 (30 minutes)."),
    maxLoadRatio: z
      .number()
      .min(1)
      .default(2)
      .describe(
        "A session leaves its member when that member's outstanding requests per unit of weight (in flight + queued + 1) exceed this many times the least loaded member's. Defaults to 2.",
      ),
  })
  .default({});

/**
 * What an upstream is, which says how moestro talks to it and which load metrics it exposes (docs/gateway.md): `vllm`,
 * `sglang`, `llama-server`, `ollama`, `moestro`, `openai`, `dashscope`, or `openai-compatible` (needs only
 * `GET /v1/models` and the endpoints actually called).
 */
export const upstreamKindSchema = z.enum([
  "vllm",
  "sglang",
  "llama-server",
  "ollama",
  "moestro",
  "openai",
  "dashscope",
  "openai-compatible",
]);

/** One remote OpenAI-compatible server that moestro fronts (`--upstream [NAME=]URL`, docs/gateway.md). */
export const upstreamEntrySchema = z.object({
  url: z
    .string()
    .url()
    .regex(/^https?:\/\//i, "an upstream URL starts with http:// or https://")
    .describe("Its OpenAI-compatible base URL, such as http://host:8000/v1 (a URL without /v1 gets it added)."),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "an upstream name is letters, digits and . _ : -, starting with a letter or digit")
    .optional()
    .describe("Its name in the x-moestro-upstream header, the ledger, ps and /metrics. Defaults to its host:port."),
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "apiKeyEnv is the name of an environment variable, not the key")
    .optional()
    .describe(
      "The name of the environment variable that holds its API key (sent as Authorization: Bearer); never the key itself. Defaults to none.",
    ),
  models: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe(
      "The model ids it serves. Defaults to those its GET /v1/models lists, read at start and refreshed every gateway.modelsRefreshMs.",
    ),
  weight: z
    .number()
    .positive()
    .default(1)
    .describe("Its share of the load: requests go to the upstream with the fewest outstanding requests per unit of weight. Defaults to 1."),
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .default(60_000)
    .describe(
      "How long it may take to send the first streamed event (or the whole JSON answer of a call that does not stream), ms; past it the request moves to the next upstream. Defaults to 60000.",
    ),
  answerTimeoutMs: z
    .number()
    .int()
    .min(1)
    .default(600_000)
    .describe(
      "How long a generation sent without streaming (the client asked for a whole answer) may take for its whole answer, ms; past it the request moves to the next upstream. Defaults to 600000 (10 minutes).",
    ),
  kind: upstreamKindSchema
    .default("openai-compatible")
    .describe(
      "What it is: vllm, sglang, llama-server, ollama, moestro, openai, dashscope or openai-compatible; says which fields it takes (thinking switch, top_k) and which load metrics it exposes. Defaults to openai-compatible.",
    ),
});

/** Routing rules shared by every upstream and pool (config `gateway`, docs/gateway.md). */
export const gatewaySchema = z
  .object({
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe("Upstreams one request may try before it fails (only before its first byte reaches the client). Defaults to 3."),
    ejectAfterFailures: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe(
        "Failures in a row (connection refused, timeout, 5xx, broken stream) that eject an upstream from its pools. Defaults to 3.",
      ),
    cooldownMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe(
        "How long an ejected upstream gets no request before a health check or one trial request may re-admit it, ms. Defaults to 10000.",
      ),
    healthCheckIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe("How often each upstream's health is checked (GET /health, else GET /v1/models), ms. Defaults to 5000."),
    loadPollIntervalMs: z
      .number()
      .int()
      .min(250)
      .default(1_000)
      .describe(
        "How often the load of upstreams that publish it (kind vllm, sglang, llama-server, moestro) is read from their /metrics, ms; their queued requests then count in balancing. Defaults to 1000.",
      ),
    modelsRefreshMs: z
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe("How often the model lists of upstreams without configured models are read again (GET /v1/models), ms. Defaults to 60000."),
    maxFallbacks: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe(
        "Fallback models one request may move to (pools.*.contextFallbacks and pools.*.fallbacks), each model at most once; each gets up to maxAttempts upstreams (docs/gateway.md, Fallbacks). Defaults to 2.",
      ),
    affinity: sessionAffinitySchema,
  })
  .default({});
