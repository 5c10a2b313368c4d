import type { EvaluationPriority, LlamaContextSequence, Token } from "node-llama-cpp";
import { type PriorityGate, yieldingBatching } from "./batch-priority.js";
import type { DecodeBatching } from "./decode-batching.js";
import type { GenerationTarget } from "./generation-loop.js";
import type { EngineTimeMeter } from "../engine-time.js";
import type { PrefixCache, PrefixCacheEntry } from "./prefix-cache.js";
import type { SharedPrefill, SharedPrefills } from "./shared-prefill.js";
import { toEvaluateOptions } from "./sampling-options.js";
import { shouldSpeculate, type DraftCounts, type Speculation } from "./speculation.js";
import { createSpeculativeTokenSource } from "./speculative-token-source.js";
import { createLlamaTokenSource, reusableEvaluationKey, type ReusableEvaluationSlot } from "./token-source.js";

/** What the sequences of one in-process context share. */
export interface SequenceTargetShared {
  /** The decode barrier of the model's context. */
  batching: DecodeBatching;
  /** Each sequence's index, in creation order (see `inSequenceOrder`). */
  sequenceIndex: Map<LlamaContextSequence, number>;
  /** Whether a sequence's KV cache can be kept in part (not on recurrent and hybrid models). */
  canReusePrefix: boolean;
  /** A token's raw bytes, for logprobs. */
  tokenBytes: (token: Token) => number[];
  /** The host-RAM cache of sequence states beyond the slots; `undefined` when off (or the model cannot reuse a prefix). */
  prefixCache?: PrefixCache;
  /**
   * Prompt evaluations that requests sharing their prefix wait for instead of evaluating it again (through
   * `prefixCache`, which they need); `undefined` when off.
   */
  sharedPrefills?: SharedPrefills;
  /**
   * Speculative decoding, when the model has it configured; never on models whose KV cache cannot be cut back in part
   * (recurrent and hybrid ones), since rejected drafted tokens must be erased.
   */
  speculation?: Speculation;
  /** Closed while an interactive prompt is evaluated: batch generations pause at their next step (docs/batch.md). */
  gate?: PriorityGate;
  /**
   * Each sequence's node-llama-cpp evaluation kept open between plain requests, so that its sampler is made once
   * (`ReusableEvaluation`); none kept when absent. The backend closes them when it is disposed.
   */
  reusableEvaluations?: Map<LlamaContextSequence, ReusableEvaluationSlot>;
}

