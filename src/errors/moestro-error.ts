import { errorCodes, type ErrorCode } from "./codes.js";

/** Options of {@link MoestroError}. */
export interface MoestroErrorOptions {
  /** The request field the error is about, as OpenAI spells it (`max_tokens`, `messages[0].content`). Defaults to `null`. */
  param?: string | null;
  /** Seconds after which a retry may succeed; sent as `Retry-After`. Defaults to none. */
  retryAfterSeconds?: number;
  /** The underlying error, logged but never sent to the client. */
  cause?: unknown;
}

/**
 * The one error type moestro throws on purpose. It carries everything the HTTP layer needs to answer in OpenAI's error
 * shape `{"error": {"message", "type", "param", "code"}}`: the stable `code`, the HTTP `status` and OpenAI `type` taken
 * from the catalog in `errors/codes.ts`, and the `param` it is about.
 *
 * @example
 * throw new MoestroError("context_length_exceeded", "This model's maximum context length is 512 tokens ...", {param: "messages"});
 */
export class MoestroError extends Error {
  /** The stable error code, a key of `errorCodes`. */
  readonly code: ErrorCode;
  /** The HTTP status the error is answered with. */
  readonly status: number;
  /** OpenAI's error `type` (`invalid_request_error`, `server_error`). */
  readonly type: string;
  /** The request field the error is about, or `null`. */
  readonly param: string | null;
  /** Seconds after which a retry may succeed, or `undefined` when a retry will not help. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: MoestroErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "MoestroError";
    this.code = code;
    this.status = errorCodes[code].status;
    this.type = errorCodes[code].type;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Whether a retry of the same request may succeed (a busy or starting server). */
  get retryable(): boolean {
    return this.retryAfterSeconds !== undefined;
  }
}

/**
 * Whether `error` is an abort raised by an `AbortSignal` (a `DOMException` or an `Error` named `AbortError`).
 */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
