import type { ErrorDialect } from "../../error-response.js";

/** What Ollama answers at `/` (`GET` and `HEAD`), the probe its clients and tools use to find a server. */
export const ollamaRootText = "Ollama is running";

/** A fetch handler, as `@hono/node-server` calls it (`env` holds Node's request and response). */
type FetchHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/**
 * The handler of the Ollama port (`--ollama-port`): the same app as the main port, except that `GET /` and `HEAD /`
 * answer `Ollama is running` (text/plain, 200) as Ollama does (case D10), and every error outside `/v1` answers in
 * Ollama's shape `{"error": "…"}`, whatever the path (the app reads `errorDialect` from `env`, see `createApp`). Under
 * `/v1` errors keep the shape of the API the path speaks (OpenAI's, Anthropic's on `/v1/messages`), as Ollama's own
 * OpenAI-compatible endpoints answer OpenAI's envelope: the `openai` client pointed at Ollama's port reads `code` and
 * `type` from it. Model names on `/v1` are read by Ollama's rules there (the `ollamaNames` env, see `servedModelName`):
 * without case, `:latest` dropped, `hf.co/…` names.
 */
export function createOllamaPortFetch(fetch: FetchHandler): FetchHandler {
  const errorDialect: ErrorDialect = "ollama";
  return (request, env) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/" && (request.method === "GET" || request.method === "HEAD")) {
      return new Response(request.method === "HEAD" ? null : ollamaRootText, {
        status: 200,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    // Model names are read by Ollama's rules on every path (`servedModelName` on `/v1`).
    const ollamaNames = true;
    if (pathname === "/v1" || pathname.startsWith("/v1/")) return fetch(request, Object.assign(env ?? {}, { ollamaNames }));
    return fetch(request, Object.assign(env ?? {}, { errorDialect, ollamaNames }));
  };
}
