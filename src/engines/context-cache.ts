/**
 * The explicit context cache's bookkeeping, the same for every local engine: which prompt prefixes are pinned
 * (`cache_control: {"type": "ephemeral"}`), until when, and what a request creates and reads. Keeping a pinned prefix
 * hot is the engine's part: the in-process engine's prefix cache keeps the states that hold one beyond LRU eviction
 * (`PrefixCache`), a llama-server worker keeps it in its slots and `--cache-ram` as llama-server allows
 * (docs/context-cache.md).
 */

/** The most `cache_control` markers one request may carry: 4, Anthropic's and Model Studio's limit. */
export const maxCacheBreakpoints = 4;

/**
 * How long a pinned prefix stays pinned after its creation or its last hit, ms: 5 minutes, Model Studio's explicit
 * cache ("Context cache": "5 minutes (resets on hit)") and Anthropic's default `ephemeral` TTL.
 */
export const explicitCacheTtlMs = 5 * 60 * 1000;

/**
 * The fewest tokens a pinned prefix must have; a marker on a shorter prefix pins nothing (and bills nothing as cached),
 * as Model Studio's and Anthropic's minimum cacheable lengths do. 32, the prefix cache's `defaultMinRestoreTokens`
 * (prefix-cache.ts: a shorter state is not worth saving or restoring); Model Studio's own minimum, 1024, is for its
 * much larger models.
 */
export const minPinnedTokens = 32;

/** The most pins one model keeps at once; a new pin past it replaces the one expiring soonest. */
export const maxPins = 1024;

/** What a request's markers did: the prompt tokens it read from a live pin, and those it pinned anew. */
export interface ExplicitCacheUse {
  /** Tokens of the longest live pinned prefix the prompt starts with (0 when none), billed at the cache-read rate. */
  readTokens: number;
  /** Tokens from there to the request's longest marked prefix, pinned now, billed at the cache-creation rate. */
  creationTokens: number;
}

interface Pin {
  tokens: readonly number[];
  expiresAtMs: number;
}

/** Options of {@link ContextCachePins}. */
export interface ContextCachePinsOptions {
  /** The clock, epoch ms. Defaults to `Date.now`; tests pass a fake one. */
  now?: () => number;
  /** See {@link explicitCacheTtlMs}. Defaults to it. */
  ttlMs?: number;
  /** See {@link minPinnedTokens}. Defaults to it. */
  minTokens?: number;
}

/**
 * The pinned prompt prefixes of one model, keyed by their tokens. A pin lives {@link explicitCacheTtlMs} from its
 * creation or its last hit; expired pins are forgotten lazily (no timer).
 */
export class ContextCachePins {
  readonly #pins = new Map<string, Pin>();
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly minTokens: number;

  constructor(options: ContextCachePinsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? explicitCacheTtlMs;
    this.minTokens = options.minTokens ?? minPinnedTokens;
  }

  /**
   * Applies a request's markers: `prefixLengths` are the prompt tokens each marker covers (any order; those under
   * `minTokens` or past the prompt are ignored). The longest live pin among them is a hit (its TTL renewed); the
   * longer marked prefixes are pinned now (creation). Without a marker that counts, both are 0.
   */
  use(promptTokens: readonly number[], prefixLengths: readonly number[]): ExplicitCacheUse {
    const now = this.#now();
    this.#forgetExpired(now);
    const lengths = [...new Set(prefixLengths)]
      .filter((length) => length >= this.minTokens && length <= promptTokens.length)
      .sort((a, b) => b - a);
    if (lengths.length === 0) return { readTokens: 0, creationTokens: 0 };
    let readTokens = 0;
    for (const length of lengths) {
      const pin = this.#pins.get(keyOf(promptTokens, length));
      if (pin !== undefined) {
        pin.expiresAtMs = now + this.#ttlMs;
        readTokens = length;
        break;
      }
    }
    for (const length of lengths) {
      if (length <= readTokens) break;
      this.#add(promptTokens.slice(0, length), now);
    }
    return { readTokens, creationTokens: lengths[0]! - readTokens };
  }

  /**
   * The length of the longest live pinned prefix that `tokens` start with, 0 when none: what a cache must keep of a
   * state holding `tokens`.
   */
  pinnedLength(tokens: readonly number[]): number {
    const now = this.#now();
    let longest = 0;
    for (const pin of this.#pins.values()) {
      if (pin.expiresAtMs <= now || pin.tokens.length <= longest || pin.tokens.length > tokens.length) continue;
      if (startsWith(tokens, pin.tokens)) longest = pin.tokens.length;
    }
    return longest;
  }

  /** When the pin `tokens` would expire, epoch ms, or `undefined` when no live pin has exactly these tokens (tests, logs). */
  expiresAt(tokens: readonly number[]): number | undefined {
    const pin = this.#pins.get(keyOf(tokens, tokens.length));
    return pin === undefined || pin.expiresAtMs <= this.#now() ? undefined : pin.expiresAtMs;
  }

  /** Live pins now. */
  get size(): number {
    this.#forgetExpired(this.#now());
    return this.#pins.size;
  }

  #add(tokens: readonly number[], now: number): void {
    if (this.#pins.size >= maxPins) {
      let soonest: string | undefined;
      let soonestAt = Number.POSITIVE_INFINITY;
      for (const [key, pin] of this.#pins) {
        if (pin.expiresAtMs < soonestAt) [soonest, soonestAt] = [key, pin.expiresAtMs];
      }
      if (soonest !== undefined) this.#pins.delete(soonest);
    }
    this.#pins.set(keyOf(tokens, tokens.length), { tokens, expiresAtMs: now + this.#ttlMs });
  }

  #forgetExpired(now: number): void {
    for (const [key, pin] of this.#pins) if (pin.expiresAtMs <= now) this.#pins.delete(key);
  }
}

function keyOf(tokens: readonly number[], length: number): string {
  return tokens.slice(0, length).join(",");
}

function startsWith(tokens: readonly number[], prefix: readonly number[]): boolean {
  for (let index = 0; index < prefix.length; index++) if (tokens[index] !== prefix[index]) return false;
  return true;
}
