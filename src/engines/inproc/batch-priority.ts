import type { DecodeBatching } from "./decode-batching.js";
import type { EngineTimeMeter } from "../engine-time.js";

/**
 * Tells a model's batch generations (`GenerateRequest.priority` `batch`, docs/batch.md) when to yield: it is closed
 * while an interactive generation holds a slot and has not produced its first part yet (its prompt is being evaluated).
 * Interactive requests that wait for a slot do not close it: on a one-slot model the batch line holding it must be
 * able to finish.
 */
export class PriorityGate {
  #pending = 0;
  #waiters: Array<() => void> = [];

  /** Whether batch generations must wait. */
  get closed(): boolean {
    return this.#pending > 0;
  }

  /**
   * An interactive generation took its slot: the gate stays closed until the returned function is called (at its first
   * part, or when it ends without one). Calling it again does nothing.
   */
  hold(): () => void {
    this.#pending++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#pending--;
      if (this.#pending === 0) for (const resolve of this.#waiters.splice(0)) resolve();
    };
  }

  /** Resolves once the gate is open (at once when it is). */
  async opened(): Promise<void> {
    while (this.#pending > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * The decode barrier as a batch generation sees it: before each evaluation step (its prompt's, then each token's) it
 * waits while `gate` is closed, out of the barrier meanwhile (`leave`, then `join` again), so that the interactive
 * generations neither wait for it nor share a step with it until the interactive prompt is evaluated. A step under way
 * when the gate closes finishes first. The other methods are the barrier's own.
 */
export function yieldingBatching(batching: DecodeBatching, gate: PriorityGate): DecodeBatching {
  const view = {
    join: () => batching.join(),
    leave: () => batching.leave(),
    // Every argument goes on: the engine-time meter and the step's tokens price the batch line's steps (time pricing).
    step: <Result>(prefill: boolean, evaluate: () => Promise<Result>, meter?: EngineTimeMeter, tokens?: number) =>
      batching.step(prefill, evaluate, meter, tokens),
    schedule: (dispatch: () => void) => batching.schedule(dispatch),
    hold: () => batching.hold(),
    async turn(prefill?: boolean): Promise<void> {
      while (gate.closed) {
        batching.leave();
        try {
          await gate.opened();
        } finally {
          batching.join();
        }
      }
      await batching.turn(prefill);
    },
  };
  // DecodeBatching's private fields make a structural type impossible; every public method is delegated above.
  return view as unknown as DecodeBatching;
}
