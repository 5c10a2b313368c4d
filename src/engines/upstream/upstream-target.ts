import type { Logger } from "pino";
import { loadMetricsUrl, parseUpstreamLoad, type UpstreamLoad } from "../../gateway/load-metrics.js";
import { RecentOutcomes } from "../../gateway/recent-outcomes.js";
import type { Config } from "../../config/index.js";
import type { UpstreamInfo } from "../../spec/index.js";
import { UpstreamClient, UpstreamHttpError } from "../http/upstream-client.js";

/** What an upstream is (config `upstreams[].kind`): which fields it takes and which load metrics it exposes. */
export type UpstreamKind = Config["upstreams"][number]["kind"];

/** The routing rules shared by every upstream (config `gateway`). */
export interface UpstreamRules {
  /** Failures in a row that eject an upstream. */
  ejectAfterFailures: number;
  /** How long an ejected upstream gets no request, ms. */
  cooldownMs: number;
}

/** A model as an upstream's `GET /v1/models` lists it. */
export interface UpstreamModel {
  id: string;
  /** Its context window in tokens, when the upstream says (vLLM `max_model_len`, llama-server `meta.n_ctx_train`). */
  contextTokens?: number;
}

/** Options of {@link UpstreamTarget}. */
export interface UpstreamTargetOptions {
  /** The config entry. */
  entry: Config["upstreams"][number];
  /** The key (read from the variable `entry.apiKeyEnv` names), when it has one. */
  apiKey?: string;
  rules: UpstreamRules;
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * A member of a model's pool, as balancing sees it: an upstream ({@link UpstreamTarget}), or the local model of the
 * same id (`LocalMember`).
 */
export interface PoolMember {
  readonly name: string;
  readonly weight: number;
  /** Requests it is serving now. */
  readonly inFlight: number;
  /** Requests waiting in its own queue (from its `/metrics`, fresh readings only); 0 when unknown. */
  readonly queued: number;
  /** Whether it may get a request now. */
  isAvailable(nowMs?: number): boolean;
  /** When it may get a request again, epoch ms; 0 when it may now. */
  availableAtMs(nowMs?: number): number;
  /** Whether it is waiting out a 429 now. */
  isRateLimited(nowMs?: number): boolean;
  /** Its state for `ps` and `/metrics`. */
  info(): UpstreamInfo;
}

/** How old a `/metrics` load reading may be and still count in balancing, ms (five polls at the default interval). */
export const loadFreshMs = 5_000;

/** Weight of the newest sample in the latency's moving average. */
const latencySmoothing = 0.2;

/**
 * One upstream server: its HTTP client (kept-alive connections), the models it serves, and its health as the gateway
 * sees it. Health follows Envoy's outlier detection: `ejectAfterFailures` failures in a row (connection refused, a
 * timeout before the first byte, a 5xx, a broken stream) or a failed active check eject it for `cooldownMs`; after
 * that a passing active check or a request that succeeds re-admits it, and one more failure ejects it again at once
 * (its failures in a row are not reset until a success). A 429 is not ill health: the upstream is only left out until
 * its `Retry-After` has passed (1 s without one).
 */
export class UpstreamTarget implements PoolMember {
  /** Its name (config `name`, else its URL's `host:port`). */
  readonly name: string;
  /** Its base URL as configured, without a trailing `/`. */
  readonly url: string;
  readonly kind: UpstreamKind;
  /** Its balancing weight, > 0. */
  readonly weight: number;
  /** How long it may go without sending anything, ms (config `timeoutMs`). */
  readonly timeoutMs: number;
  /** How long a generation sent without streaming may take for its whole answer, ms (config `answerTimeoutMs`). */
  readonly answerTimeoutMs: number;
  /** Its HTTP client, based at the server's root (the URL without `/v1`). */
  readonly client: UpstreamClient;
  /** Whether its models come from the config (not refreshed). */
  readonly hasConfiguredModels: boolean;
  readonly #rules: UpstreamRules;
  readonly #logger: Logger;
  readonly #now: () => number;
  #models: UpstreamModel[];
  #discovered = false;
  #ejectedUntilMs: number | undefined;
  #rateLimitedUntilMs: number | undefined;
  #isEjected = false;
  /** Why it was last ejected (its health check's or its requests' failure), shown while it is ejected. */
  #ejectReason: string | undefined;
  /** Why its `GET /v1/models` was last refused (401 or 403: the gateway's key for it is wrong or missing); `undefined` once read. */
  #modelsRefusal: string | undefined;
  /** The server's root (its URL less `/v1`): the client's base. */
  readonly #root: string;
  #inFlight = 0;
  #requestsTotal = 0;
  #errorsTotal = 0;
  #consecutiveFailures = 0;
  #latencyMs: number | undefined;
  /** Its latest attempts, for the console's error rate and median latency. */
  readonly #recent = new RecentOutcomes();
  /** Its own view of its load, from its `/metrics`, and when it was read (epoch ms). */
  #load: UpstreamLoad | undefined;
  #loadReadAtMs = 0;

