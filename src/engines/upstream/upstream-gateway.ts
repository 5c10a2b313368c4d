import type { Logger } from "pino";
import type { Config } from "../../config/index.js";
import { MoestroError } from "../../errors/index.js";
import { type AffinityOutcome, keepsAffinity, rendezvousMember, SessionAffinity } from "../../gateway/session-affinity.js";
import type { UpstreamInfo } from "../../spec/index.js";
import { type PoolMember, UpstreamTarget } from "./upstream-target.js";

/** Options of {@link UpstreamGateway}. */
export interface UpstreamGatewayOptions {
  /** `config.upstreams`. */
  upstreams: Config["upstreams"];
  /** `config.gateway`. */
  rules: Config["gateway"];
  /** Where API keys are read (the variables `apiKeyEnv` names). Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/** The context window assumed for an upstream model whose server does not say, tokens (docs/gateway.md). */
export const defaultUpstreamContextTokens = 32_768;

/**
 * The upstreams of `config.upstreams` and the pools their models make: a model id served by several upstreams is one
 * pool. Reads each upstream's models at {@link start} (those without `models` in the config), checks their health
 * every `healthCheckIntervalMs` and reads their models again every `modelsRefreshMs`, both in the background.
 * {@link next} picks a pool's upstream for one request: least outstanding requests per unit of weight, counting what
 * waits in each upstream's own queue as its `/metrics` says (read every `loadPollIntervalMs`, for the kinds that
 * publish it).
 */
export class UpstreamGateway {
  readonly targets: readonly UpstreamTarget[];
  readonly rules: Config["gateway"];
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  /** Breaks ties between equally loaded upstreams in turn, so that one request at a time still spreads. */
  #turn = 0;
  /** The member that served each session last, when `gateway.affinity.enabled`. */
  readonly #affinity: SessionAffinity | undefined;
  readonly #affinityOutcomes: Record<AffinityOutcome, number> = { hit: 0, moved: 0, new: 0 };

