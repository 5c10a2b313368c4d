import type { Context } from "hono";
import { parseOllamaGenerateRequest, parseOllamaKeepAliveMs, toOllamaGenerateRequest } from "../../../dialects/ollama/convert-request.js";
import type { AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { respondLoadIdiom, respondOllamaGeneration } from "./generation.js";
import type { OllamaContext } from "./ollama-context.js";

/**
 * `POST /api/generate` (Ollama docs/api.md "Generate a completion"): the prompt as one user turn of the model's chat
 * template (with `system`), or completed as it is with `raw: true`; streamed as NDJSON unless `stream: false`; no
 * prompt loads or unloads the model (case D17). No `context` is returned (the field is optional). Metered as
 * `ollama.generate`.
 */
export function createOllamaGenerateHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const startedAtMs = performance.now();
    const request = parseOllamaGenerateRequest(await readJsonBody(c));
    const keepAliveMs = parseOllamaKeepAliveMs(request.keep_alive);
    const { id: modelId, sent: sentModel } = await context.resolveModelAsSent(request.model);
    if ((request.prompt ?? "").length === 0 && !request.suffix) {
      return await respondLoadIdiom(c, context, { shape: "generate", modelName: request.model, modelId, keepAliveMs });
    }
    return await respondOllamaGeneration(c, context, {
      shape: "generate",
      modelName: request.model,
      modelId,
      sentModel,
      request: toOllamaGenerateRequest(request),
      keepAliveMs,
      stream: request.stream ?? true,
      endpoint: "ollama.generate",
      startedAtMs,
    });
  };
}
