import type { Context } from "hono";
import { parseChatCompletionRequest, toChatGenerateRequest } from "../../openai/convert-request.js";
import { sumUsage, toWireFinishReason, toWireUsage } from "../../openai/convert-response.js";
import type { WireChatCompletion, WireChatCompletionChunk } from "../../openai/wire.js";
import type { Usage } from "../../spec/index.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../app-env.js";
import { readJsonBody } from "../error-response.js";
import { createResponseId, startChoices } from "../generation.js";
import { RequestMeter } from "../request-meter.js";
import { collectResponse, streamResponse } from "../respond.js";
import { findModel, requestSignal } from "./shared.js";

/** `POST /v1/chat/completions` (OpenAI API reference: Chat Completions, create), streaming and not. */
export function createChatCompletionsHandler(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseChatCompletionRequest(await readJsonBody(c));
    const backend = findModel(deps.models, request.model);
    const abort = requestSignal(c);
    const generateRequest = toChatGenerateRequest(request, abort.signal);
    const parts = await startChoices(backend, generateRequest, request.n ?? 1);
    const model = backend.info.id;
    const meter = new RequestMeter(deps, c, { model, endpoint: "chat.completions", stream: request.stream === true });
    const id = createResponseId("chatcmpl-");
    const created = Math.floor(now() / 1000);

    if (!request.stream) {
      const choices = await collectResponse(parts, meter, abort.signal);
      const body: WireChatCompletion = {
        id,
        object: "chat.completion",
        created,
        model,
        system_fingerprint: systemFingerprint,
        choices: choices.map((choice) => ({
          index: choice.index,
          message: { role: "assistant", content: choice.text, refusal: null },
          logprobs: null,
          finish_reason: toWireFinishReason(choice.finishReason),
        })),
        usage: toWireUsage(sumUsage(choices.map((choice) => choice.usage))),
      };
      return c.json(body);
    }

    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choices: WireChatCompletionChunk["choices"], usage?: Usage): WireChatCompletionChunk => {
      const body: WireChatCompletionChunk = { id, object: "chat.completion.chunk", created, model, system_fingerprint: systemFingerprint, choices };
      if (includeUsage) body.usage = usage === undefined ? null : toWireUsage(usage);
      return body;
    };
    return streamResponse(c, deps, parts, meter, abort, {
      encode: (part, isFirstOfChoice) => {
        const payloads: WireChatCompletionChunk[] = [];
        if (isFirstOfChoice) payloads.push(chunk([{ index: part.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
        if (part.type === "text-delta") {
          payloads.push(chunk([{ index: part.index, delta: { content: part.text }, logprobs: null, finish_reason: null }]));
        } else {
          payloads.push(chunk([{ index: part.index, delta: {}, logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }]));
        }
        return payloads;
      },
      end: (usages) => (includeUsage ? [chunk([], sumUsage(usages))] : []),
    });
  };
}
