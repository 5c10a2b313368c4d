import type { Context } from "hono";
import { stream } from "hono/streaming";
import { parseCompletionRequest, toCompletionGenerateRequest } from "../../openai/convert-request.js";
import { sumUsage, toWireFinishReason, toWireUsage } from "../../openai/convert-response.js";
import type { WireCompletion } from "../../openai/wire.js";
import type { Usage } from "../../spec/index.js";
import { formatSseData, sseHeaders } from "../../util/sse.js";
import { systemFingerprint, type AppDeps, type AppEnv } from "../app-env.js";
import { readJsonBody } from "../error-response.js";
import { collectChoices, createResponseId, startChoices } from "../generation.js";
import { writeStreamError } from "./chat-completions.js";
import { findModel, requestSignal } from "./shared.js";

/** `POST /v1/completions` (OpenAI API reference: Completions, create; legacy text completion), streaming and not. */
export function createCompletionsHandler(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseCompletionRequest(await readJsonBody(c));
    const backend = findModel(deps.models, request.model);
    const signal = requestSignal(c);
    const parts = await startChoices(backend, toCompletionGenerateRequest(request, signal.signal), request.n ?? 1);
    const id = createResponseId("cmpl-");
    const created = Math.floor(now() / 1000);
    const model = backend.info.id;
    const body = (choices: WireCompletion["choices"], usage?: Usage | null): WireCompletion => {
      const result: WireCompletion = { id, object: "text_completion", created, model, system_fingerprint: systemFingerprint, choices };
      if (usage !== undefined) result.usage = usage === null ? null : toWireUsage(usage);
      return result;
    };

    if (!request.stream) {
      const choices = await collectChoices(parts);
      return c.json(
        body(
          choices.map((choice) => ({ index: choice.index, text: choice.text, logprobs: null, finish_reason: toWireFinishReason(choice.finishReason) })),
          sumUsage(choices.map((choice) => choice.usage)),
        ),
      );
    }

    const includeUsage = request.stream_options?.include_usage === true;
    for (const [name, value] of Object.entries(sseHeaders)) c.header(name, value);
    return stream(c, async (output) => {
      output.onAbort(() => signal.abort());
      const usages: Usage[] = [];
      const usageField = includeUsage ? null : undefined;
      try {
        for await (const part of parts) {
          if (part.type === "text-delta") {
            await output.write(formatSseData(body([{ index: part.index, text: part.text, logprobs: null, finish_reason: null }], usageField)));
          } else {
            usages.push(part.usage);
            if (part.finishReason === "abort") return;
            await output.write(
              formatSseData(body([{ index: part.index, text: "", logprobs: null, finish_reason: toWireFinishReason(part.finishReason) }], usageField)),
            );
          }
        }
        if (includeUsage) await output.write(formatSseData(body([], sumUsage(usages))));
        await output.write(formatSseData("[DONE]"));
      } catch (error) {
        await writeStreamError(output, error, c, deps);
      } finally {
        await parts.return(undefined);
      }
    });
  };
}
