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

/**
 * The member a session goes to when no member holds it here (a session this gateway has not seen, or whose member is
 * unavailable or too loaded): weighted rendezvous hashing (highest random weight; Thaler and Ravishankar, "Using
 * name-based mappings to increase hit rates", IEEE/ACM ToN 1998; the weighted form `-weight / ln(u)` from Schindelhauer
 * and Schomaker, "Weighted distributed hash tables", SPAA 2005). Each member draws `u` in (0, 1) from a hash of the pool,
 * the session and its own name, and the highest `-weight / ln(u)` wins. It depends on nothing but those names and
 * weights, so every gateway instance in front of the same members sends a new session to the same member without
 * sharing any state (docs/gateway.md, "Session affinity"), a member's share of new sessions is its share of the weight,
 * and a member that leaves moves only its own sessions.
 *
 * @param modelId the pool's model id (one session in two pools is hashed apart).
 * @param session the session's name.
 * @param members the candidates, each with a `name` unique in the pool and a `weight` > 0; not empty.
 * @returns the chosen member; ties (vanishingly rare) go to the earlier one.
 * @throws {RangeError} when `members` is empty.
 */
export function rendezvousMember<Member extends { readonly name: string; readonly weight: number }>(
  modelId: string,
  session: string,
  members: readonly Member[],
): Member {
  if (members.length === 0) throw new RangeError("rendezvousMember needs at least one member");
  let best = members[0]!;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const member of members) {
    // (hash + 0.5) / 2^32 lies strictly inside (0, 1), so ln(u) < 0 and the score is finite and positive.
    const u = (hash32(`${modelId}\u0000${session}\u0000${member.name}`) + 0.5) / 2 ** 32;
    const score = -member.weight / Math.log(u);
    if (score > bestScore) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}

/**
 * A 32-bit hash of a string's UTF-16 code units: FNV-1a (Fowler, Noll, Vo; offset basis 2166136261, prime 16777619)
 * followed by MurmurHash3's 32-bit finalizer (`fmix32`), which spreads FNV's weak low bits so that names differing in
 * one character draw unrelated values. Not for security: a client choosing session ids can only choose its own member.
 */
function hash32(text: string): number {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 16777619);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