/** A generation on one sequence of the in-process context: node-llama-cpp evaluates and samples. */
export function sequenceTarget(sequence: LlamaContextSequence, shared: SequenceTargetShared): GenerationTarget {
  /** Tokens drafted and accepted by the generation, when it speculates. */
  let draftCounts: DraftCounts | undefined;
  /** The generation's share of the context's busy time (its evaluation steps'), for the time pricing. */
  const meter = { engineMs: 0 };
  /** This generation's prompt evaluation, when others that share its prefix may wait for it (set by reusePrefix). */
  let lead: SharedPrefill | undefined;
  /**
   * Ends the hold on the context's batch dispatches that reusePrefix takes while it aligns the KV cache (see
   * `DecodeBatching.hold`): once the token source is made, whose prompt then joins the held-back batch, or when the
   * generation ends first. Idempotent.
   */
  let releaseDispatch = (): void => {};
  return {
    /**
     * Aligns the sequence's KV cache with the new prompt and returns how many prompt tokens are already evaluated: the
     * prefix the sequence shares with the prompt, or a longer one restored from the prefix cache (docs/engine.md, "The
     * prefix cache"). At least the last prompt token is always evaluated again, because its logits are needed to sample
     * the first token. When another request is evaluating a longer prefix of this prompt right now (a shared system
     * prompt sent to several slots at once), it first waits for that state (`SharedPrefills`), then restores it; once
     * aligned, it may be waited for in turn by later requests while its own prompt is evaluated.
     */
    async reusePrefix(promptTokens, options = {}) {
      if (!shared.canReusePrefix) {
        if (sequence.nextTokenIndex > 0) {
          releaseDispatch = shared.batching.hold();
          await sequence.clearHistory();
        }
        return 0;
      }
      const { signal } = options;
      const isBatch = options.priority === "batch";
      const cache = shared.prefixCache;
      const prefills = shared.sharedPrefills;
      const slotKeep = (): number => Math.min(sequence.compareContextTokens(promptTokens).firstDifferentIndex, promptTokens.length - 1);
      /** A shared prefill's state this request waited for, pinned until it is restored (or passed over). */
      let awaited: PrefixCacheEntry | undefined;
      let hasWaited = false;
      if (prefills !== undefined && cache !== undefined) {
        // What the slot and the cache give without waiting: when another request is evaluating a longer shared prefix
        // now, its state (saved once its prompt is evaluated) spares this one the prefill of that prefix.
        const keepNow = Math.max(slotKeep(), restorableHit(cache, promptTokens, slotKeep())?.length ?? 0);
        const found = prefills.find(promptTokens, keepNow, isBatch);
        if (found !== undefined) {
          hasWaited = true;
          awaited = await found.wait(signal);
          // Cancelled while waiting: nothing is evaluated (the generation ends at once), the slot is left as it is.
          if (signal?.aborted) {
            if (awaited !== undefined) cache.unpin(awaited);
            return slotKeep();
          }
        } else {
          // Registered at once, before the slot's state is saved and a state restored (some ms): requests sent together
          // arrive a few ms apart, and must find this one evaluating (see createTokenSource) rather than start their own.
          lead = prefills.start(promptTokens, keepNow, isBatch);
        }
      }
      let keep = slotKeep();
      // From here on nothing waits for another generation's step: the context's lock alone (its running batch).
      releaseDispatch = shared.batching.hold();
      try {
        if (cache !== undefined) {
          const restore = restorableHit(cache, promptTokens, keep)?.entry;
          if (restore !== undefined) cache.pin(restore);
          try {
            // What the slot holds beyond the shared prefix is lost once it is erased or overwritten: keep it when it is
            // worth a restore later (another conversation's history), or when it holds part of a pinned prefix
            // (`cache_control`), before the slot takes this prompt.
            if (sequence.nextTokenIndex - keep >= cache.minRestoreTokens || cache.losesPinnedPrefix(sequence.contextTokens, keep))
              await cache.save(sequence);
            if (restore !== undefined) {
              // The sequence now holds the entry's tokens (or nothing, when the load failed).
              await cache.restore(restore, sequence);
              keep = slotKeep();
            }
          } finally {
            if (restore !== undefined) cache.unpin(restore);
          }
        }
      } finally {
        if (awaited !== undefined) cache?.unpin(awaited);
      }
      if (keep < sequence.nextTokenIndex) {
        await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
      }
      // A request that waited evaluates the rest of its prompt (all of it when the lead failed): others may wait for it in turn.
      if (prefills !== undefined && hasWaited && !signal?.aborted) lead = prefills.start(promptTokens, keep, isBatch);
      return keep;
    },
    createTokenSource({ request, prepared, grammar }) {
      // The generation loop asks for the first step next, in the same turn of the event loop (unless it first hands
      // forced tokens to its consumer): its prompt is queued before the held-back batch is dispatched.
      releaseDispatch();
      const lineBatching =
        request.priority === "batch" && shared.gate !== undefined ? yieldingBatching(shared.batching, shared.gate) : shared.batching;
      const batching = lead === undefined ? lineBatching : sharingBatching(lineBatching, sequence, lead);
      const evaluateOptions = {
        ...toEvaluateOptions(request.sampling, () => sequence.contextTokens.slice(-64)),
        // Not a priority: the sequence's index, by which `inSequenceOrder` orders each batch.
        evaluationPriority: shared.sequenceIndex.get(sequence) as EvaluationPriority,
        tokenBias: prepared.tokenBias,
      };
      const speculation = shared.speculation;
      if (
        speculation !== undefined &&
        shared.canReusePrefix &&
        shouldSpeculate({
          speculative: request.speculative,
          byDefault: speculation.byDefault,
          logprobs: request.logprobs,
          sampling: request.sampling,
          hasGrammar: prepared.contentGrammar !== undefined || prepared.toolGrammar !== undefined,
        })
      ) {
        const counts = { draftTokens: 0, acceptedDraftTokens: 0 };
        draftCounts = counts;
        return createSpeculativeTokenSource({
          sequence,
          evaluateOptions,
          batching,
          meter,
          drafter: speculation.drafter(shared.sequenceIndex.get(sequence)!),
          backOff: speculation.backOff(shared.sequenceIndex.get(sequence)!),
          promptTokens: prepared.promptTokens,
          counts,
        });
      }
      const slot = shared.reusableEvaluations?.get(sequence);
      const key =
        slot &&
        reusableEvaluationKey(evaluateOptions, {
          hasGrammar: prepared.contentGrammar !== undefined || prepared.toolGrammar !== undefined,
          logprobs: request.logprobs !== undefined,
        });
      return createLlamaTokenSource({
        sequence,
        evaluateOptions,
        grammarState: () => grammar()?.state,
        batching,
        meter,
        sampling: request.sampling,
        logprobs: request.logprobs,
        tokenBytes: shared.tokenBytes,
        ...(slot !== undefined && key !== undefined ? { reuse: { key, slot } } : {}),
      });
    },
    draftCounts: () => draftCounts && { ...draftCounts },
    engineTimeMs: () => meter.engineMs,
    settle() {
      releaseDispatch();
      // Ended before its prompt step (cancelled, a scripted source, an error): whoever waits evaluates alone.
      lead?.abandon();
    },
  };
}

