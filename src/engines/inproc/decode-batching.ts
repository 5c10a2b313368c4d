/**
 * Gathers the running sequences' next tokens into one decode batch (continuous batching).
 *
 * node-llama-cpp decodes whatever is queued when a dispatch runs, and the dispatch loop that holds the context also
 * takes, right after each batch, whatever was queued meanwhile. The sequences of one batch get their tokens together
 * (their sampling runs inside the dispatch), but each then spends some JavaScript (parsing, encoding a chunk) before
 * asking for its next token, so the fastest one used to be decoded alone and the batch split into batches of one or
 * two. Measured on the 735M-parameter random Qwen3-MoE of ENGINE-NOTES, 4 sequences, 32 requests: of 636 decode
 * batches none held 4 tokens (243 held 1, 311 held 2, 82 held 3). With the barrier, 4 requests at a time of 32
 * tokens: 120 of 128 decode batches held 4; of 16 to 48 tokens: 238 of 405 held 4 (the rest as requests end), new
 * prompts went into 42 batches beside decode tokens, and llama.cpp was busy 98.8% of the time.
 *
 * So each generation passes a barrier ({@link DecodeBatching.turn}) before it asks for its next token. The barrier
 * opens when every decoding generation has reached it. It waits without limit while one of them has a decode running
 * (it comes back when its decode ends, and from then on they run in step), and then at most `maxWaitMs` for those
 * busy in JavaScript. A generation whose prompt is being evaluated (a prefill, possibly many batches long) is not
 * waited for, so that a long prompt never stalls the others' decoding; it joins the decode batches once its prompt is
 * in. The dispatch then runs after the event loop's current turn, when every released generation has queued its decode.
 * A single generation passes at once and its decode is dispatched at once: nothing to wait for.
 */
export class DecodeBatching {
  /** Generations between {@link join} and {@link leave}. */
  #running = 0;
  /** Of those, the ones whose prompt is being evaluated. */
  #prefilling = 0;
  /** Of those, the ones whose one-token decode step is running. */
  #decoding = 0;
  /** Generations waiting at the barrier. */
  #waiting: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #maxWaitMs: number;

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

  /** Resolves when every decoding generation has reached the barrier (see the class); at once when alone. */
  async turn(): Promise<void> {
    if (this.#participants() <= 1) return;
    await new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      this.#check();
    });
  }

  /** Brackets one evaluation step after {@link turn}: `prefill` when it evaluates more than one token (a prompt). */
  async step<Result>(prefill: boolean, evaluate: () => Promise<Result>): Promise<Result> {
    if (prefill) this.#prefilling++;
    else this.#decoding++;
    try {
      return await evaluate();
    } finally {
      if (prefill) this.#prefilling--;
      else this.#decoding--;
      // Others may wait for this one: now it is busy in JavaScript (bounded wait), or it joins them after its prompt.
      this.#check();
    }
  }

  /**
   * node-llama-cpp's `dispatchSchedule`. Alone, a generation's decode is dispatched at once, so that it runs on llama.cpp's
   * thread while JavaScript encodes the previous token. Otherwise the dispatch waits for the event loop's next turn, by
   * when every generation released by the barrier has queued its decode (they do so in microtasks).
   */
  schedule(dispatch: () => void): void {
    if (this.#running <= 1) dispatch();
    else setImmediate(dispatch);
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
    // A decode is running: wait for it, whoever else is late. Opened under a running decode (by a timer armed while
    // someone was busy in JavaScript), the barrier let the waiting generations queue their tokens during that batch, and
    // node-llama-cpp's dispatch loop, which decodes whatever is queued when a batch ends, then alternated between two
    // groups of sequences for the rest of their requests (batches of 1 and 2, or 2 and 2, instead of 4 on the test MoE),
    // and a new request, which needs the context's lock to align its KV cache, waited until they all ended. In-process
    // at concurrency 4 on that model, time to first token p50 went from 263-281 ms to 117-160 ms with this rule.
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}
