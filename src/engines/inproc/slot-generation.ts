import type { Token } from "node-llama-cpp";
import { MoestroError } from "../../errors/index.js";
import type { BackendStats, GenerateRequest, GenerationStream, StreamPart } from "../../spec/index.js";
import type { SlotPool } from "../../util/slot-pool.js";
import type { ContextCachePins } from "../context-cache.js";
import { runGeneration, type GenerationTarget } from "./generation-loop.js";
import type { ModelFrontend } from "./model-frontend.js";
import type { PriorityGate } from "./batch-priority.js";

/** How a backend's slots (in-process sequences, worker slots) take a generation. */
export interface SlotGenerationOptions<Slot> {
  frontend: ModelFrontend;
  pool: SlotPool<Slot>;
  /**
   * A free slot's score for the prompt (the highest is taken): how many leading prompt tokens its KV cache holds, which
   * a backend may weigh against what the slot would lose (the in-process engine's `slotScore`).
   */
  sharedPrefixLength: (slot: Slot, promptTokens: Token[]) => number;
  /** The target a generation runs on, for the slot it holds. */
  target: (slot: Slot) => GenerationTarget;
  /** The model's explicit-cache pins (`cache_control`); without them, marked prefixes read and create 0 tokens. */
  pins?: ContextCachePins;
  /**
   * Closed while an interactive generation evaluates its prompt, so that batch generations pause (docs/batch.md).
   * Defaults to none (batch generations only wait longer for a slot).
   */
  gate?: PriorityGate;
}

/**
 * Admits a request on one of a model's slots, the same way for every engine: prepares it (prompt, grammars), checks
 * the context window, waits for a slot (the one sharing the longest prefix, unless the model cannot reuse a prefix),
 * then starts the generation on it at once (its prefix reuse and first step run before the stream is first read; the
 * first part waits for that read); the slot goes back to the pool however the stream ends. A stream closed before its
 * first part is read stops at the generation's next check (its first step, when already under way, ends first). A
 * batch request (`priority: "batch"`) waits in the pool's low-priority line; an interactive one closes `gate` until its
 * first part is read.
 *
 * @throws {MoestroError} `context_length_exceeded`; `server_busy` (503, `Retry-After: 1`) when the wait queue is full;
 *   the signal's reason when the request aborts while waiting.
 */
export async function generateOnSlot<Slot>(options: SlotGenerationOptions<Slot>, request: GenerateRequest): Promise<GenerationStream> {
  const { frontend, pool } = options;
  const prepared = await frontend.preparer.prepare(request);
  frontend.preparer.checkContextWindow(prepared.promptTokens.length, request);
  const promptTokens = prepared.promptTokens;
  const isBatch = request.priority === "batch";
  const slot = await pool.acquire(
    request.signal,
    frontend.canReusePrefix ? (candidate) => options.sharedPrefixLength(candidate, promptTokens) : undefined,
    { low: isBatch },
  );
  if (slot === undefined) {
    throw new MoestroError(
      "server_busy",
      `The server is busy: ${frontend.info.parallelSequences} requests are running and ${pool.waiting} are waiting for model '${frontend.info.id}'. Retry later.`,
      { retryAfterSeconds: 1 },
    );
  }
  if (request.cacheBreakpoints !== undefined) {
    // Applied once the slot is held, so that a request refused or abandoned in the queue pins nothing.
    prepared.explicitCache = options.pins?.use(promptTokens, prepared.cachePrefixLengths ?? []) ?? { readTokens: 0, creationTokens: 0 };
  }
  // An interactive generation keeps batch generations paused until its first part (its prompt evaluated).
  const letGo = isBatch ? undefined : options.gate?.hold();
  // The generation's signal: the request's abort, or the stream closed before its first part is read (a request the
  // caller refuses after admission: its budget, say), which stops the generation at its next check, before its next
  // evaluation step. One controller (no `AbortSignal.any` per request, as in upstream-whole.ts).
  const closing = new AbortController();
  const onAbort = (): void => closing.abort(request.signal?.reason);
  if (request.signal?.aborted) onAbort();
  else request.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = closing.signal;
  let released = false;
  const release = (): void => {
    letGo?.();
    if (released) return;
    released = true;
    request.signal?.removeEventListener("abort", onAbort);
    pool.release(slot);
  };
  let cachedPromptTokens: number | undefined;
  const generated = runGeneration(frontend.shared, options.target(slot), prepared, { ...request, signal }, release, (cached) => {
    cachedPromptTokens = cached;
  });
  // Started at once, not at the caller's first read: the prompt's prefix reuse (a prefix-cache save, the KV erase) and
  // its prefill run while the caller meters the admission and opens its response (issue 19, TTFT; docs/engine.md,
  // "Time to first token"). Its outcome is the first read's; a failure nobody reads is not an unhandled rejection.
  let primed: Promise<IteratorResult<StreamPart, void>> | undefined = generated.next();
  primed.catch(() => undefined);
  const parts: AsyncGenerator<StreamPart, void, undefined> = {
    next: async () => {
      const step = primed ?? generated.next();
      primed = undefined;
      try {
        return await step;
      } finally {
        // An interactive generation keeps batch generations paused until its first part (see `letGo`).
        letGo?.();
      }
    },
    return: async (value) => {
      if (primed !== undefined) closing.abort();
      primed = undefined;
      return await generated.return(value);
    },
    throw: (error) => generated.throw(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return {
    promptTokens: promptTokens.length,
    // As the finish part's usage gives them (runGeneration).
    get promptCacheUsage() {
      if (cachedPromptTokens === undefined) return undefined;
      const explicit = prepared.explicitCache;
      return {
        cachedPromptTokens,
        ...(explicit === undefined ? {} : { cacheCreationInputTokens: explicit.creationTokens, cacheReadInputTokens: explicit.readTokens }),
      };
    },
    [Symbol.asyncIterator]: () => parts,
    close: async () => {
      await parts.return(undefined);
      release();
    },
  };
}

/** A backend's live counters: its slot pool and its frontend's generation counters. */
export function slotStats(frontend: ModelFrontend, pool: Pick<SlotPool<unknown>, "inUse" | "waiting">): BackendStats {
  return {
    sequencesInUse: pool.inUse,
    queuedRequests: pool.waiting,
    activeGenerations: frontend.shared.counters.activeGenerations,
    generatedTokensTotal: frontend.shared.counters.generatedTokensTotal,
  };
}
