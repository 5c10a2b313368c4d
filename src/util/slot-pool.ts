/**
 * A FIFO of waiters for a limited number of slots: the admission queue of a model's sequences.
 *
 * `acquire()` resolves with a slot at once when one is free, else waits in line; at most `maxWaiting` callers may wait,
 * and the next one is refused at once. A waiter whose signal aborts leaves the line.
 */
export class SlotPool<Slot> {
  readonly #free: Slot[];
  readonly #waiting: Array<{ resolve: (slot: Slot) => void; reject: (error: unknown) => void; signal?: AbortSignal; onAbort: () => void }> =
    [];
  readonly #maxWaiting: number;
  readonly #size: number;

  /**
   * @param slots the slots, all free at the start.
   * @param options.maxWaiting how many callers may wait for a slot at once; one more is refused.
   */
  constructor(slots: readonly Slot[], options: { maxWaiting: number }) {
    this.#free = [...slots];
    this.#size = slots.length;
    this.#maxWaiting = options.maxWaiting;
  }

  /** Slots currently held. */
  get inUse(): number {
    return this.#size - this.#free.length;
  }

  /** Callers currently waiting. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes a free slot, waiting for one when none is free.
   *
   * @param signal aborts the wait.
   * @param preference scores free slots; the highest score wins (ties: the most recently released). Used to send a
   *   request to the sequence whose KV cache shares the longest prefix with its prompt. Defaults to none.
   * @returns the slot, or `undefined` when `maxWaiting` callers already wait (the caller answers "busy").
   * @throws the signal's reason when `signal` aborts before a slot is free.
   */
  async acquire(signal?: AbortSignal, preference?: (slot: Slot) => number): Promise<Slot | undefined> {
    signal?.throwIfAborted();
    if (this.#free.length > 0) {
      let best = this.#free.length - 1;
      if (preference) {
        let bestScore = preference(this.#free[best]!);
        for (let index = this.#free.length - 2; index >= 0; index--) {
          const score = preference(this.#free[index]!);
          if (score > bestScore) {
            best = index;
            bestScore = score;
          }
        }
      }
      return this.#free.splice(best, 1)[0];
    }
    if (this.#waiting.length >= this.#maxWaiting) return undefined;
    return await new Promise<Slot>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiting.indexOf(waiter);
          if (index !== -1) this.#waiting.splice(index, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Gives a slot back; the longest waiter gets it. */
  release(slot: Slot): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) {
      this.#free.push(slot);
      return;
    }
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
    waiter.resolve(slot);
  }

  /** Rejects every waiter with `error` (used on shutdown). */
  rejectAll(error: unknown): void {
    for (const waiter of this.#waiting.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error);
    }
  }
}
