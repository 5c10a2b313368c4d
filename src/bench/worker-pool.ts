/**
 * Runs `work` on every item with at most `concurrency` calls in flight, taking items in order (item `i` starts before
 * item `i + 1`). Resolves when all calls have settled, with the results in item order.
 *
 * When `signal` aborts, no further item starts, and once the calls in flight settle the pool rejects with the signal's
 * reason. When a call throws, no further item starts, and the pool rejects with that error once the others settle.
 *
 * @throws {RangeError} when `concurrency` is not a whole number ≥ 1.
 */
export async function runPool<T, R>(
  items: readonly T[],
  options: { concurrency: number; signal?: AbortSignal },
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new RangeError(`concurrency must be a whole number ≥ 1, got ${options.concurrency}`);
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && !options.signal?.aborted && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, items.length) }, worker));
  if (options.signal?.aborted) throw options.signal.reason;
  if (failure !== undefined) throw failure.error;
  return results;
}
