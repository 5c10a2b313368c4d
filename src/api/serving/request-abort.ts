import type { Context } from "hono";
import { MoestroError } from "../../errors/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";

/**
 * An abort controller for one request, linked to the client's connection and the server's shutdown. Its reason says
 * who ended the request: a `MoestroError` when the server did (its shutdown: 503 `server_shutting_down`), an `Error`
 * otherwise (the client left).
 */
export class RequestAbortController extends AbortController {
  readonly #detachers: Array<() => void> = [];

  /**
   * @internal Links `signal` to this controller until `detach`: when it aborts, this aborts with `reason()`, or else
   * with `signal`'s reason. A reason that is not an `Error` (@hono/node-server aborts the request's signal with the
   * string "Client connection prematurely closed.") is passed on as a `DOMException` `AbortError` carrying it: the
   * engine and the scheduler throw the reason as it is, and Hono's error handler takes only `Error` instances
   * (anything else skipped the access log, the metrics and the JSON error body).
   */
  link(signal: AbortSignal | undefined, reason?: () => Error): void {
    if (signal === undefined) return;
    const onAbort = () => this.abort(reason?.() ?? asError(signal.reason));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    this.#detachers.push(() => signal.removeEventListener("abort", onAbort));
  }

  /** Unlinks the long-lived signals (the server's shutdown), so that a finished request leaves no listener behind. Idempotent. */
  detach(): void {
    for (const detach of this.#detachers.splice(0)) detach();
  }

  /**
   * The error to answer the request with: the abort reason when the server ended the request (a `MoestroError`, such
   * as the shutdown's `server_shutting_down`), whatever `error` the ended work threw (an engine may throw its own abort
   * error); else `error`. Without `error`: the server's error, or `undefined` when the server did not end the request.
   */
  errorFor(error?: unknown): unknown {
    const reason: unknown = this.signal.aborted ? this.signal.reason : undefined;
    return reason instanceof MoestroError ? reason : error;
  }
}

/** `reason` when it is an `Error`, else a `DOMException` `AbortError` whose message is `reason` when it is a string. */
function asError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new DOMException(typeof reason === "string" ? reason : "The request was aborted.", "AbortError");
}

/**
 * An abort controller for the request: it aborts when the client's connection closes (the Node adapter aborts the
 * request's signal then), when the server's shutdown grace period ends (reason: 503 `server_shutting_down`, retry
 * after 5 s), or when the route calls `abort()` (a streaming client went away). The route must call `detach()` when
 * the request ends.
 */
export function requestSignal(c: Context<AppEnv>, deps: AppDeps): RequestAbortController {
  const controller = new RequestAbortController();
  controller.link(c.req.raw.signal);
  controller.link(deps.shutdownSignal, serverShuttingDownError);
  return controller;
}

/** The error a request gets when the server's shutdown ended it: 503 `server_shutting_down`, retry after 5 s. */
function serverShuttingDownError(): MoestroError {
  return new MoestroError(
    "server_shutting_down",
    "The server is shutting down and ended this request; retry on another instance or after restart.",
    { retryAfterSeconds: 5 },
  );
}
