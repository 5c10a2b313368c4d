/** How many of an upstream's latest answered attempts {@link RecentOutcomes} keeps by default. */
export const recentOutcomesSize = 100;

/** What {@link RecentOutcomes} says of the attempts it holds. */
export interface RecentOutcomesSummary {
  /** Attempts held: answered whole or failed, at most the window's size. */
  attempts: number;
  /** Failed attempts among them, divided by `attempts`, 0 to 1; `undefined` when it holds none. */
  errorRate: number | undefined;
  /** The median time to the first event of the latencies held (the last `size` recorded), ms; `undefined` when none. */
  latencyP50Ms: number | undefined;
}

/**
 * The latest attempts of one upstream, for the console's error rate and median latency: a ring of the last `size`
 * outcomes (success or failure) and another of the last `size` latencies. A count window rather than a time window, so
 * that an upstream ejected after its failures still shows them when no request has gone to it since (Envoy's outlier
 * detection judges success rates on a request volume too). The lifetime totals stay in `requests_total` and
 * `errors_total`; the moving average of the latency, which balancing reads, stays where it is.
 */
export class RecentOutcomes {
  readonly #size: number;
  readonly #failures: boolean[] = [];
  readonly #latenciesMs: number[] = [];
  #nextOutcome = 0;
  #nextLatency = 0;

  /** @param size How many outcomes and latencies it keeps, ≥ 1. Defaults to {@link recentOutcomesSize}. */
  constructor(size: number = recentOutcomesSize) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`RecentOutcomes size must be an integer ≥ 1, got ${size}`);
    this.#size = size;
  }

  /** An attempt that ended: `true` for a failure (refused, timed out, 5xx, 429, broken), `false` for an answer whole. */
  recordOutcome(isFailure: boolean): void {
    this.#push(this.#failures, isFailure, this.#nextOutcome);
    this.#nextOutcome = (this.#nextOutcome + 1) % this.#size;
  }

  /** An attempt's time to its first event (or to its whole JSON answer), ms. */
  recordLatency(latencyMs: number): void {
    this.#push(this.#latenciesMs, latencyMs, this.#nextLatency);
    this.#nextLatency = (this.#nextLatency + 1) % this.#size;
  }

  /** The error rate and median latency of what it holds. */
  summary(): RecentOutcomesSummary {
    const attempts = this.#failures.length;
    const failures = this.#failures.filter(Boolean).length;
    return { attempts, errorRate: attempts === 0 ? undefined : failures / attempts, latencyP50Ms: median(this.#latenciesMs) };
  }

  #push<T>(ring: T[], value: T, index: number): void {
    if (ring.length < this.#size) ring.push(value);
    else ring[index] = value;
  }
}

/** The median of `values` (the mean of the two middle ones for an even count); `undefined` for none. */
function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
