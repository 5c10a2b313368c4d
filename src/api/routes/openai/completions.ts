import type { Context } from "hono";
import { parseCompletionRequest, passthroughFields, toCompletionGenerateRequest } from "../../../dialects/openai/convert-request.js";
import { completionRequestSchema } from "../../../dialects/openai/schemas.js";
import { toWireFinishReason, toWireUsage } from "../../../dialects/openai/convert-response.js";
import type { WireCompletion } from "../../../dialects/openai/wire.js";
import type { Usage } from "../../../spec/index.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { chunkEnvelope } from "../../serving/chunk-envelope.js";
import { respondCollected, streamResponse } from "../../serving/respond.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { startOpenAiGeneration } from "./start-openai-generation.js";

/** `POST /v1/completions` (OpenAI API reference: Completions, create; legacy text completion), streaming and not. */
export function createCompletionsHandler(deps: AppDeps, validator: SchemaValidator) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const rawBody = await readJsonBody(c);
    const request = parseCompletionRequest(rawBody);
    const generateRequest = toCompletionGenerateRequest(request);
    // Fields moestro does not read reach an upstream as they are (docs/gateway.md); local engines ignore them.
    const passthrough = passthroughFields(rawBody, completionRequestSchema);
    if (passthrough !== undefined) generateRequest.passthrough = passthrough;
    const { generation, id, created } = await startOpenAiGeneration(c, deps, {
      request,
      generateRequest,
      validator,
      endpoint: "completions",
      idPrefix: "cmpl-",
    });
    // The id of the model that generates (an alias resolved).
    const model = generation.backend.info.id;
    const includeUsage = request.stream === true && request.stream_options?.include_usage === true;
    const body = (choices: WireCompletion["choices"], usage?: Usage): WireCompletion => {
      const result: WireCompletion = { id, object: "text_completion", created, model, system_fingerprint: systemFingerprint, choices };
      if (usage !== undefined) result.usage = toWireUsage(usage);
      else if (includeUsage) result.usage = null;
      return result;
    };

    if (!request.stream) {
      return await respondCollected(c, generation, (choices, usage) =>
        body(
          choices.map((choice) => ({
            index: choice.index,
            text: choice.text,
            logprobs: null,
            finish_reason: toWireFinishReason(choice.finishReason),
          })),
          usage,
        ),
      );
    }

    // A token's chunk as JSON text, its envelope rendered once (see chunkEnvelope): byte for byte its JSON.stringify.
    const { prefix, suffix } = chunkEnvelope(body([]));
    return streamResponse(c, deps, generation, {
      encode: (part) => {
        if (part.type === "text-delta")
          return [`${prefix}{"index":${part.index},"text":${JSON.stringify(part.text)},"logprobs":null,"finish_reason":null}${suffix}`];
        if (part.type === "finish")
          return [body([{ index: part.index, text: "", logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }])];
        return []; // Completions have no thoughts or tool calls.
      },
      end: (usage) => (includeUsage ? [body([], usage)] : []),
    });
  };
}
