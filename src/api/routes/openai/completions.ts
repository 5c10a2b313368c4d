import type { Context } from "hono";
import { parseCompletionRequest, parseKeepAliveMs, toCompletionGenerateRequest } from "../../../dialects/openai/convert-request.js";
import { sumUsage, toWireFinishReason, toWireUsage } from "../../../dialects/openai/convert-response.js";
import type { WireCompletion } from "../../../dialects/openai/wire.js";
import type { Usage } from "../../../spec/index.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../error-response.js";
import { createRandomId } from "../../../util/random-id.js";
import { collectResponse, streamResponse } from "../../serving/respond.js";
import { startGeneration } from "../../serving/start-generation.js";

/** `POST /v1/completions` (OpenAI API reference: Completions, create; legacy text completion), streaming and not. */
export function createCompletionsHandler(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseCompletionRequest(await readJsonBody(c));
    const generateRequest = toCompletionGenerateRequest(request);
    const { backend, parts, abort, meter } = await startGeneration(c, deps, {
      model: request.model,
      keepAliveMs: parseKeepAliveMs(request.keep_alive),
      request: generateRequest,
      n: request.n ?? 1,
      endpoint: "completions",
      stream: request.stream === true,
    });
    const model = backend.info.id;
    const id = createRandomId("cmpl-");
    const created = Math.floor(now() / 1000);
    const includeUsage = request.stream === true && request.stream_options?.include_usage === true;
    const body = (choices: WireCompletion["choices"], usage?: Usage): WireCompletion => {
      const result: WireCompletion = { id, object: "text_completion", created, model, system_fingerprint: systemFingerprint, choices };
      if (usage !== undefined) result.usage = toWireUsage(usage);
      else if (includeUsage) result.usage = null;
      return result;
    };

    if (!request.stream) {
      const choices = await collectResponse(parts, meter, abort.signal, deps.shutdownSignal);
      return c.json(
        body(
          choices.map((choice) => ({
            index: choice.index,
            text: choice.text,
            logprobs: null,
            finish_reason: toWireFinishReason(choice.finishReason),
          })),
          sumUsage(choices.map((choice) => choice.usage)),
        ),
      );
    }

    return streamResponse(c, deps, parts, meter, abort, {
      encode: (part) => {
        if (part.type === "text-delta") return [body([{ index: part.index, text: part.text, logprobs: null, finish_reason: null }])];
        if (part.type === "finish")
          return [body([{ index: part.index, text: "", logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }])];
        return []; // Completions have no thoughts or tool calls.
      },
      end: (usages) => (includeUsage ? [body([], sumUsage(usages))] : []),
    });
  };
}
