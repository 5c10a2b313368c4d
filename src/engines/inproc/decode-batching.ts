import { EngineTimeClock, type EngineTimeMeter } from "../engine-time.js";

/**
 * The decode barrier: gathers the running sequences' next tokens into one decode batch (continuous batching).
 *
 * Each generation passes {@link DecodeBatching.turn} before it asks for its next token; the barrier opens when every
 * decoding generation has reached it. It waits without limit while one of them has a decode running, then at most
 * `maxWaitMs` for those busy in JavaScript; a generation evaluating its prompt (prefill) is not waited for, so that a
 * long prompt never stalls the others. Without it, the sequence that finished its JavaScript first was decoded alone
 * and batches split into ones and twos. Measurements: docs/engine.md, "The decode barrier".
 */
export class DecodeBatching {
  /** Generations between {@link join} and {@link leave}. */
  #running = 0;
  /** Of those, the ones whose prompt is being evaluated. */
  #prefilling = 0;
  /** Of those, the ones whose one-token decode step is running. */
  #decoding = 0;
  /** Holds on the dispatch of decode batches (see {@link hold}), and the dispatches they hold back. */
  #holds = 0;
  #parked: Array<() => void> = [];
  /** Generations waiting at the barrier. */
  #waiting: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #maxWaitMs: number;
  /** Shares the context's busy time among the steps under way (the time pricing of local requests). */
  readonly #clock = new EngineTimeClock();

  /** @param maxWaitMs the longest the barrier waits for a generation that is busy in JavaScript, ms. Defaults to 5. */
  constructor(maxWaitMs = 5) {
    this.#maxWaitMs = maxWaitMs;
  }

  /** A generation starts decoding. */
  join(): void {
    this.#running++;
  }

  /** A generation stops decoding (finished, aborted, or between evaluations); the barrier opens if it waited only for it. */
  leave(): void {
    this.#running--;
    this.#check();
  }

  /**
   * Resolves when every decoding generation has reached the barrier (see the class); at once when alone, and at once
   * for a step that evaluates a prompt (`prefill`): a new prompt is not waited for and waits for nobody, so that
   * node-llama-cpp puts it into the next batch it dispatches, beside the decodes queued by then, instead of the one after
   * the running decode and the others' trip through JavaScript (about one step more to its first token at concurrency
   * 4; docs/engine.md, "The decode barrier").
   */
  async turn(prefill = false): Promise<void> {
    if (prefill || this.#participants() <= 1) return;
    await new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      this.#check();
    });
  }

  /**
   * Brackets one evaluation step after {@link turn}: `prefill` when it evaluates more than one token (a prompt). When
   * `meter` is given, the step's share of the context's busy time is added to it ({@link EngineTimeClock}, weighted by
   * `tokens`, the tokens the step evaluates: 1 for a decode step).
   */
  async step<Result>(prefill: boolean, evaluate: () => Promise<Result>, meter?: EngineTimeMeter, tokens = 1): Promise<Result> {
    if (prefill) this.#prefilling++;
    else this.#decoding++;
    const mark = this.#clock.begin(tokens);
    try {
      return await evaluate();
    } finally {
      const charged = this.#clock.end(mark, tokens);
      if (meter !== undefined) meter.engineMs += charged;
      if (prefill) this.#prefilling--;
      else this.#decoding--;
      // Others may wait for this one: now it is busy in JavaScript (bounded wait), or it joins them after its prompt.
      this.#check();
    }
  }

  /**
   * node-llama-cpp's `dispatchSchedule`. Alone, a generation's decode is dispatched at once, so that it runs on llama.cpp's
   * thread while JavaScript encodes the previous token. Otherwise the dispatch waits for the event loop's next turn, by
   * when every generation released by the barrier has queued its decode (they do so in microtasks). While a
   * {@link hold} is on, the dispatch waits for its release.
   */
  schedule(dispatch: () => void): void {
    if (this.#holds > 0) this.#parked.push(dispatch);
    else if (this.#running <= 1) dispatch();
    else setImmediate(dispatch);
  }

  /**
   * Holds back the dispatch of decode batches until the returned function is called (idempotent), for a new request
   * that aligns its sequence's KV cache (a prefix-cache save or restore, then an erase: each takes the context's lock):
   * without it, the batch dispatched between two of them made the request wait for one more decode each time (at
   * concurrency 4 on stories260K, 1.2 ms for the erase alone, median). A batch already dispatched goes on; the ones
   * held back are dispatched after the event loop's turn that releases the last hold, by when the request has queued
   * its prompt, which joins them (release it once its token source is made). Never hold across a wait for another
   * generation's step (a shared prefill's): that step would never be dispatched.
   */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      if (this.#holds > 0 || this.#parked.length === 0) return;
      // After the turn: the releasing request queues its prompt in microtasks first (its own dispatch, when it is
      // alone, goes at once: nothing is held any more).
      setImmediate(() => {
        if (this.#holds > 0) return;
        for (const dispatch of this.#parked.splice(0)) dispatch();
      });
    };
  }

  /** Generations the barrier waits for: the running ones, except those evaluating a prompt. */
  #participants(): number {
    return this.#running - this.#prefilling;
  }

  /** Opens the barrier when nobody else is expected; otherwise arms the `maxWaitMs` timer, unless a decode runs. */
  #check(): void {
    const waiting = this.#waiting.length;
    if (waiting === 0) return;
    const participants = this.#participants();
    if (waiting >= participants) {
      this.#open();
      return;
    }
    if (this.#decoding === 0) {
      // Nobody it waits for is decoding: the missing ones are busy in JavaScript.
      this.#timer ??= setTimeout(() => this.#open(), this.#maxWaitMs);
      return;
    }
    // A decode is running: wait for it, whoever else is late. Opened under a running decode, the barrier split the
    // sequences into two groups that alternated for the rest of their requests (docs/engine.md).
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}