  /**
   * @throws {MoestroError} `invalid_request` (param `upstreams`) when two upstreams have the same name, or an
   *   `apiKeyEnv` names a variable that is not set.
   */
  constructor(options: UpstreamGatewayOptions) {
    const env = options.env ?? process.env;
    this.rules = options.rules;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    const targets = options.upstreams.map((entry) => {
      let apiKey: string | undefined;
      if (entry.apiKeyEnv !== undefined) {
        apiKey = env[entry.apiKeyEnv];
        if (apiKey === undefined || apiKey === "")
          throw new MoestroError(
            "invalid_request",
            `the upstream ${entry.name ?? entry.url} takes its API key from the environment variable ${entry.apiKeyEnv} (apiKeyEnv), which is not set.`,
            { param: "upstreams" },
          );
      }
      return new UpstreamTarget({ entry, apiKey, rules: options.rules, logger: options.logger, now: this.#now });
    });
    const names = new Set<string>();
    for (const target of targets) {
      if (names.has(target.name))
        throw new MoestroError(
          "invalid_request",
          `two upstreams are named '${target.name}'; give each its own name (--upstream NAME=URL, or upstreams[].name).`,
          { param: "upstreams" },
        );
      names.add(target.name);
    }
    this.targets = targets;
    const affinity = options.rules.affinity;
    this.#affinity = affinity?.enabled
      ? new SessionAffinity({ maxSessions: affinity.maxSessions, ttlMs: affinity.ttlMs, now: this.#now })
      : undefined;
  }

  /**
   * Requests of a named session since start, by where their pool's first member choice sent them (`next` with nothing
   * tried yet; counted once per request and pool): `hit`, to the member that served the session last; `moved`, to
   * another (that member is unavailable, too loaded, or gone); `new`, a session not remembered (first seen, expired or
   * forgotten). `/metrics` gives them as `moestro_gateway_affinity_total`. All 0 while affinity is off.
   */
  get affinityOutcomes(): Readonly<Record<AffinityOutcome, number>> {
    return this.#affinityOutcomes;
  }

  /** Whether session affinity is on (`gateway.affinity.enabled`). */
  get hasAffinity(): boolean {
    return this.#affinity !== undefined;
  }

  /**
   * Remembers that `member` serves `session` of the pool `modelId` (called once a member answered the session's
   * request), so that the session's next request returns to it ({@link next}). Nothing when affinity is off.
   */
  rememberSession(modelId: string, session: string | undefined, member: PoolMember): void {
    if (session !== undefined) this.#affinity?.remember(modelId, session, member.name);
  }

  /**
   * Reads the models of every upstream that has none configured and checks the others' health, all at once, then
   * starts the background checks. An upstream that cannot be reached is logged, ejected, and tried again at each
   * health check; the server starts anyway.
   */
  async start(): Promise<void> {
    // A passing check reads the models of an upstream whose models were never read.
    await Promise.all(this.targets.map((target) => target.checkHealth()));
    const health = setInterval(
      () => void Promise.all(this.targets.map((target) => target.checkHealth())),
      this.rules.healthCheckIntervalMs,
    );
    const refresh = setInterval(() => void Promise.all(this.targets.map((target) => target.refreshModels())), this.rules.modelsRefreshMs);
    const publishing = this.targets.filter((target) => target.publishesLoad);
    let reading = false;
    const load = setInterval(() => {
      // One round at a time: a slow /metrics never piles up reads.
      if (reading) return;
      reading = true;
      void Promise.all(publishing.map((target) => target.readLoad())).finally(() => (reading = false));
    }, this.rules.loadPollIntervalMs);
    // The checks never keep the process alive on their own.
    health.unref();
    refresh.unref();
    load.unref();
    this.#timers.push(health, refresh, load);
    await Promise.all(publishing.map((target) => target.readLoad()));
    for (const target of this.targets)
      this.#logger.info(
        { upstream: target.name, url: target.url, kind: target.kind, models: target.models.map((model) => model.id) },
        "upstream",
      );
  }

  /** Every model id the upstreams serve, once each, in the order of the upstreams and their lists. */
  modelIds(): string[] {
    const ids = new Set<string>();
    for (const target of this.targets) for (const model of target.models) ids.add(model.id);
    return [...ids];
  }

  /** The context window of a pool: the smallest its upstreams report, else {@link defaultUpstreamContextTokens}. */
  contextTokens(modelId: string): number {
    // A loop, not a chain of arrays: every request to a pool reads it (its budget's worst case, docs/gateway.md "Overhead").
    let smallest: number | undefined;
    for (const target of this.targets)
      for (const model of target.models)
        if (model.id === modelId && model.contextTokens !== undefined && (smallest === undefined || model.contextTokens < smallest))
          smallest = model.contextTokens;
    return smallest ?? defaultUpstreamContextTokens;
  }

  /** The upstreams of a pool, in config order. */
  members(modelId: string): UpstreamTarget[] {
    return this.targets.filter((target) => target.serves(modelId));
  }

  /** The state of a pool's upstreams. */
  info(modelId: string): UpstreamInfo[] {
    return this.members(modelId).map((target) => target.info());
  }

  /** The state of every upstream. */
  allInfo(): UpstreamInfo[] {
    return this.targets.map((target) => target.info());
  }

  /**
   * The next member of a pool for a request (its upstreams, and `localMembers`: the local model of the same id), among
   * those not in `tried`: the available one (not ejected, not waiting out a 429) with the fewest outstanding requests
   * (sent from here, plus those queued in it, `queued`) per unit of weight, ties broken in turn. When none is available, a
   * last resort: the ejected one whose cooldown ends soonest (its ejection may be stale), else the rate-limited one
   * available soonest (which the caller answers 429 without trying); `undefined` when every member was tried.
   *
   * With session affinity on and a `session` whose member is remembered, that member is chosen while it is available,
   * not tried yet, and its score is at most `gateway.affinity.maxLoadRatio` times the least one (`keepsAffinity`);
   * else (a session not held here, or whose member is unavailable, tried or too loaded) the member the session hashes
   * to ({@link rendezvousMember}) among the available ones within that ratio of the least loaded, so that every gateway
   * instance picks the same one; the caller remembers the member that answers ({@link rememberSession}).
   */
  next(
    modelId: string,
    tried: ReadonlySet<PoolMember>,
    localMembers: readonly PoolMember[] = [],
    session?: string,
  ): PoolMember | undefined {
    const nowMs = this.#now();
    const members = [...localMembers, ...this.members(modelId)].filter((target) => !tried.has(target));
    if (members.length === 0) return undefined;
    const available = members.filter((target) => target.isAvailable(nowMs));
    if (available.length === 0) {
      // A last resort: an ejected upstream may have recovered, while one waiting out a 429 would only answer 429 again.
      const ejected = members.filter((target) => !target.isRateLimited(nowMs));
      const pool = ejected.length > 0 ? ejected : members;
      return pool.reduce((best, target) => (target.availableAtMs(nowMs) < best.availableAtMs(nowMs) ? target : best));
    }
    // What this gateway sends it, plus what waits in its own queue (other gateways' and clients' requests, from its
    // /metrics): vLLM's and SGLang's routers weigh the same two (docs/gateway.md, "Balancing").
    const score = (target: PoolMember) => (target.inFlight + target.queued + 1) / target.weight;
    const best = Math.min(...available.map(score));
    if (session !== undefined && this.#affinity !== undefined) {
      const name = this.#affinity.memberOf(modelId, session);
      const sticky = name === undefined ? undefined : available.find((target) => target.name === name);
      const keeps = sticky !== undefined && keepsAffinity(score(sticky), best, this.rules.affinity.maxLoadRatio);
      if (tried.size === 0) this.#affinityOutcomes[name === undefined ? "new" : keeps ? "hit" : "moved"]++;
      if (keeps) return sticky;
      // Not held here, or its member cannot keep it: the member the session hashes to among those within the ratio of
      // the least loaded, which another gateway instance that never saw the session picks too (no shared state).
      const eligible = available.filter((target) => keepsAffinity(score(target), best, this.rules.affinity.maxLoadRatio));
      return rendezvousMember(modelId, session, eligible);
    }
    const tied = available.filter((target) => score(target) === best);
    return tied[this.#turn++ % tied.length];
  }

  /** Stops the background checks and closes every upstream's connections. */
  dispose(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    for (const target of this.targets) target.close();
  }
}