/**
 * The entry of `cache` worth restoring into a slot that holds `keep` tokens of `promptTokens`, and the prompt tokens it
 * gives (its shared prefix, short of the last prompt token, whose logits are needed): the longest prefix, when it gives
 * at least `cache.minRestoreTokens` more than the slot holds; `undefined` otherwise.
 */
function restorableHit(
  cache: PrefixCache,
  promptTokens: readonly Token[],
  keep: number,
): { entry: PrefixCacheEntry; length: number } | undefined {
  const hit = cache.longestPrefix(promptTokens);
  if (hit === undefined) return undefined;
  const length = Math.min(hit.length, promptTokens.length - 1);
  return length - keep >= cache.minRestoreTokens ? { entry: hit.entry, length } : undefined;
}

/**
 * The decode barrier as a shared prefill's lead sees it: its first step (the prompt's) ends with
 * {@link SharedPrefill.share}, started before the step's result goes back, so that the state is saved before the lead's
 * next token is evaluated; a failed first step abandons the lead. The first step, not the first that evaluates more
 * than one token: a prefix saved meanwhile may have left the lead a single prompt token to evaluate, and its waiters
 * must not wait for the whole generation. The other methods are the barrier's own.
 */
function sharingBatching(batching: DecodeBatching, sequence: LlamaContextSequence, lead: SharedPrefill): DecodeBatching {
  let isFirst = true;
  const view = {
    join: () => batching.join(),
    leave: () => batching.leave(),
    turn: (prefill?: boolean) => batching.turn(prefill),
    schedule: (dispatch: () => void) => batching.schedule(dispatch),
    hold: () => batching.hold(),
    async step<Result>(prefill: boolean, evaluate: () => Promise<Result>, meter?: EngineTimeMeter, tokens?: number): Promise<Result> {
      if (!isFirst) return await batching.step(prefill, evaluate, meter, tokens);
      isFirst = false;
      let result: Result;
      try {
        result = await batching.step(prefill, evaluate, meter, tokens);
      } catch (error) {
        lead.abandon();
        throw error;
      }
      // Not awaited: the save holds the sequence's lock from now on, and waiters get the state when it is written; the
      // lead's first token goes out meanwhile.
      void lead.share(sequence);
      return result;
    },
  };
  // DecodeBatching's private fields make a structural type impossible; every public method is delegated above.
  return view as unknown as DecodeBatching;
}
