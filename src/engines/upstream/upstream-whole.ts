import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest, StreamPart } from "../../spec/index.js";
import { estimatePromptTokens, toUpstreamRequest } from "./openai-request.js";
import { UpstreamStreamReader, type WireUpstreamChunk, type WireUpstreamCompletion } from "./openai-stream.js";
import type { UpstreamTarget } from "./upstream-target.js";

/**
 * Whether `request` is sent to `target` without streaming ({@link askWhole}): when its answer is collected whole
 * (`request.whole`), unless `target` is a llama-server. Its non-streamed answer parses the model's whole output with the
 * chat template's format parser and answers 500 ("The model produced output that does not match the expected
 * peg-native format") when the output does not match it, which its stream never does: 23 of 150 answers of the
 * random-weight tiny-qwen3moe (`--jinja`, default sampling, 6 tokens) on 2026-12-07, against none streamed. A 500 would
 * also count against the upstream's health.
 */
export function asksWhole(target: Pick<UpstreamTarget, "kind">, request: Pick<GenerateRequest, "whole">): boolean {
  return request.whole === true && target.kind !== "llama-server";
}

/** A whole answer read from an upstream ({@link askWhole}). */
export interface WholeAnswer {
  /** The reader that read it: its usage, and the generated text when kept. */
  reader: UpstreamStreamReader;
  /** Its parts, the `finish` part last (its usage the reader's, before any counting with a local tokenizer). */
  pending: StreamPart[];
  /** Ends the request's in-flight count on its upstream; idempotent. */
  end: () => void;
  /** The controller that aborted the request (on the client's abort or the timeout); aborting it now does nothing. */
  cancel: AbortController;
}

/**
 * Asks `target` for a whole answer without streaming (`request.whole`: the client collects it anyway) and reads it:
 * one JSON body instead of an SSE event per token, which costs both servers less CPU (docs/gateway.md, "Overhead").
 * The answer is read with the stream's reader (`UpstreamStreamReader.readWhole`), so that its parts, usage and
 * failures are a stream's. The attempt counts as in flight on `target` from the call until `end` (on a failure, ended
 * before this throws); its latency and success are recorded.
 *
 * @param options.model the model id as the upstream names it.
 * @param options.keepText whether the reader keeps the generated text (to count it with a local tokenizer).
 * @throws {MoestroError} `upstream_timeout` when no whole answer came within `target.answerTimeoutMs`;
 *   `upstream_failed` for a body that is not JSON, an error in it, or an answer without a `finish_reason`;
 *   `UpstreamHttpError` for a status other than 2xx; the socket's error; the request signal's reason when it aborted.
 */
export async function askWhole(
  target: UpstreamTarget,
  request: GenerateRequest,
  options: { model: string; keepText: boolean },
): Promise<WholeAnswer> {
  request.signal?.throwIfAborted();
  const { path, body } = toUpstreamRequest(request, { model: options.model, kind: target.kind, stream: false });
  // One controller for the client's abort and the timeout (no `AbortSignal.any` per request: this is the hot path).
  const cancel = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    cancel.abort(Object.assign(new Error(`no answer within ${target.answerTimeoutMs} ms`), { name: "TimeoutError" }));
  }, target.answerTimeoutMs);
  const onAbort = (): void => cancel.abort(request.signal?.reason);
  request.signal?.addEventListener("abort", onAbort, { once: true });
  const end = target.begin();
  const startedAt = performance.now();
  const reader = new UpstreamStreamReader({
    upstream: target.name,
    estimatedPromptTokens: estimatePromptTokens(request),
    keepText: options.keepText,
  });
  let pending: StreamPart[];
  try {
    const answer = await target.client.postJson<WireUpstreamCompletion>(path, body, {
      signal: cancel.signal,
      headers: request.requestId === undefined ? undefined : { "x-request-id": request.requestId },
    });
    pending = reader.readWhole(answer);
  } catch (error) {
    end();
    if (timedOut && !request.signal?.aborted)
      throw new MoestroError(
        "upstream_timeout",
        `The upstream '${target.name}' did not answer within ${target.answerTimeoutMs} ms (answerTimeoutMs).`,
        { retryAfterSeconds: 1, cause: error },
      );
    // A body that is not JSON is the upstream's fault, as a broken stream is.
    if (error instanceof SyntaxError)
      throw new MoestroError("upstream_failed", `The upstream '${target.name}' answered a body that is not JSON.`, {
        retryAfterSeconds: 1,
        cause: error,
      });
    throw error;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
  }
  target.recordLatency(performance.now() - startedAt);
  target.recordSuccess();
  return { reader, pending, end, cancel };
}

/** Asks an upstream for a whole answer without streaming ({@link askWhole}), as an opened stream that has ended. */
export async function openWhole(
  target: UpstreamTarget,
  request: GenerateRequest,
  options: { model: string; keepText: boolean },
): Promise<OpenedStream> {
  const { reader, pending, end, cancel } = await askWhole(target, request, options);
  return {
    target,
    iterator: noMoreChunks(),
    reader,
    pending,
    rest: [],
    done: true,
    end,
    cancel,
    timedOut: notTimedOut,
    whole: true,
    timer: undefined,
  };
}

/** The `timedOut` of a whole answer: its timeout, if any, was thrown by {@link askWhole}. */
function notTimedOut(): boolean {
  return false;
}

/** The chunks left of a whole answer once it was read (the iterator of an opened stream that has ended): none. */
async function* noMoreChunks(): AsyncGenerator<WireUpstreamChunk[], void, undefined> {}

/** An upstream's stream, opened: its first parts read, the rest to come. */
export interface OpenedStream {
  target: UpstreamTarget;
  /** The rest of the stream's chunks, those of one socket read at a time (`UpstreamClient.streamJsonBatches`). */
  iterator: AsyncIterator<WireUpstreamChunk[], void, undefined> & {
    return(value?: undefined): Promise<IteratorResult<WireUpstreamChunk[], void>>;
  };
  reader: UpstreamStreamReader;
  /** Parts read while opening (the first ones), given first. */
  pending: StreamPart[];
  /** The chunks of the last read while opening that came after the first parts' chunk, not yet read: read first. */
  rest: WireUpstreamChunk[];
  /** Whether the upstream's stream has already ended. */
  done: boolean;
  /** Ends the request's in-flight count on its upstream; idempotent. */
  end: () => void;
  /** Cancels the upstream request (closes its connection); the request's signal and the stall timer abort it too. */
  cancel: AbortController;
  /** Whether the upstream sent nothing for `timeoutMs` (the stall timer below aborted `cancel`). */
  timedOut: () => boolean;
  /** Whether it is a whole answer ({@link openWhole}): its parts arrived together, after the whole answer. */
  whole?: true;
  /** The stall timer: refreshed at every event, cleared when the stream ends; none for a whole answer. */
  timer: ReturnType<typeof setTimeout> | undefined;
}
