import type { EvaluationPriority, LlamaContextSequence, Token } from "node-llama-cpp";
import { type PriorityGate, yieldingBatching } from "./batch-priority.js";
import type { DecodeBatching } from "./decode-batching.js";
import type { GenerationTarget } from "./generation-loop.js";
import type { PrefixCache } from "./prefix-cache.js";
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
  return {
    /**
     * Aligns the sequence's KV cache with the new prompt and returns how many prompt tokens are already evaluated: the
     * prefix the sequence shares with the prompt, or a longer one restored from the prefix cache (docs/engine.md, "The
     * prefix cache"). At least the last prompt token is always evaluated again, because its logits are needed to sample
     * the first token.
     */
    async reusePrefix(promptTokens) {
      if (!shared.canReusePrefix) {
        if (sequence.nextTokenIndex > 0) await sequence.clearHistory();
        return 0;
      }
      let keep = Math.min(sequence.compareContextTokens(promptTokens).firstDifferentIndex, promptTokens.length - 1);
      const cache = shared.prefixCache;
      if (cache !== undefined) {
        const hit = cache.longestPrefix(promptTokens);
        const restorable = Math.min(hit?.length ?? 0, promptTokens.length - 1);
        const restore = hit !== undefined && restorable - keep >= cache.minRestoreTokens ? hit.entry : undefined;
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
            keep = Math.min(sequence.compareContextTokens(promptTokens).firstDifferentIndex, promptTokens.length - 1);
          }
        } finally {
          if (restore !== undefined) cache.unpin(restore);
        }
      }
      if (keep < sequence.nextTokenIndex) {
        await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
      }
      return keep;
    },
    createTokenSource({ request, prepared, grammar }) {
      const batching =
        request.priority === "batch" && shared.gate !== undefined ? yieldingBatching(shared.batching, shared.gate) : shared.batching;
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
  };
}
