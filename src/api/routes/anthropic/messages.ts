import { Hono, type Context } from "hono";
import {
  anthropicSchemaParams,
  parseCountTokensRequest,
  parseMessagesRequest,
  toMessagesGenerateRequest,
  type ConvertedMessagesRequest,
} from "../../../dialects/anthropic/convert-request.js";
import { toWireContent, toWireStop, toWireUsage } from "../../../dialects/anthropic/convert-response.js";
import { createThinkingSigner, type ThinkingSigner } from "../../../dialects/anthropic/thinking-signature.js";
import type { WireMessage, WireTokenCount } from "../../../dialects/anthropic/wire.js";
import { createRandomId } from "../../../util/random-id.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { dialectError } from "../../error-response.js";
import { readJsonBody } from "../../serving/json-body.js";
import { namedEventSse, respondCollected, streamResponse, type StreamFormat } from "../../serving/respond.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { servedModelName } from "../../serving/served-model-name.js";
import { countPromptTokens, startGenerationClamped } from "../../serving/start-generation.js";
import { createMessageStreamEncoder } from "./message-stream.js";

/**
 * Anthropic's stream framing: SSE events named by their `type`; a failure after the first byte is an `event: error`
 * with Anthropic's error body (Streaming Messages, "Error events"), and an idle stream gets Anthropic's `ping` event.
 */
const anthropicSse: StreamFormat = namedEventSse(
  (error, requestId) => dialectError("anthropic", error, requestId).body as { type: string },
  `event: ping\ndata: {"type":"ping"}\n\n`,
);

/**
 * Anthropic's Messages API under `/v1/messages` (Anthropic API reference: "Messages", "Count Message tokens"):
 * `POST /v1/messages`, streamed or not, and `POST /v1/messages/count_tokens`. Query strings (`?beta=true`, sent by
 * Claude Code) and the `anthropic-version` and `anthropic-beta` headers are accepted and not read: moestro speaks one
 * version of the API. Errors answer in Anthropic's shape (`error-response.ts` picks it from the path).
 *
 * Each server start draws the secret that signs the `thinking` blocks it returns (`ThinkingSigner`).
 *
 * @param signer signs and checks thinking blocks. Defaults to a new signer with a random secret.
 */
export function createMessagesRoutes(
  deps: AppDeps,
  validator: SchemaValidator,
  signer: ThinkingSigner = createThinkingSigner(),
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post("/", (c) => handleMessages(c, deps, validator, signer));
  routes.post("/count_tokens", (c) => handleCountTokens(c, deps, validator, signer));
  return routes;
}

/** Logs what the converter dropped, so that an operator can see why a tool or a thought did not reach the model. */
function logDropped(c: Context<AppEnv>, deps: AppDeps, converted: ConvertedMessagesRequest): void {
  const { droppedTools, thinkingBlocks } = converted;
  if (droppedTools.length === 0 && thinkingBlocks.signed + thinkingBlocks.foreign === 0) return;
  deps.logger.debug({ requestId: c.get("requestId"), droppedTools, thinkingBlocks }, "anthropic request: dropped tools and thoughts");
}

/**
 * `POST /v1/messages`: admits the generation through `startGeneration` (metered as `messages`, limited and budgeted as
 * chat completions are) and answers a `message` body or its event stream.
 */
async function handleMessages(c: Context<AppEnv>, deps: AppDeps, validator: SchemaValidator, signer: ThinkingSigner): Promise<Response> {
  const request = parseMessagesRequest(await readJsonBody(c));
  const converted = toMessagesGenerateRequest(request, signer.verify);
  logDropped(c, deps, converted);
  const { generation, clampedToContext } = await startGenerationClamped(c, deps, {
    model: request.model,
    request: converted.request,
    n: 1,
    validator,
    schemaParams: anthropicSchemaParams(converted.toolIndexes),
    endpoint: "messages",
    stream: request.stream === true,
  });
  const id = createRandomId("msg_");
  const model = generation.backend.info.id;
  const stopSequences = converted.request.stop;
  const thinking = request.thinking;
  const omitThinking = (thinking?.type === "enabled" || thinking?.type === "adaptive") && thinking.display === "omitted";

  if (request.stream !== true) {
    return await respondCollected(c, generation, (choices, usage): WireMessage => {
      // No choice when the client left before the end (nobody reads this body then).
      const choice = choices[0] ?? { text: "", reasoning: "", toolCalls: [], finishReason: "abort" as const, stopSequence: undefined };
      return {
        id,
        type: "message",
        role: "assistant",
        model,
        content: toWireContent(choice, signer.sign, omitThinking),
        ...toWireStop(choice.finishReason, choice.stopSequence, stopSequences, clampedToContext),
        usage: toWireUsage(usage),
      };
    });
  }
  return streamResponse(
    c,
    deps,
    generation,
    createMessageStreamEncoder({
      id,
      model,
      stopSequences,
      sign: signer.sign,
      omitThinking,
      clampedToContext,
      promptTokens: generation.parts.promptTokens,
    }),
    anthropicSse,
  );
}

/**
 * `POST /v1/messages/count_tokens`: the prompt's tokens as the model would see them (its chat template, the system
 * prompt, the tools and the thinking switch included), `{"input_tokens": N}`. It runs no generation, so it is not
 * metered; it holds the model (loading it if needed) while it counts.
 */
async function handleCountTokens(c: Context<AppEnv>, deps: AppDeps, validator: SchemaValidator, signer: ThinkingSigner): Promise<Response> {
  const request = parseCountTokensRequest(await readJsonBody(c));
  const converted = toMessagesGenerateRequest(request, signer.verify);
  validator.checkRequest(converted.request, anthropicSchemaParams(converted.toolIndexes));
  const lease = await deps.models.acquire(await servedModelName(c, deps, request.model));
  try {
    const body: WireTokenCount = { input_tokens: await countPromptTokens(lease.backend, converted.request) };
    return c.json(body);
  } finally {
    lease.release();
  }
}
