/**
 * The catalog of moestro's stable error codes.
 *
 * Each code maps to the HTTP status and the OpenAI error `type` it is sent with. The OpenAI SDKs choose their error class
 * from the HTTP status alone (openai-node `src/core/error.ts`), so the status is part of the contract: 400 →
 * `BadRequestError`, 401 → `AuthenticationError`, 403 → `PermissionDeniedError`, 404 → `NotFoundError`, 413 →
 * `APIError`, 429 → `RateLimitError`, 503 → `InternalServerError`. Where OpenAI has a code of its own
 * (`context_length_exceeded`, `model_not_found`, `rate_limit_exceeded`, `invalid_api_key`, `insufficient_quota`) the
 * same string is used.
 */
export const errorCodes = {
  /** The body is not valid JSON. */
  invalid_json: { status: 400, type: "invalid_request_error" },
  /** A field is missing, has the wrong type, or is out of range; `param` names it. */
  invalid_request: { status: 400, type: "invalid_request_error" },
  /** A known OpenAI option that this server or this model cannot honour; `param` names it. Never silently ignored. */
  unsupported_parameter: { status: 400, type: "invalid_request_error" },
  /** The prompt (plus `max_tokens` when given) does not fit the model's context window. */
  context_length_exceeded: { status: 400, type: "invalid_request_error" },
  /** The `model` of a request is not served here. */
  model_not_found: { status: 404, type: "invalid_request_error" },
  /** No route matches the method and path. */
  not_found: { status: 404, type: "invalid_request_error" },
  /** The request body is larger than the configured limit. */
  request_too_large: { status: 413, type: "invalid_request_error" },
  /** Key checks are on and the request carries no `Authorization: Bearer` or `x-api-key` header. */
  missing_api_key: { status: 401, type: "invalid_request_error" },
  /** The API key is not one this server issued (OpenAI's code). */
  invalid_api_key: { status: 401, type: "invalid_request_error" },
  /** The API key was revoked. */
  api_key_revoked: { status: 401, type: "invalid_request_error" },
  /** The API key's expiry time has passed. */
  api_key_expired: { status: 401, type: "invalid_request_error" },
  /** The key is valid but may not do this: admin endpoints need the admin key; key management needs serve's --admin-key. */
  permission_denied: { status: 403, type: "invalid_request_error" },
  /** No API key has the id or prefix given to an admin endpoint or command. */
  api_key_not_found: { status: 404, type: "invalid_request_error" },
  /** The key is limited to other models; `param` is `model`. */
  model_not_allowed: { status: 403, type: "invalid_request_error" },
  /** The key's requests or tokens per minute are used up; retry after `Retry-After` seconds (OpenAI's code). */
  rate_limit_exceeded: { status: 429, type: "rate_limit_error" },
  /** The key's budget for the current day or month is spent; not retryable before the period ends (OpenAI's code). */
  insufficient_quota: { status: 429, type: "insufficient_quota" },
  /** A browser request from an origin the CORS setting does not allow. */
  cors_origin_not_allowed: { status: 403, type: "invalid_request_error" },
  /** The server is shutting down and ended the request. */
  server_shutting_down: { status: 503, type: "server_error" },
  /** The model hub (Hugging Face or `HF_ENDPOINT`) cannot be reached, or failed. */
  hub_unreachable: { status: 502, type: "server_error" },
  /** A downloaded file does not match the size or SHA-256 the hub published; it is not kept. */
  checksum_mismatch: { status: 502, type: "server_error" },
  /** A model cannot be loaded within the memory budget; the message names the memory needed and available. */
  insufficient_memory: { status: 503, type: "server_error" },
  /** The request queue for a model is full; retry after `Retry-After` seconds. */
  server_busy: { status: 503, type: "server_error" },
  /** The server is starting or stopping. */
  server_unavailable: { status: 503, type: "server_error" },
  /**
   * The model's llama-server worker failed during the request (it died, or answered an error); a worker that died is
   * restarted, so a retry after `Retry-After` seconds succeeds. Bad Gateway: moestro is fine, the process behind it is not.
   */
  worker_failed: { status: 502, type: "server_error" },
  /**
   * Every upstream of a model's pool that was tried failed before it answered (connection refused, a 5xx, a broken
   * stream), or the upstream failed after the stream started (an error event then); retryable. Bad Gateway: moestro is
   * fine, the servers behind it are not (docs/gateway.md).
   */
  upstream_failed: { status: 502, type: "server_error" },
  /** The upstream tried last did not answer within its `timeoutMs` (before its first streamed byte); retryable. */
  upstream_timeout: { status: 504, type: "server_error" },
  /** Every upstream of the model's pool answered 429 (or is waiting out one); retry after `Retry-After` seconds. */
  upstream_rate_limited: { status: 429, type: "rate_limit_error" },
  /** `moestro serve` cannot bind its port: another process listens there (start-up only, never an HTTP answer). */
  port_in_use: { status: 409, type: "invalid_request_error" },
  /**
   * A CLI command was stopped by Ctrl-C before it finished (exit code 130; CLI only, never an HTTP answer: 499 is
   * nginx's "client closed request").
   */
  interrupted: { status: 499, type: "invalid_request_error" },
  /**
   * The client closed its connection before the answer (nginx's 499 "client closed request"): what the access log and
   * the metrics record for such a request; the client itself reads nothing.
   */
  client_closed_request: { status: 499, type: "invalid_request_error" },
  /**
   * The llama-server binary for workers (`--llama-server`, `engine.llamaServer`, or the newest `moestro engine build`)
   * does not exist, is not executable, or is not a llama-server that runs here; `param` is `engine.llamaServer`. A
   * model whose worker cannot start for it answers 503: nothing else the server does is affected.
   */
  llama_server_unusable: { status: 503, type: "server_error" },
  /**
   * `moestro engine build` failed; the message names the step (clone, patch, configure, build, install) and the log
   * file (CLI only, never an HTTP answer).
   */
  engine_build_failed: { status: 500, type: "server_error" },
  /** The model's output broke the constraint it was decoded under (a JSON schema); should not happen, as a grammar enforces it. */
  invalid_model_output: { status: 500, type: "server_error" },
  /** An unexpected failure; the message sent to the client is generic and carries the request id. */
  internal_error: { status: 500, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

/** One of the stable error codes of {@link errorCodes}. */
export type ErrorCode = keyof typeof errorCodes;