  constructor(options: UpstreamTargetOptions) {
    const { entry } = options;
    const url = new URL(entry.url);
    this.url = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    this.name = entry.name ?? url.host;
    this.kind = entry.kind;
    this.weight = entry.weight;
    this.timeoutMs = entry.timeoutMs;
    this.answerTimeoutMs = entry.answerTimeoutMs;
    // The client's base is the server's root: OpenAI's routes are `/v1/...` under it, its health check `/health`.
    const root = this.url.replace(/\/v1$/, "");
    this.#root = root;
    // One socket per concurrent request: a gateway sends many at once to one upstream (the client's default is 16).
    this.client = new UpstreamClient({ baseUrl: root, apiKey: options.apiKey, maxSockets: 1024 });
    this.hasConfiguredModels = entry.models !== undefined;
    this.#models = (entry.models ?? []).map((id) => ({ id }));
    this.#rules = options.rules;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** The models it serves (configured, or as last discovered). */
  get models(): readonly UpstreamModel[] {
    return this.#models;
  }

  /** Whether it serves `modelId`. */
  serves(modelId: string): boolean {
    return this.#models.some((model) => model.id === modelId);
  }

  /** Requests it is serving now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Requests waiting in its own queue as its last fresh `/metrics` reading said (at most {@link loadFreshMs} old);
   * 0 when it publishes no load or no reading is fresh.
   */
  get queued(): number {
    return this.#freshLoad()?.waiting ?? 0;
  }

  /** Whether it publishes its load on `/metrics` (kinds `vllm`, `sglang`, `llama-server`, `moestro`). */
  get publishesLoad(): boolean {
    return loadMetricsUrl(this.kind, this.url) !== undefined;
  }

  /**
   * Reads its load from its `/metrics` (`parseUpstreamLoad`), for a kind that publishes one. A failed read (a moestro
   * whose `/metrics` needs its admin key, a server started without `--metrics`) keeps no reading. Never throws.
   */
  async readLoad(): Promise<void> {
    if (!this.publishesLoad) return;
    try {
      const answer = await this.client.get("/metrics", { timeoutMs: 1_000 });
      if (answer.status < 200 || answer.status >= 300) return;
      this.#load = parseUpstreamLoad(this.kind, answer.text);
      this.#loadReadAtMs = this.#now();
    } catch {
      // Balancing goes on by outstanding requests alone until a reading comes.
    }
  }

  #freshLoad(): UpstreamLoad | undefined {
    return this.#load !== undefined && this.#now() - this.#loadReadAtMs <= loadFreshMs ? this.#load : undefined;
  }

