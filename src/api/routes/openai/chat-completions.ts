import type { Context } from "hono";
import { parseChatCompletionRequest, parseKeepAliveMs, toChatGenerateRequest } from "../../../dialects/openai/convert-request.js";
import { sumUsage, toWireFinishReason, toWireLogprobs, toWireToolCall, toWireUsage } from "../../../dialects/openai/convert-response.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import type { WireChatCompletion, WireChatCompletionChunk } from "../../../dialects/openai/wire.js";
import type { GenerateRequest, ToolCall, Usage } from "../../../spec/index.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../error-response.js";
import { createRandomId } from "../../../util/random-id.js";
import { collectResponse, streamResponse } from "../../serving/respond.js";
import { startGeneration } from "../../serving/start-generation.js";

/**
 * `POST /v1/chat/completions` (OpenAI API reference: Chat Completions, create), streaming and not, with Qwen thinking
 * (`reasoning_content`), tool calls, structured output and logprobs.
 */
export function createChatCompletionsHandler(deps: AppDeps, validator: SchemaValidator) {
  const now = deps.now ?? Date.now;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseChatCompletionRequest(await readJsonBody(c));
    const generateRequest = toChatGenerateRequest(request);
    const { backend, parts, abort, meter } = await startGeneration(c, deps, {
      model: request.model,
      keepAliveMs: parseKeepAliveMs(request.keep_alive),
      request: generateRequest,
      n: request.n ?? 1,
      endpoint: "chat.completions",
      stream: request.stream === true,
    });
    const model = backend.info.id;
    const id = createRandomId("chatcmpl-");
    const created = Math.floor(now() / 1000);
    const checks = createOutputChecks(generateRequest, validator);
    const wantsLogprobs = generateRequest.logprobs !== undefined;

    if (!request.stream) {
      const choices = await collectResponse(parts, meter, abort.signal, deps.shutdownSignal);
      const body: WireChatCompletion = {
        id,
        object: "chat.completion",
        created,
        model,
        system_fingerprint: systemFingerprint,
        choices: choices.map((choice) => {
          choice.toolCalls.forEach(checks.toolCall);
          if (choice.finishReason === "stop") checks.answer(choice.text);
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
        usage: toWireUsage(sumUsage(choices.map((choice) => choice.usage))),
      };
      return c.json(body);
    }

    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choice: WireChatCompletionChunk["choices"][number], usage?: Usage): WireChatCompletionChunk => {
      const body: WireChatCompletionChunk = {
        id,
        object: "chat.completion.chunk",
        created,
        model,
        system_fingerprint: systemFingerprint,
        choices: [choice],
      };
      if (includeUsage) body.usage = usage === undefined ? null : toWireUsage(usage);
      return body;
    };
    const answers = new Map<number, string>();
    const toolCallCounts = new Map<number, number>();
    return streamResponse(c, deps, parts, meter, abort, {
      encode: (part, isFirstOfChoice) => {
        const { index } = part;
        const payloads: WireChatCompletionChunk[] = [];
        if (isFirstOfChoice)
          payloads.push(chunk({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }));
        switch (part.type) {
          case "text-delta":
            answers.set(index, (answers.get(index) ?? "") + part.text);
            payloads.push(
              chunk({
                index,
                delta: { content: part.text },
                logprobs: part.logprobs ? { content: toWireLogprobs(part.logprobs), refusal: null } : null,
                finish_reason: null,
              }),
            );
            break;
          case "reasoning-delta":
            payloads.push(
              chunk({ index, delta: { reasoning_content: part.text, reasoning: part.text }, logprobs: null, finish_reason: null }),
            );
            break;
          case "tool-call": {
            checks.toolCall(part.toolCall);
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
            if (part.finishReason === "stop") checks.answer(answers.get(index) ?? "");
            payloads.push(chunk({ index, delta: {}, logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }));
            break;
          default:
            part satisfies never;
        }
        return payloads;
      },
      end: (usages) => {
        if (!includeUsage) return [];
        const body: WireChatCompletionChunk = {
          id,
          object: "chat.completion.chunk",
          created,
          model,
          system_fingerprint: systemFingerprint,
          choices: [],
          usage: toWireUsage(sumUsage(usages)),
        };
        return [body];
      },
    });
  };
}

/**
 * Checks on model output before it is returned: a finished structured answer must parse and match its schema, and a
 * tool call's arguments must match its tool's schema (Ajv). The grammars enforce both while decoding; these checks
 * catch what the grammar converter cannot (see `SchemaValidator`).
 */
function createOutputChecks(request: GenerateRequest, validator: SchemaValidator) {
  const format = request.responseFormat;
  const schemas = new Map((request.tools?.definitions ?? []).map((tool) => [tool.name, tool.parameters ?? { type: "object" }]));
  return {
    answer: (text: string): void => {
      if (format?.type === "json_schema") validator.assertJson(text, format.schema, "answer");
      else if (format?.type === "json_object") validator.assertJson(text, { type: "object" }, "answer");
    },
    toolCall: (toolCall: ToolCall): void => {
      const schema = schemas.get(toolCall.name);
      if (schema === undefined) return;
      validator.assertJson(toolCall.arguments, schema, `arguments for '${toolCall.name}'`);
    },
  };
}
