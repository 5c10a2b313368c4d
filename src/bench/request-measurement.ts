import { CompletionApiError } from "../client/api-error.js";
import { streamCompletion, type CompletionEndpoint } from "../client/completion-stream.js";
import type { BenchRequestRecord } from "../wire/bench-report.js";

/**
 * The timings and token counts of one streamed request: the reported record (`BenchRequestRecord`, times in ms, `null`
 * where a figure does not apply) plus its inter-token latencies.
 */
export type RequestMeasurement = BenchRequestRecord & {
  /** Inter-token latencies: the gaps between successive chunks that carried text, in order. */
  itlMs: number[];
};

/** Options of {@link measureRequest}. */
export interface MeasureRequestOptions {
  /** The server: `http://host:port` or a base URL ending in `/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
  /** Which endpoint to call. */
  endpoint: CompletionEndpoint;
  /** The request body, without `stream` (added). */
  body: Record<string, unknown>;
  /** The request's position in its level. */
  index: number;
  /** The bench's start on the `now` clock, ms; `startedAtMs` is measured from it. */
  originMs: number;
  /** Monotonic clock, ms. */
  now: () => number;
  /** Time limit of the request, ms. Defaults to no limit. */
  timeoutMs?: number;
  /** Cancels the request; {@link measureRequest} then throws the signal's reason. */
  signal?: AbortSignal;
  /** The `fetch` to use. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Sends one streaming request and measures it: TTFT, ITL, TPOT and end-to-end latency on the `now` clock, token
 * counts from the server's `usage`. A failed request is measured too (`ok: false` with the error's code), never thrown.
 *
 * @throws the signal's reason when `signal` aborts.
 */
export async function measureRequest(options: MeasureRequestOptions): Promise<RequestMeasurement> {
  const start = options.now();
  let firstAtMs: number | undefined;
  let lastAtMs: number | undefined;
  const itlMs: number[] = [];
  let chunks = 0;
  let usage: { promptTokens?: number; completionTokens?: number; reasoningTokens?: number; cachedPromptTokens?: number } | undefined;
  let finishReason: string | null = null;
  let failure: CompletionApiError | undefined;
  try {
    const { baseUrl, apiKey, endpoint, body, timeoutMs, signal, now } = options;
    for await (const part of streamCompletion({ baseUrl, apiKey, endpoint, body, timeoutMs, signal, now, fetch: options.fetch })) {
      if (part.type === "text-delta" || part.type === "reasoning-delta") {
        // Reasoning and text of one chunk share its time: one chunk, one gap.
        if (part.atMs === lastAtMs) continue;
        chunks++;
        if (firstAtMs === undefined) firstAtMs = part.atMs;
        else itlMs.push(part.atMs - lastAtMs!);
        lastAtMs = part.atMs;
      } else if (part.type === "usage") usage = part.usage;
      else if (part.type === "finish") finishReason = part.finishReason;
    }
  } catch (error) {
    if (!(error instanceof CompletionApiError)) throw error;
    failure = error;
  }
  const end = options.now();
  const e2eLatencyMs = end - start;
  const ttftMs = firstAtMs === undefined ? null : firstAtMs - start;
  const outputTokens = usage?.completionTokens ?? (failure ? null : chunks);
  return {
    index: options.index,
    ok: failure === undefined,
    ...(failure ? { errorCode: failure.code, errorMessage: failure.message } : {}),
    startedAtMs: start - options.originMs,
    ttftMs,
    e2eLatencyMs,
    tpotMs: ttftMs !== null && outputTokens !== null && outputTokens > 1 && !failure ? (e2eLatencyMs - ttftMs) / (outputTokens - 1) : null,
    itlMs,
    promptTokens: usage?.promptTokens ?? null,
    outputTokens,
    reasoningTokens: usage?.reasoningTokens ?? null,
    cachedPromptTokens: usage?.cachedPromptTokens ?? null,
    outputTokensSource: usage?.completionTokens === undefined ? "chunks" : "usage",
    chunks,
    finishReason,
  };
}
