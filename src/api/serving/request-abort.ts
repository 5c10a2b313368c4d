import { ServerResponse } from "node:http";
import type { Context } from "hono";
import { MoestroError } from "../../errors/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";

/**
 * An abort controller for one request, linked to the client's connection and the server's shutdown. Its reason says
 * who ended the request: 499 `client_closed_request` when the client's connection closed, 503 `server_shutting_down`
 * when the server's shutdown did, another `Error` when the route aborted it (a streaming client went away).
 */
export class RequestAbortController extends AbortController {
  readonly #detachers: Array<() => void> = [];

  /**
   * @internal Links `signal` to this controller until `detach`: when it aborts, this aborts with `reason()`. The
   * reason is always an `Error` of ours, whatever `signal`'s own: @hono/node-server aborts a request's signal with a
   * string, which the engine and the scheduler would throw as it is, and Hono's error handler takes only `Error`
   * instances (a string skipped the access log, the metrics and the JSON error body).
   */
  link(signal: AbortSignal | undefined, reason: () => Error): void {
    if (signal === undefined) return;
    const onAbort = () => this.abort(reason());
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    this.#detachers.push(() => signal.removeEventListener("abort", onAbort));
  }

  /**
   * @internal Aborts this with `reason()` when the Node response `outgoing` closes before its end was written (the
   * client's connection closed), until `detach`: what @hono/node-server's request signal tells, without the
   * `AbortController` that the adapter makes for each request whose `signal` is read.
   */
  linkResponse(outgoing: ServerResponse, reason: () => Error): void {
    const onClose = () => {
      if (!outgoing.writableFinished) this.abort(reason());
    };
    if (outgoing.destroyed) {
      onClose();
      return;
    }
    outgoing.once("close", onClose);
    this.#detachers.push(() => outgoing.off("close", onClose));
  }

  /** Unlinks the long-lived signals (the server's shutdown), so that a finished request leaves no listener behind. Idempotent. */
  detach(): void {
    for (const detach of this.#detachers.splice(0)) detach();
  }

  /**
   * The error to answer the request with: the abort reason when it is a `MoestroError` (the client closed its
   * connection, or the server's shutdown ended the request), whatever `error` the ended work threw (an engine may
   * throw its own abort error); else `error`. Without `error`: that reason, or `undefined`.
   */
  errorFor(error?: unknown): unknown {
    const reason: unknown = this.signal.aborted ? this.signal.reason : undefined;
    return reason instanceof MoestroError ? reason : error;
  }
}

/**
 * An abort controller for the request: it aborts when the client's connection closes (the Node adapter aborts the
 * request's signal then), when the server's shutdown grace period ends (reason: 503 `server_shutting_down`, retry
 * after 5 s), or when the route calls `abort()` (a streaming client went away). The route must call `detach()` when
 * the request ends.
 */
export function requestSignal(c: Context<AppEnv>, deps: AppDeps): RequestAbortController {
  const controller = new RequestAbortController();
  // Under @hono/node-server, the response's close says that the client went away; elsewhere (`app.request` in tests,
  // a batch line), the request's signal.
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  if (outgoing instanceof ServerResponse) controller.linkResponse(outgoing, clientClosedError);
  else controller.link(c.req.raw.signal, clientClosedError);
  controller.link(deps.shutdownSignal, serverShuttingDownError);
  return controller;
}

/** What a request whose client closed its connection ends with: 499 `client_closed_request` (logs and metrics only). */
function clientClosedError(): MoestroError {
  return new MoestroError("client_closed_request", "The client closed its connection before the answer.");
}

/** The error a request gets when the server's shutdown ended it: 503 `server_shutting_down`, retry after 5 s. */
function serverShuttingDownError(): MoestroError {
  return new MoestroError(
    "server_shutting_down",
    "The server is shutting down and ended this request; retry on another instance or after restart.",
    { retryAfterSeconds: 5 },
  );
}
