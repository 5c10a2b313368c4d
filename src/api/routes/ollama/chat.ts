import type { Context } from "hono";
import { parseOllamaChatRequest, parseOllamaKeepAliveMs, toOllamaChatGenerateRequest } from "../../../dialects/ollama/convert-request.js";
import type { AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { respondLoadIdiom, respondOllamaGeneration } from "./generation.js";
import type { OllamaContext } from "./ollama-context.js";

/**
 * `POST /api/chat` (Ollama docs/api.md "Generate a chat completion"): streamed as NDJSON unless `stream: false`, with
 * `think`, `format`, `options`, `tools` and `keep_alive`; no messages loads or unloads the model (case D17). Metered
 * as `ollama.chat`.
 */
export function createOllamaChatHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const startedAtMs = performance.now();
    const request = parseOllamaChatRequest(await readJsonBody(c));
    const keepAliveMs = parseOllamaKeepAliveMs(request.keep_alive);
    const { id: modelId, sent: sentModel } = await context.resolveModelAsSent(request.model);
    if ((request.messages ?? []).length === 0) {
      return await respondLoadIdiom(c, context, { shape: "chat", modelName: request.model, modelId, keepAliveMs });
    }
    return await respondOllamaGeneration(c, context, {
      shape: "chat",
      modelName: request.model,
      modelId,
      sentModel,
      request: toOllamaChatGenerateRequest(request),
      keepAliveMs,
      stream: request.stream ?? true,
      endpoint: "ollama.chat",
      startedAtMs,
    });
  };
}
