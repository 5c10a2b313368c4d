import type { BatchItem, PrioritizedBatchItem } from "node-llama-cpp";

/**
 * node-llama-cpp's batch item strategy: the items in the order of their sequences, then its `maximumParallelism` split
 * of the batch (an equal share of the batch per item, the rest to the items that need more, in order).
 *
 * The order matters for correctness, not only speed: llama.cpp (commit 80fb11a, in node-llama-cpp 3.21.1) splits a
 * batch by sequence, and when consecutive batches order their sequences differently, some outputs come back wrong
 * (docs/engine.md, "Batch order").
 * A generation tags its evaluations with its sequence's index as `evaluationPriority`; this sorts on it.
 */
export function inSequenceOrder({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] {
  const ordered = [...items].sort((a, b) => a.evaluationPriority - b.evaluationPriority);
  let free = size;
  const share = Math.max(1, Math.floor(size / Math.max(1, ordered.length)));
  const result: PrioritizedBatchItem[] = [];
  for (const item of ordered) {
    if (free <= 0) break;
    const processAmount = Math.min(item.tokens.length, share, free);
    result.push({ item, processAmount });
    free -= processAmount;
  }
  for (const entry of result) {
    if (free <= 0) break;
    const more = Math.min(entry.item.tokens.length - entry.processAmount, free);
    entry.processAmount += more;
    free -= more;
  }
  return result;
}
