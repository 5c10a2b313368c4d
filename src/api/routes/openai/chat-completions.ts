import type { Context } from "hono";
import {
  chatOptionRefusedLocally,
  parseChatCompletionRequest,
  passthroughFields,
  toChatGenerateRequest,
} from "../../../dialects/openai/convert-request.js";
import { chatCompletionRequestSchema } from "../../../dialects/openai/schemas.js";
import { toWireFinishReason, toWireLogprobs, toWireToolCall, toWireUsage } from "../../../dialects/openai/convert-response.js";
import type { WireChatCompletion, WireChatCompletionChunk } from "../../../dialects/openai/wire.js";
import type { Usage } from "../../../spec/index.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { respondCollected, streamResponse } from "../../serving/respond.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { chunkEnvelope } from "../../serving/chunk-envelope.js";
import { startOpenAiGeneration } from "./start-openai-generation.js";

/**
 * `POST /v1/chat/completions` (OpenAI API reference: Chat Completions, create), streaming and not, with Qwen thinking
 * (`reasoning_content`), tool calls, structured output and logprobs. Structured answers and tool calls are checked
 * against their schemas by the serving layer (`startGeneration`), not here.
 */
export function createChatCompletionsHandler(deps: AppDeps, validator: SchemaValidator) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const body = await readJsonBody(c);
    const request = parseChatCompletionRequest(body);
    const generateRequest = toChatGenerateRequest(request);
    // Fields moestro does not read reach an upstream as they are (docs/gateway.md); local engines ignore them.
    const passthrough = passthroughFields(body, chatCompletionRequestSchema);
    if (passthrough !== undefined) generateRequest.passthrough = passthrough;
    // Options only an upstream can honour (audio, predicted outputs…): refused when a local engine serves the model.
    const refusedLocally = chatOptionRefusedLocally(body);
    if (refusedLocally !== undefined) generateRequest.refusedLocally = refusedLocally;
    const { generation, id, created } = await startOpenAiGeneration(c, deps, {
      request,
      generateRequest,
      validator,
      endpoint: "chat.completions",
      idPrefix: "chatcmpl-",
    });
    // The id of the model that generates (an alias resolved).
    const model = generation.backend.info.id;
    const wantsLogprobs = generateRequest.logprobs !== undefined;

    if (!request.stream) {
      return await respondCollected(
        c,
        generation,
        (choices, usage): WireChatCompletion => ({
          id,
          object: "chat.completion",
          created,
          model,
          system_fingerprint: systemFingerprint,
          choices: choices.map((choice) => {
            const message: WireChatCompletion["choices"][number]["message"] = {
              role: "assistant",
              content: choice.toolCalls.length > 0 && choice.text.length === 0 ? null : choice.text,
              refusal: null,
            };
            if (choice.reasoning.length > 0) {
              message.reasoning_content = choice.reasoning;
              message.reasoning = choice.reasoning;
            }
            if (choice.toolCalls.length > 0) message.tool_calls = choice.toolCalls.map(toWireToolCall);
            return {
              index: choice.index,
              message,
              logprobs: wantsLogprobs ? { content: toWireLogprobs(choice.logprobs ?? []), refusal: null } : null,
              finish_reason: toWireFinishReason(choice.finishReason),
            };
          }),
          usage: toWireUsage(usage),
        }),
      );
    }

    const includeUsage = request.stream_options?.include_usage === true;
    /** A chunk; with `include_usage`, every chunk carries `usage`, null except on the last, choice-less one. */
    const chunkOf = (choices: WireChatCompletionChunk["choices"], usage?: Usage): WireChatCompletionChunk => {
      const body: WireChatCompletionChunk = {
        id,
        object: "chat.completion.chunk",
        created,
        model,
        system_fingerprint: systemFingerprint,
        choices,
      };
      if (includeUsage) body.usage = usage === undefined ? null : toWireUsage(usage);
      return body;
    };
    const chunk = (choice: WireChatCompletionChunk["choices"][number]): WireChatCompletionChunk => chunkOf([choice]);
    // A delta's chunk as JSON text, its envelope (id, created, model… the same in every chunk) rendered once: a token
    // costs one JSON.stringify of its text, not of the whole chunk (docs/gateway.md, "What was cut"). The text is the
    // chunk's JSON.stringify, byte for byte (openAiSse frames a string payload as it is).
    const { prefix, suffix } = chunkEnvelope(chunkOf([]));
    const deltaChunk = (index: number, delta: string): string =>
      `${prefix}{"index":${index},"delta":{${delta}},"logprobs":null,"finish_reason":null}${suffix}`;
    const toolCallCounts = new Map<number, number>();
    return streamResponse(c, deps, generation, {
      encode: (part, isFirstOfChoice) => {
        const { index } = part;
        const payloads: Array<WireChatCompletionChunk | string> = [];
        if (isFirstOfChoice)
          payloads.push(chunk({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }));
        switch (part.type) {
          case "text-delta":
            payloads.push(
              part.logprobs
                ? chunk({
                    index,
                    delta: { content: part.text },
                    logprobs: { content: toWireLogprobs(part.logprobs), refusal: null },
                    finish_reason: null,
                  })
                : deltaChunk(index, `"content":${JSON.stringify(part.text)}`),
            );
            break;
          case "reasoning-delta": {
            const text = JSON.stringify(part.text);
            payloads.push(deltaChunk(index, `"reasoning_content":${text},"reasoning":${text}`));
            break;
          }
          case "tool-call": {
            const callIndex = toolCallCounts.get(index) ?? 0;
            toolCallCounts.set(index, callIndex + 1);
            const { toolCall } = part;
            payloads.push(
              chunk({
                index,
                delta: {
                  tool_calls: [{ index: callIndex, id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: "" } }],
                },
                logprobs: null,
                finish_reason: null,
              }),
              chunk({
                index,
                delta: { tool_calls: [{ index: callIndex, function: { arguments: toolCall.arguments } }] },
                logprobs: null,
                finish_reason: null,
              }),
            );
            break;
          }
          case "finish":
            payloads.push(chunk({ index, delta: {}, logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }));
            break;
          default:
            part satisfies never;
        }
        return payloads;
      },
      end: (usage) => (includeUsage ? [chunkOf([], usage)] : []),
    });
  };
}