  /** Whether it may get a request now: not ejected (or its cooldown passed, for a trial), not waiting out a 429. */
  isAvailable(nowMs: number = this.#now()): boolean {
    if (this.#rateLimitedUntilMs !== undefined && nowMs < this.#rateLimitedUntilMs) return false;
    return !this.#isEjected || nowMs >= (this.#ejectedUntilMs ?? 0);
  }

  /** When it may get a request again, epoch ms (the later of its ejection's and its 429's end); 0 when it may now. */
  availableAtMs(nowMs: number = this.#now()): number {
    const until = Math.max(this.#isEjected ? (this.#ejectedUntilMs ?? 0) : 0, this.#rateLimitedUntilMs ?? 0);
    return until > nowMs ? until : 0;
  }

  /** Whether it is waiting out a 429 now. */
  isRateLimited(nowMs: number = this.#now()): boolean {
    return this.#rateLimitedUntilMs !== undefined && nowMs < this.#rateLimitedUntilMs;
  }

  /** Takes note of a request sent to it; returns the function that ends it (call once). */
  begin(): () => void {
    this.#inFlight++;
    this.#requestsTotal++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
    };
  }

  /** Its time to a request's first event (or its whole JSON answer), ms, into the moving average of its latency. */
  recordLatency(latencyMs: number): void {
    this.#latencyMs = this.#latencyMs === undefined ? latencyMs : this.#latencyMs + latencySmoothing * (latencyMs - this.#latencyMs);
    this.#recent.recordLatency(latencyMs);
  }

  /**
   * A request it answered whole (its stream finished, or its JSON came): re-admits it and resets its failures. Not at
   * the first event: an upstream whose streams all break off midway must still reach `ejectAfterFailures`.
   */
  recordSuccess(): void {
    this.#recent.recordOutcome(false);
    this.#consecutiveFailures = 0;
    if (this.#isEjected) this.#logger.info({ upstream: this.name }, "upstream re-admitted after a request succeeded");
    this.#isEjected = false;
    this.#ejectedUntilMs = undefined;
  }

  /** A request it failed (connection refused, timeout, 5xx, broken stream): ejects it after enough in a row. */
  recordFailure(reason: string): void {
    this.#errorsTotal++;
    this.#recent.recordOutcome(true);
    this.#consecutiveFailures++;
    if (this.#consecutiveFailures >= this.#rules.ejectAfterFailures) this.#eject(reason);
  }

  /** A 429: it gets no request for `retryAfterSeconds` (1 without one); not counted against its health. */
  recordRateLimited(retryAfterSeconds: number | undefined): void {
    this.#errorsTotal++;
    this.#recent.recordOutcome(true);
    this.#rateLimitedUntilMs = this.#now() + (retryAfterSeconds ?? 1) * 1000;
  }

  /**
   * Checks its health: `GET /health` answering 2xx, or, where there is no such route (404, 405), `GET /v1/models`
   * answering 2xx. A failure ejects it (for a fresh cooldown); a pass re-admits it once its cooldown has passed. An
   * upstream whose models were never discovered has them read on its first pass. Never throws.
   */
  async checkHealth(): Promise<boolean> {
    const timeoutMs = Math.min(this.timeoutMs, 5000);
    let healthy: boolean;
    let reason = "";
    try {
      let answer = await this.client.get("/health", { timeoutMs });
      if (answer.status === 404 || answer.status === 405) answer = await this.client.get("/v1/models", { timeoutMs });
      healthy = answer.status >= 200 && answer.status < 300;
      if (!healthy) reason = `health check answered ${answer.status}`;
    } catch (error) {
      healthy = false;
      reason = `health check failed: ${(error as Error).message}`;
    }
    if (!healthy) {
      this.#eject(reason);
      return false;
    }
    // A server that answers /health but refuses its model list (401, 403: the key) serves nothing here: it stays
    // ejected, with the refusal as the reason, until its list is read (docs/gateway.md, "Health").
    if (this.#modelsRefusal !== undefined || (!this.#discovered && !this.hasConfiguredModels)) {
      await this.refreshModels();
      if (this.#modelsRefusal !== undefined) {
        this.#eject(this.#modelsRefusal);
        return false;
      }
    }
    if (this.#isEjected && this.#now() >= (this.#ejectedUntilMs ?? 0)) {
      this.#isEjected = false;
      this.#ejectedUntilMs = undefined;
      this.#consecutiveFailures = 0;
      this.#logger.info({ upstream: this.name }, "upstream re-admitted after a health check");
    }
    return true;
  }

  /**
   * Reads its models from `GET /v1/models` (not for configured models). Keeps the last list when the read fails (logged).
   * A 401 or 403 (its key is wrong or missing) is a failure as a request's would be: it ejects it, with the refusal as
   * the reason, until a read succeeds. Never throws.
   */
  async refreshModels(): Promise<void> {
    if (this.hasConfiguredModels) return;
    const url = `${this.#root}/v1/models`;
    try {
      const answer = await this.client.get("/v1/models", { timeoutMs: Math.min(this.timeoutMs, 10_000) });
      if (answer.status === 401 || answer.status === 403) {
        this.#modelsRefusal = `GET ${url} answered ${answer.status}: the upstream refuses the gateway's key (its key: upstreams[].apiKeyEnv in the config)`;
        this.#eject(this.#modelsRefusal);
      }
      if (answer.status < 200 || answer.status >= 300) throw new UpstreamHttpError(answer.status, answer.text, url);
      this.#modelsRefusal = undefined;
      const models = parseModelList(answer.text);
      const before = this.#models.map((model) => model.id).join(",");
      this.#models = models;
      this.#discovered = true;
      if (models.map((model) => model.id).join(",") !== before)
        this.#logger.info({ upstream: this.name, models: models.map((model) => model.id) }, "upstream models");
    } catch (error) {
      this.#logger.warn({ upstream: this.name, url, err: (error as Error).message }, "cannot read the upstream's models");
    }
  }

  /** Its state, for `ps`, `/metrics` and the console. */
  info(): UpstreamInfo {
    const nowMs = this.#now();
    const until = this.availableAtMs(nowMs);
    const recent = this.#recent.summary();
    return {
      name: this.name,
      url: this.url,
      kind: this.kind,
      state: this.#isEjected ? "ejected" : "healthy",
      weight: this.weight,
      inFlight: this.#inFlight,
      queued: this.#freshLoad()?.waiting,
      kvCacheUsage: this.#freshLoad()?.kvCacheUsage,
      requestsTotal: this.#requestsTotal,
      errorsTotal: this.#errorsTotal,
      consecutiveFailures: this.#consecutiveFailures,
      latencyMs: this.#latencyMs,
      latencyP50Ms: recent.latencyP50Ms,
      recentAttempts: recent.attempts,
      recentErrorRate: recent.errorRate,
      ejectedUntilMs: until === 0 ? undefined : until,
      reason: this.#isEjected ? this.#ejectReason : undefined,
      models: this.#models.map((model) => model.id),
    };
  }

  /** Closes its kept-alive connections. */
  close(): void {
    this.client.close();
  }

  #eject(reason: string): void {
    if (!this.#isEjected) this.#logger.warn({ upstream: this.name, reason, cooldownMs: this.#rules.cooldownMs }, "upstream ejected");
    this.#isEjected = true;
    this.#ejectReason = reason;
    this.#ejectedUntilMs = this.#now() + this.#rules.cooldownMs;
  }
}

/**
 * The models of an OpenAI `GET /v1/models` answer (`{"data": [{"id"}]}`), with a context window where the server gives
 * one: vLLM's `max_model_len`, llama-server's `meta.n_ctx_train`, or `context_length` / `context_window` (LM Studio,
 * OpenRouter).
 *
 * @throws {Error} when the text is not such a list.
 */
export function parseModelList(text: string): UpstreamModel[] {
  const parsed = JSON.parse(text) as { data?: unknown };
  if (!Array.isArray(parsed.data)) throw new Error("GET /v1/models did not answer a list ({data: [...]})");
  const models: UpstreamModel[] = [];
  for (const item of parsed.data as Array<Record<string, unknown>>) {
    if (typeof item?.id !== "string" || item.id.length === 0) continue;
    const meta = item.meta as Record<string, unknown> | undefined;
    const context = [item.max_model_len, meta?.n_ctx_train, item.context_length, item.context_window].find(
      (value): value is number => typeof value === "number" && Number.isInteger(value) && value > 0,
    );
    models.push(context === undefined ? { id: item.id } : { id: item.id, contextTokens: context });
  }
  return models;
}
