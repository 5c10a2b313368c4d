import { MoestroError } from "../../errors/index.js";
import type { GenerationStream, ModelBackend, StreamPart, UpstreamInfo } from "../../spec/index.js";
import { RecentOutcomes } from "../../gateway/recent-outcomes.js";
import type { PoolMember } from "./upstream-target.js";

/** The name of the local member of a pool: in the `x-moestro-upstream` header, the ledger, `ps` and `/metrics`. */
export const localMemberName = "local";

/** Weight of the newest sample in the latency's moving average (as an upstream's). */
const latencySmoothing = 0.2;

/**
 * A local model (`--model`, or a pulled one) as a member of the pool of upstreams that serve the same model id: it is
 * balanced with them by requests in flight per unit of its weight (`pools.*.localWeight`, 1 by default), and is always
 * available (its own queue answers `server_busy` when full, which moves the request to an upstream).
 */
export class LocalMember implements PoolMember {
  readonly name = localMemberName;
  /** Its balancing weight, > 0. */
  readonly weight: number;
  readonly backend: ModelBackend;
  #inFlight = 0;
  #requestsTotal = 0;
  #errorsTotal = 0;
  #latencyMs: number | undefined;
  readonly #recent = new RecentOutcomes();

  /** @param weight its balancing weight (`pools.*.localWeight`), > 0; defaults to 1. */
  constructor(backend: ModelBackend, weight = 1) {
    this.backend = backend;
    this.weight = weight;
  }

  /** Its own queue is what waits behind `inFlight` here: nothing more to add. */
  readonly queued = 0;

  get inFlight(): number {
    return this.#inFlight;
  }

  isAvailable(): boolean {
    return true;
  }

  availableAtMs(): number {
    return 0;
  }

  isRateLimited(): boolean {
    return false;
  }

  /**
   * Admits a generation on the local model, counted in flight until its stream ends or is closed; `attempt` is the
   * pool's attempt it is (1 when the local model was tried first).
   *
   * @throws what the local backend's `generate` throws (counted as an error); `unsupported_parameter` (400, not
   *   counted) naming `request.refusedLocally.param`: an option only an upstream can honour, refused here as a local
   *   model refuses it outside a pool (docs/api.md), never dropped.
   */
  async generate(request: Parameters<ModelBackend["generate"]>[0], attempt = 1): Promise<GenerationStream> {
    const refused = request.refusedLocally;
    if (refused !== undefined) throw new MoestroError("unsupported_parameter", refused.message, { param: refused.param });
    this.#inFlight++;
    this.#requestsTotal++;
    const startedAt = performance.now();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
    };
    let stream: GenerationStream;
    try {
      stream = await this.backend.generate(request);
    } catch (error) {
      this.#errorsTotal++;
      this.#recent.recordOutcome(true);
      end();
      throw error;
    }
    const latencyMs = performance.now() - startedAt;
    this.#latencyMs = this.#latencyMs === undefined ? latencyMs : this.#latencyMs + latencySmoothing * (latencyMs - this.#latencyMs);
    this.#recent.recordLatency(latencyMs);
    const countError = () => {
      this.#errorsTotal++;
      this.#recent.recordOutcome(true);
    };
    const countSuccess = () => this.#recent.recordOutcome(false);
    return {
      promptTokens: stream.promptTokens,
      servedBy: { upstream: localMemberName, attempts: attempt },
      async *[Symbol.asyncIterator](): AsyncGenerator<StreamPart, void, undefined> {
        try {
          yield* stream;
          countSuccess();
        } catch (error) {
          countError();
          throw error;
        } finally {
          end();
        }
      },
      async close() {
        end();
        await stream.close();
      },
    };
  }

  info(): UpstreamInfo {
    const engine = this.backend.engine();
    const recent = this.#recent.summary();
    return {
      name: localMemberName,
      url: `(this server: ${engine.kind})`,
      kind: engine.kind,
      state: "healthy",
      weight: this.weight,
      inFlight: this.#inFlight,
      requestsTotal: this.#requestsTotal,
      errorsTotal: this.#errorsTotal,
      consecutiveFailures: 0,
      latencyMs: this.#latencyMs,
      latencyP50Ms: recent.latencyP50Ms,
      recentAttempts: recent.attempts,
      recentErrorRate: recent.errorRate,
      ejectedUntilMs: undefined,
      models: [this.backend.info.id],
    };
  }
}
