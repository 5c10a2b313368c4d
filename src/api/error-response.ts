import type { Context } from "hono";
import type { Logger } from "pino";
import { MoestroError } from "../errors/index.js";
import type { WireError } from "../dialects/openai/wire.js";
import { toAnthropicError } from "../dialects/anthropic/errors.js";
import { toOllamaError } from "../dialects/ollama/errors.js";

/**
 * The OpenAI error body for `error`. A `MoestroError` is sent as it is; anything else is an internal error whose
 * message is generic and carries the request id (the cause is logged, never sent).
 */
export function toWireError(error: unknown, requestId: string): { status: number; body: WireError; retryAfterSeconds?: number } {
  if (error instanceof MoestroError) {
    return {
      status: error.status,
      body: { error: { message: error.message, type: error.type, param: error.param, code: error.code } },
      retryAfterSeconds: error.retryAfterSeconds,
    };
  }
  return {
    status: 500,
    body: {
      error: {
        message: `The server had an error while processing your request (request id ${requestId}).`,
        type: "server_error",
        param: null,
        code: "internal_error",
      },
    },
  };
}

/**
 * The API dialect whose error shape a path answers in: `anthropic` for `/v1/messages` and below, `ollama` for `/api`
 * and below (and every path of the Ollama port, see `serveOllamaPort`), `openai` for everything else (the Responses API
 * included: it is OpenAI's).
 */
export type ErrorDialect = "openai" | "anthropic" | "ollama";

/** The dialect of `path` (see {@link ErrorDialect}); unknown routes answer in the shape of the API their path belongs to. */
export function errorDialectOf(path: string): ErrorDialect {
  if (path === "/v1/messages" || path.startsWith("/v1/messages/")) return "anthropic";
  if (path === "/api" || path.startsWith("/api/")) return "ollama";
  return "openai";
}

/**
 * `error` as the dialect answers it: its status and body (OpenAI's `{"error": {…}}`, Anthropic's `{"type": "error",
 * "error": {…}}`, Ollama's `{"error": "…"}`), and the `Retry-After` seconds when a retry may succeed.
 */
export function dialectError(
  dialect: ErrorDialect,
  error: unknown,
  requestId: string,
): { status: number; body: object; retryAfterSeconds?: number } {
  const wire = toWireError(error, requestId);
  switch (dialect) {
    case "openai":
      return wire;
    case "anthropic":
      return { ...toAnthropicError(wire.status, wire.body, requestId), retryAfterSeconds: wire.retryAfterSeconds };
    case "ollama":
      return { ...toOllamaError(wire.status, wire.body), retryAfterSeconds: wire.retryAfterSeconds };
    default:
      return dialect satisfies never;
  }
}

/**
 * Answers `error` in the error shape of the request's dialect ({@link errorDialectOf} of its path, unless the request
 * set the `errorDialect` variable: the Ollama port answers every path in Ollama's shape), logging unexpected errors
 * with their cause.
 */
export function respondWithError(c: Context, error: unknown, logger: Logger): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "unknown";
  const dialect = (c.get("errorDialect") as ErrorDialect | undefined) ?? errorDialectOf(c.req.path);
  const { status, body, retryAfterSeconds } = dialectError(dialect, error, requestId);
  if (status >= 500 && !(error instanceof MoestroError)) logger.error({ err: error, requestId }, "request failed");
  const headers: Record<string, string> = {};
  if (retryAfterSeconds !== undefined) headers["Retry-After"] = String(retryAfterSeconds);
  return c.json(body, status as 400, headers);
}
