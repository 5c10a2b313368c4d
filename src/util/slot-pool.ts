/** A caller waiting for a slot. */
interface Waiter<Slot> {
  resolve: (slot: Slot) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort: () => void;
  preference?: (slot: Slot) => number;
}

/**
 * A FIFO of waiters for a limited number of slots: the admission queue of a model's sequences.
 *
 * `acquire()` resolves with a slot at once when one is free, else waits in line; at most `maxWaiting` callers may wait,
 * and the next one is refused at once. A waiter whose signal aborts leaves the line.
 *
 * Low-priority callers (batch lines, docs/batch.md) wait in a line of their own: one gets a slot only when no
 * interactive caller waits and, on a pool of more than one slot, another slot stays free for the next interactive
 * caller; so at most `size - 1` slots ever hold low-priority work.
 */
export class SlotPool<Slot> {
  readonly #free: Slot[];
  readonly #waiting: Array<Waiter<Slot>> = [];
  readonly #lowWaiting: Array<Waiter<Slot>> = [];
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

  /** Callers currently waiting, low-priority ones included. */
  get waiting(): number {
    return this.#waiting.length + this.#lowWaiting.length;
  }

  /** Free slots that low-priority callers may not take: one on a pool of several slots, none on a pool of one. */
  get #reserved(): number {
    return this.#size > 1 ? 1 : 0;
  }

  /**
   * Takes a free slot, waiting for one when none is free.
   *
   * @param signal aborts the wait.
   * @param preference scores free slots; the highest score wins (ties: the most recently released). Used to send a
   *   request to the sequence whose KV cache shares the longest prefix with its prompt. Defaults to none.
   * @param options.low a low-priority caller (a batch line): see the class. Defaults to false.
   * @returns the slot, or `undefined` when `maxWaiting` callers of its priority already wait (the caller answers "busy").
   * @throws the signal's reason when `signal` aborts before a slot is free.
   */
  async acquire(signal?: AbortSignal, preference?: (slot: Slot) => number, options: { low?: boolean } = {}): Promise<Slot | undefined> {
    signal?.throwIfAborted();
    const low = options.low === true;
    const line = low ? this.#lowWaiting : this.#waiting;
    if (low ? this.#waiting.length === 0 && this.#lowWaiting.length === 0 && this.#free.length > this.#reserved : this.#free.length > 0)
      return this.#take(preference);
    if (line.length >= this.#maxWaiting) return undefined;
    return await new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter<Slot> = {
        resolve,
        reject,
        signal,
        preference,
        onAbort: () => {
          const index = line.indexOf(waiter);
          if (index !== -1) line.splice(index, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      line.push(waiter);
    });
  }

  /** Gives a slot back; the longest interactive waiter gets it, else (when the reserve allows) the longest low-priority one. */
  release(slot: Slot): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(slot);
      return;
    }
    this.#free.push(slot);
    while (this.#lowWaiting.length > 0 && this.#free.length > this.#reserved) {
      const next = this.#lowWaiting.shift()!;
      next.signal?.removeEventListener("abort", next.onAbort);
      next.resolve(this.#take(next.preference));
    }
  }

  /** Takes the free slot `preference` scores highest (ties: the most recently released). */
  #take(preference: ((slot: Slot) => number) | undefined): Slot {
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
    return this.#free.splice(best, 1)[0]!;
  }

  /** Rejects every waiter with `error` (used on shutdown). */
  rejectAll(error: unknown): void {
    for (const waiter of [...this.#waiting.splice(0), ...this.#lowWaiting.splice(0)]) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error);
    }
  }
}
