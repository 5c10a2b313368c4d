/**
 * Shares an engine's busy time among the evaluation steps under way, for the time pricing of local requests
 * (docs/studio.md, "Cost of local tokens"): while steps of total weight `W` run, each unit of weight is charged `1/W`
 * of every millisecond. A step of weight `w` that runs alone is charged its whole duration; `n` one-token decode steps
 * batched together (they start and end together) are each charged the batch's duration divided by `n`. Whatever the
 * overlap, the charges of all steps add up to the time during which at least one step ran (the engine's busy time).
 *
 * Cheap: one `performance.now()` per `begin` and per `end`, no allocation.
 */
export class EngineTimeClock {
  /** Weight (tokens) of the steps under way. */
  #weight = 0;
  /** Milliseconds charged per unit of weight since the clock was made: `∫ dt / W(t)` over the busy time. */
  #perWeightMs = 0;
  /** When `#perWeightMs` was last brought up to date, `performance.now()` ms. */
  #at = performance.now();

  /** Brings the integral up to now and returns it. */
  #advance(): number {
    const now = performance.now();
    if (this.#weight > 0) this.#perWeightMs += (now - this.#at) / this.#weight;
    this.#at = now;
    return this.#perWeightMs;
  }

  /**
   * A step of `weight` (> 0; the in-process engine counts the tokens it evaluates) starts.
   *
   * @returns the mark to hand to {@link end}.
   */
  begin(weight: number): number {
    const mark = this.#advance();
    this.#weight += weight;
    return mark;
  }

  /**
   * The step begun at `mark` with `weight` ends.
   *
   * @returns the engine time it is charged, ms.
   */
  end(mark: number, weight: number): number {
    const now = this.#advance();
    this.#weight = Math.max(0, this.#weight - weight);
    return (now - mark) * weight;
  }
}

/** Where a generation's engine time adds up (one per generation; the step loop adds to it). */
export interface EngineTimeMeter {
  /** Engine time charged so far, ms. */
  engineMs: number;
}
