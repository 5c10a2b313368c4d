import type { Context } from "hono";
import type { Logger } from "pino";
import { MoestroError } from "../errors/index.js";
import type { WireError } from "../dialects/openai/wire.js";

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

/** Answers `error` as an OpenAI error response, logging unexpected errors with their cause. */
export function respondWithError(c: Context, error: unknown, logger: Logger): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "unknown";
  const { status, body, retryAfterSeconds } = toWireError(error, requestId);
  if (status >= 500 && !(error instanceof MoestroError)) logger.error({ err: error, requestId }, "request failed");
  const headers: Record<string, string> = {};
  if (retryAfterSeconds !== undefined) headers["Retry-After"] = String(retryAfterSeconds);
  return c.json(body, status as 400, headers);
}
