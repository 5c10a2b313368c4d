import type { BatchItem, PrioritizedBatchItem } from "node-llama-cpp";

/**
 * node-llama-cpp's batch item strategy: the items in the order of their sequences; of the batch, first one token to
 * each item, then the rest to the items that need the fewest more tokens first (shortest remaining first, ties in
 * sequence order), each up to all it needs, never more than the batch.
 *
 * The order matters for correctness, not only speed: llama.cpp (commit 80fb11a, in node-llama-cpp 3.21.1) splits a
 * batch by sequence, and when consecutive batches order their sequences differently, some outputs come back wrong
 * (docs/engine.md, "Batch order").
 * A generation tags its evaluations with its sequence's index as `evaluationPriority`; this sorts on it.
 *
 * The split is for time to first token: every decoding sequence gets its token in each batch (one token each first),
 * and of several prompts that do not fit one batch, the shortest are evaluated whole first, so that their first tokens
 * come a batch or more earlier. An equal share per item (node-llama-cpp's `maximumParallelism`, this strategy's split
 * before) spread four prompts of 30 tokens over a 64-token batch as 16 each, so that none got its first token before
 * the second batch (docs/bench.md, "The in-process engine's per-token cost").
 */
export function inSequenceOrder({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] {
  const ordered = [...items].sort((a, b) => a.evaluationPriority - b.evaluationPriority);
  let free = size;
  const result: PrioritizedBatchItem[] = [];
  for (const item of ordered) {
    if (free <= 0) break;
    const processAmount = Math.min(item.tokens.length, 1);
    result.push({ item, processAmount });
    free -= processAmount;
  }
  // Stable: among equal needs, sequence order.
  const byNeed = [...result].sort((a, b) => a.item.tokens.length - b.item.tokens.length);
  for (const entry of byNeed) {
    if (free <= 0) break;
    const more = Math.min(entry.item.tokens.length - entry.processAmount, free);
    entry.processAmount += more;
    free -= more;
  }
  return result;
}
