/**
 * A failed call to a moestro (or any OpenAI-compatible) server, as openai-node's `APIError`: the server's OpenAI-style
 * error (`{"error": {message, type, param, code}}`) with the HTTP status and the request's id, or a transport failure
 * (`code` `connection_error`, or `timeout` where the caller set a time limit; `status` 0 when no response came). Every
 * client in `client/` throws it (the streaming completion clients a {@link CompletionApiError}, whose `code` is always
 * set).
 */
export class ApiError extends Error {
  /** HTTP status, or 0 when no response came (a connection that broke after the response began keeps its status). */
  readonly status: number;
  /** The error code (`invalid_api_key`, `model_not_found`, `connection_error`), or `null` when the server sent none. */
  readonly code: string | null;
  /** OpenAI's error type (`invalid_request_error`, `server_error`), or `null`. */
  readonly type: string | null;
  /** The request field the error is about, or `null`. */
  readonly param: string | null;
  /** The server's `x-request-id` for the failed request (quote it when reporting a 5xx), or `null` when none came. */
  readonly requestId: string | null;

  constructor(message: string, fields: ApiErrorFields) {
    super(message, { cause: fields.cause });
    this.name = "ApiError";
    this.status = fields.status;
    this.code = fields.code ?? null;
    this.type = fields.type ?? null;
    this.param = fields.param ?? null;
    this.requestId = fields.requestId ?? null;
  }
}

/** The fields of an {@link ApiError}; all but `status` default to `null` (`cause` to none). */
export interface ApiErrorFields {
  status: number;
  code?: string | null;
  type?: string | null;
  param?: string | null;
  requestId?: string | null;
  cause?: unknown;
}

/**
 * A failed streaming completion (`client/completion-stream.ts`, `client/chat-stream.ts`): an error status or body, an
 * error event inside the stream, or a transport failure. Its `code` is always set: the server's (its `type` when it sent
 * no code), or one of these:
 * - `connection_error`: the server could not be reached (status 0), or the connection broke while the stream was read
 *   (the response's status, 200, and its request id).
 * - `timeout` (status 0): no complete answer within the time limit.
 * - `incomplete_stream` (status 200): the stream ended with neither `[DONE]` nor a `finish_reason`.
 * - `invalid_response` (status 200): a chunk that is not JSON.
 * - `stream_error`: an error event without a code or type.
 * - `http_STATUS`: an error status without an OpenAI error body.
 *
 * The bench and eval record failed requests by this code, so it earns a class of its own.
 */
export class CompletionApiError extends ApiError {
  declare readonly code: string;

  constructor(message: string, fields: ApiErrorFields & { code: string }) {
    super(message, fields);
    this.name = "CompletionApiError";
  }

  /**
   * `error` as a {@link CompletionApiError}: the same message and fields, its `code` the error's, else its `type`, else
   * `http_STATUS`.
   */
  static from(error: ApiError): CompletionApiError {
    return new CompletionApiError(error.message, {
      status: error.status,
      code: error.code ?? error.type ?? `http_${error.status}`,
      type: error.type,
      param: error.param,
      requestId: error.requestId,
      cause: error.cause,
    });
  }
}

/**
 * The {@link ApiError} of a failed response (`text` its body), or of an error line inside a successful one (an NDJSON
 * line as `text`): the server's OpenAI-style error with the response's status and `x-request-id`. Without one (a proxy's
 * page, plain text), the message names `what` (`POST /v1/moestro/pull`, a URL), the status and the text's first 200
 * characters, and `code` is `null`.
 */
export function apiErrorFromResponse(response: Response, text: string, what: string): ApiError {
  const error = parseErrorBody(text);
  return new ApiError(error?.message ?? `${what} answered HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : "."}`, {
    status: response.status,
    code: error?.code,
    type: error?.type,
    param: error?.param,
    requestId: response.headers.get("x-request-id"),
  });
}

/**
 * The {@link ApiError} `connection_error` of a transport failure (`cause`, what `fetch` or the body's reader threw):
 * `Cannot reach TARGET: …` with status 0 when no response came; once `response` came, `The stream from TARGET broke: …`
 * with its status and request id.
 */
export function connectionError(target: string, cause: unknown, response?: Response): ApiError {
  const message = response === undefined ? `Cannot reach ${target}` : `The stream from ${target} broke`;
  return new ApiError(`${message}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    status: response?.status ?? 0,
    code: "connection_error",
    requestId: response?.headers.get("x-request-id"),
    cause,
  });
}

/** The fields of an OpenAI-style error body, each `undefined` when missing or of another type. */
export interface ErrorBodyFields {
  message: string | undefined;
  /** A numeric code (some upstreams send one) is given as a string. */
  code: string | undefined;
  type: string | undefined;
  param: string | undefined;
}

/**
 * Reads `{"error": {message, type, param, code}}` from a response body or an NDJSON/SSE line; `undefined` when `text`
 * is not JSON or has no `error` object.
 */
export function parseErrorBody(text: string): ErrorBodyFields | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = typeof json === "object" && json !== null ? (json as { error?: unknown }).error : undefined;
  return typeof error === "object" && error !== null ? errorBodyFields(error as Record<string, unknown>) : undefined;
}

/** The fields of an error object already parsed (an SSE chunk's `error`). */
export function errorBodyFields(error: Record<string, unknown>): ErrorBodyFields {
  const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
  return {
    message: text(error.message),
    code: typeof error.code === "number" ? String(error.code) : text(error.code),
    type: text(error.type),
    param: text(error.param),
  };
}
