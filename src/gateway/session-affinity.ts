/**
 * Where a request of a named session went (`moestro_gateway_affinity_total`): `hit`, to the member that served the
 * session last; `moved`, to another; `new`, the session was not remembered.
 */
export type AffinityOutcome = "hit" | "moved" | "new";

/** Options of {@link SessionAffinity}. */
export interface SessionAffinityOptions {
  /** Sessions remembered; past it the least recently used is forgotten (config `gateway.affinity.maxSessions`). */
  maxSessions: number;
  /** How long a session is remembered after its last request, ms (config `gateway.affinity.ttlMs`). */
  ttlMs: number;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Which pool member served each session last (docs/gateway.md, "Session affinity"), so that a multi-turn chat returns
 * to the server that holds its prefix in cache. Bounded two ways: at most `maxSessions` entries, the least recently
 * used forgotten first (a `Map` keeps insertion order; a use moves the entry to the end), and an entry not used for
 * `ttlMs` is forgotten when next read. Keys are the pool's model id and the session's name, so that one session id
 * used with two models is two sessions.
 */
export class SessionAffinity {
  readonly #entries = new Map<string, { member: string; usedAtMs: number }>();
  readonly #maxSessions: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: SessionAffinityOptions) {
    this.#maxSessions = options.maxSessions;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** Sessions remembered now (expired ones included until they are read). */
  get size(): number {
    return this.#entries.size;
  }

  /** The member that served `session` of `modelId` last, when remembered and not expired. */
  memberOf(modelId: string, session: string): string | undefined {
    const key = sessionKey(modelId, session);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.usedAtMs > this.#ttlMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.member;
  }

  /** Remembers that `member` serves `session` of `modelId` now (the most recently used). */
  remember(modelId: string, session: string, member: string): void {
    const key = sessionKey(modelId, session);
    this.#entries.delete(key);
    this.#entries.set(key, { member, usedAtMs: this.#now() });
    // The first key of a Map is the least recently set: the oldest use.
    while (this.#entries.size > this.#maxSessions) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

function sessionKey(modelId: string, session: string): string {
  return `${modelId}\u0000${session}`;
}

/**
 * Whether a session stays on its member (docs/gateway.md, "Session affinity"): while the member's load score
 * (`(in flight + queued + 1) / weight`, as balancing computes it) is at most `maxLoadRatio` times the least loaded
 * available member's. The `+ 1` makes an idle pool's scores equal, so that sessions stick when nothing is busy; a
 * member with a queue twice as long (at the default ratio 2) gives the session up to balancing, trading its cached
 * prefix for the shorter wait.
 */
export function keepsAffinity(memberScore: number, leastScore: number, maxLoadRatio: number): boolean {
  return memberScore <= leastScore * maxLoadRatio;
}

/**
 * The session a request belongs to: the configured header's value, else (when `userField`) the OpenAI `user` field
 * the client sent; `undefined` when neither names one. Values are cut to 256 characters: a key bounds its memory.
 */
export function sessionOf(headerValue: string | undefined, user: unknown, userField: boolean): string | undefined {
  const named =
    headerValue !== undefined && headerValue !== "" ? headerValue : userField && typeof user === "string" && user !== "" ? user : undefined;
  return named?.slice(0, 256);
}
