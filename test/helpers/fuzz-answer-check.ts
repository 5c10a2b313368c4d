import { parseSse } from "./server.js";

/**
 * Why a fuzzed request's answer breaks the fuzz test's property (test/e2e/fuzz.test.ts), or `undefined` when it holds:
 * no 5xx; a JSON error in the shape of the route's API (Ollama's under `/api`, Anthropic's under `/v1/messages`,
 * OpenAI's elsewhere); no stream that ends with a server error or without its last event (`message_stop` for
 * Anthropic's, `response.completed` or `response.incomplete` for the Responses API's, `done: true` for Ollama's).
 *
 * @param path the request's path; `status`, `type` (content type) and `text` are the answer's.
 */
export function answerBreaksProperty(path: string, status: number, type: string, text: string): string | undefined {
  if (status >= 500) return `status ${status}: ${text.slice(0, 300)}`;
  if (type.includes("application/json")) {
    let parsed: { error?: Record<string, unknown> };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return `unparsable JSON: ${text.slice(0, 200)}`;
    }
    if (status >= 400 && path.startsWith("/api/")) {
      // Ollama's routes answer in Ollama's shape (docs/ollama.md).
      if (Object.keys(parsed).join() !== "error" || typeof parsed.error !== "string")
        return `error not in Ollama's shape: ${text.slice(0, 200)}`;
    } else if (status >= 400 && path.startsWith("/v1/messages")) {
      // Anthropic's routes answer in Anthropic's shape (docs/anthropic.md).
      const body = parsed as { type?: unknown; error?: { type?: unknown; message?: unknown } };
      if (body.type !== "error" || typeof body.error?.type !== "string" || typeof body.error.message !== "string")
        return `error not in Anthropic's shape: ${text.slice(0, 200)}`;
    } else if (status >= 400) {
      const keys = Object.keys(parsed.error ?? {}).sort();
      if (keys.join() !== "code,message,param,type") return `error not in OpenAI's shape: ${text.slice(0, 200)}`;
    }
  } else if (type.includes("text/event-stream")) {
    const last = parseSse(text).at(-1) as { type?: string; error?: { type?: string; code?: string } } | string | undefined;
    if (typeof last === "object" && last?.error?.type === "server_error") return `stream ended with ${JSON.stringify(last)}`;
    // Anthropic's stream ends with message_stop; an error event after the first byte is never a server failure.
    if (path.startsWith("/v1/messages") && typeof last === "object" && last.type !== "message_stop")
      if (last.type !== "error" || last.error?.type === "api_error") return `Anthropic stream ended with ${JSON.stringify(last)}`;
    // The Responses stream ends with response.completed or response.incomplete; response.failed only on a failure.
    if (path === "/v1/responses" && typeof last === "object" && !["response.completed", "response.incomplete"].includes(last.type ?? ""))
      return `Responses stream ended with ${JSON.stringify(last).slice(0, 300)}`;
  } else if (type.includes("application/x-ndjson")) {
    if (text.includes('"internal_error"')) return `pull ended with ${text.slice(-200)}`;
    // An Ollama generation's stream: its last line is the done:true object, never an error.
    const lastLine = text.trimEnd().split("\n").at(-1) ?? "";
    if (path !== "/v1/moestro/pull" && !lastLine.includes('"done":true')) return `stream ended with ${lastLine.slice(0, 200)}`;
  } else if (status >= 400 && !text.startsWith("The moestro console is not built"))
    // The console's pages are its HTML, or (web/dist not built) a sentence saying how to build it; all else is JSON.
    return `error with content type '${type}': ${text.slice(0, 200)}`;
  return undefined;
}
