import type { Context } from "hono";
import { stream } from "hono/streaming";
import { MoestroError } from "../errors/index.js";
import type { Usage } from "../spec/index.js";
import { formatSseData, sseHeaders } from "../util/sse.js";
import type { AppDeps, AppEnv } from "./app-env.js";
import { toWireError } from "./error-response.js";
import type { ChoicePart, CollectedChoice } from "./generation.js";
import type { RequestMeter } from "./request-meter.js";

/**
 * Runs every choice to the end and collects it, then reports usage; the non-streaming path is the streaming path,
 * collected. On failure or abort the usage produced so far is reported with status `error` or `aborted`.
 */
export async function collectResponse(parts: AsyncGenerator<ChoicePart, void, undefined>, meter: RequestMeter, signal: AbortSignal, shutdownSignal?: AbortSignal): Promise<CollectedChoice[]> {
  const open = new Map<number, Omit<CollectedChoice, "finishReason" | "usage">>();
  const choices: CollectedChoice[] = [];
  try {
    for await (const part of parts) {
      let choice = open.get(part.index);
      if (choice === undefined) {
        choice = { index: part.index, text: "", reasoning: "", toolCalls: [], logprobs: undefined };
        open.set(part.index, choice);
      }
      switch (part.type) {
        case "text-delta":
          meter.markToken();
          choice.text += part.text;
          if (part.logprobs) (choice.logprobs ??= []).push(...part.logprobs);
          break;
        case "reasoning-delta":
          meter.markToken();
          choice.reasoning += part.text;
          break;
        case "tool-call":
          meter.markToken();
          choice.toolCalls.push(part.toolCall);
          break;
        case "finish":
          choices.push({ ...choice, finishReason: part.finishReason, usage: part.usage });
          break;
        default:
          part satisfies never;
      }
    }
    if (signal.aborted) {
      await meter.finish("aborted", choices.map((choice) => choice.usage));
      if (shutdownSignal?.aborted) throw shutdownError();
    } else await meter.finish("ok", choices.map((choice) => choice.usage));
    return choices;
  } catch (error) {
    await meter.finish("error", choices.map((choice) => choice.usage), errorCodeOf(error));
    throw error;
  } finally {
    await parts.return(undefined);
  }
}

/** How a streaming route turns parts into SSE payloads. */
export interface StreamEncoder {
  /** Payloads to send for one part (the first part of a choice may open it with a role chunk). */
  encode(part: ChoicePart, isFirstOfChoice: boolean): unknown[];
  /** Payloads to send after the last choice, before `[DONE]` (the usage chunk when asked for). */
  end(usage: Usage[]): unknown[];
}

/**
 * Streams the choices as server-sent events in OpenAI's format: one `data:` line per event, `data: [DONE]` once at the
 * end, a failure after the first byte as one `data: {"error": …}` event with no `[DONE]` after it, and a `: ping`
 * comment when nothing was sent for `keepAliveMs`. The usage is reported before `[DONE]` is written. A client that goes
 * away aborts the generation (through `abort`), and its usage is reported as `aborted`.
 */
export function streamResponse(
  c: Context<AppEnv>,
  deps: AppDeps,
  parts: AsyncGenerator<ChoicePart, void, undefined>,
  meter: RequestMeter,
  abort: AbortController,
  encoder: StreamEncoder,
): Response {
  for (const [name, value] of Object.entries(sseHeaders)) c.header(name, value);
  const keepAliveMs = deps.sseKeepAliveMs ?? 15_000;
  return stream(c, async (output) => {
    output.onAbort(() => abort.abort());
    const usages: Usage[] = [];
    let lastWriteAt = performance.now();
    // Writes are queued, not awaited one by one: the next token's decode starts while the previous chunk is still on
    // its way to the socket, instead of after it (on 2 cores awaiting each write cost about 0.8 ms per token). The
    // stream's writer keeps them in order; the last one is awaited before the stream ends.
    let queued: Promise<unknown> = Promise.resolve();
    const write = (payload: unknown): void => {
      lastWriteAt = performance.now();
      queued = output.write(formatSseData(payload));
    };
    const keepAlive = setInterval(() => {
      if (performance.now() - lastWriteAt >= keepAliveMs && !output.aborted && !output.closed) {
        lastWriteAt = performance.now();
        void output.write(": ping\n\n");
      }
    }, Math.max(1, Math.min(keepAliveMs, 1000)));
    const opened = new Set<number>();
    try {
      for await (const part of parts) {
        if (part.type === "finish") {
          usages.push(part.usage);
          if (part.finishReason === "abort") break;
        } else meter.markToken();
        const isFirst = !opened.has(part.index);
        opened.add(part.index);
        for (const payload of encoder.encode(part, isFirst)) write(payload);
      }
      if (abort.signal.aborted) {
        await queued;
        await meter.finish("aborted", usages);
        // Ended by the server's shutdown, not by the client: say so, without [DONE].
        if (deps.shutdownSignal?.aborted && !output.aborted) {
          await output.write(formatSseData(toWireError(shutdownError(), c.get("requestId")).body));
        }
        return;
      }
      for (const payload of encoder.end(usages)) write(payload);
      await meter.finish("ok", usages);
      write("[DONE]");
      await queued;
    } catch (error) {
      await meter.finish(abort.signal.aborted ? "aborted" : "error", usages, errorCodeOf(error)).catch(() => undefined);
      const requestId = c.get("requestId");
      if (!(error instanceof MoestroError)) deps.logger.error({ err: error, requestId }, "stream failed");
      await queued;
      if (!output.aborted) await output.write(formatSseData(toWireError(error, requestId).body));
    } finally {
      clearInterval(keepAlive);
      await parts.return(undefined);
    }
  });
}

function shutdownError(): MoestroError {
  return new MoestroError("server_shutting_down", "The server is shutting down and ended this request; retry on another instance or after restart.", { retryAfterSeconds: 5 });
}

function errorCodeOf(error: unknown): string {
  return error instanceof MoestroError ? error.code : "internal_error";
}
