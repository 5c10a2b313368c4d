/**
 * The default budget of a model's prefix cache (`--cache-ram`), in a module of its own so that the planner, which reads
 * only GGUF headers, gives a worker the same `--cache-ram` a served one gets without loading the engine.
 */

/** The most the default prefix cache holds, bytes: llama-server's own default `--cache-ram` (8192 MiB). */
export const maxDefaultCacheRamBytes = 8 * 1024 ** 3;

/**
 * The default budget of a model's prefix cache (`--cache-ram` when not given), bytes: as much as the KV cache of its
 * slots (`contextTokens x parallel` tokens), so that the cache holds as many tokens again as the slots do (16
 * conversations of 700 tokens over 4 slots of 4,096 need 11,200 tokens, under the 16,384 the slots hold), capped at
 * llama-server's default of 8 GiB. It is held against `--max-memory` like the slots themselves; a model whose KV cache
 * is large gets a large cache, one that is tiny costs next to nothing.
 *
 * @param kvBytesPerToken - `estimateKvBytesPerToken` (src/engines/inproc/memory-estimate.ts), or the planner's `kvCacheBytesPerToken`.
 */
export function defaultCacheRamBytes(kvBytesPerToken: number, contextTokens: number, parallel: number): number {
  return Math.min(maxDefaultCacheRamBytes, kvBytesPerToken * contextTokens * parallel);
}
