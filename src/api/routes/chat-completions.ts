import type { Context } from "hono";
import { stream } from "hono/streaming";
import { MoestroError } from "../../errors/index.js";
import { sumUsage, toWireFinishReason, toWireUsage } from "../../openai/convert-response.js";
import { parseChatCompletionRequest, toChatGenerateRequest } from "../../openai/convert-request.js";
import type { WireChatCompletion, WireChatCompletionChunk } from "../../openai/wire.js";
import type { Usage } from "../../spec/index.js";
import { formatSseData, sseHeaders } from "../../util/sse.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../app-env.js";
import { readJsonBody, toWireError } from "../error-response.js";
import { collectChoices, createResponseId, startChoices } from "../generation.js";
import { findModel, requestSignal } from "./shared.js";

/** `POST /v1/chat/completions` (OpenAI API reference: Chat Completions, create), streaming and not. */
export function createChatCompletionsHandler(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseChatCompletionRequest(await readJsonBody(c));
    const backend = findModel(deps.models, request.model);
    const signal = requestSignal(c);
    const generateRequest = toChatGenerateRequest(request, signal.signal);
    const n = request.n ?? 1;
    const parts = await startChoices(backend, generateRequest, n);
    const id = createResponseId("chatcmpl-");
    const created = Math.floor(now() / 1000);
    const model = backend.info.id;

    if (!request.stream) {
      const choices = await collectChoices(parts);
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
    const chunk = (choices: WireChatCompletionChunk["choices"], usage?: Usage): string => {
      const body: WireChatCompletionChunk = { id, object: "chat.completion.chunk", created, model, system_fingerprint: systemFingerprint, choices };
      if (includeUsage) body.usage = usage === undefined ? null : toWireUsage(usage);
      return formatSseData(body);
    };
    for (const [name, value] of Object.entries(sseHeaders)) c.header(name, value);
    return stream(c, async (output) => {
      output.onAbort(() => signal.abort());
      const usages: Usage[] = [];
      let opened = -1;
      try {
        for await (const part of parts) {
          if (part.index > opened) {
            opened = part.index;
            await output.write(chunk([{ index: part.index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
          }
          if (part.type === "text-delta") {
            await output.write(chunk([{ index: part.index, delta: { content: part.text }, logprobs: null, finish_reason: null }]));
          } else {
            usages.push(part.usage);
            if (part.finishReason === "abort") return;
            await output.write(chunk([{ index: part.index, delta: {}, logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }]));
          }
        }
        if (includeUsage) await output.write(chunk([], sumUsage(usages)));
        await output.write(formatSseData("[DONE]"));
      } catch (error) {
        await writeStreamError(output, error, c, deps);
      } finally {
        await parts.return(undefined);
      }
    });
  };
}

/** Sends a failure after streaming began as one `data: {"error": …}` event; the stream then closes without `[DONE]`. */
export async function writeStreamError(output: { write(text: string): Promise<unknown>; aborted: boolean }, error: unknown, c: Context<AppEnv>, deps: AppDeps): Promise<void> {
  const requestId = c.get("requestId");
  if (!(error instanceof MoestroError)) deps.logger.error({ err: error, requestId }, "stream failed");
  if (output.aborted) return;
  await output.write(formatSseData(toWireError(error, requestId).body));
}
