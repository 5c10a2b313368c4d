import { Redis } from "ioredis";
import pg from "pg";
import type { Logger } from "pino";
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  type RateLimiterAbstract,
  type RateLimiterRes,
} from "rate-limiter-flexible";
import { MoestroError } from "../errors/index.js";
import type { UsageSink } from "../spec/index.js";
import type { ApiKey } from "../store/index.js";

/**
 * Where the per-key counters live.
 * - `memory`: in this process; each moestro instance counts alone.
 * - `redis`: in Redis, shared by every instance that uses the same `url` and `keyPrefix`.
 * - `postgres`: in a PostgreSQL table (`moestro_rate_limits`), shared likewise.
 */
export type RateLimitStore =
  | { kind: "memory" }
  | { kind: "redis"; url: string; keyPrefix?: string }
  | { kind: "postgres"; databaseUrl: string; keyPrefix?: string };

/** One limit's state after a check, for the `x-ratelimit-*` headers. */
export interface LimitState {
  /** The limit per minute. */
  limit: number;
  /** What is left in the current window, never below 0. */
  remaining: number;
  /** Time until the window resets, ms. */
  resetMs: number;
}

/** What a check decided. Its headers are sent whether the request is admitted or not. */
export interface RateLimitDecision {
  /** Requests per minute, when the key has that limit. */
  requests?: LimitState;
  /** Tokens per minute, when the key has that limit and the request was checked for tokens. */
  tokens?: LimitState;
  /** Set when the request must be refused: a `rate_limit_exceeded` error carrying `Retry-After`. */
  rejection?: MoestroError;
}

/** Requests-per-minute and tokens-per-minute limits per API key (rate-limiter-flexible, fixed one-minute windows). */
export interface RateLimiter extends AsyncDisposable {
  /**
   * Counts one request of `key` against its requests-per-minute limit and, when `checkTokens`, checks that its tokens
   * per minute are not used up. Tokens are known only when a request ends, so they are counted then
   * ({@link recordTokens}) and a request is refused when the window's tokens already reached the limit. Keys without
   * limits pass and get no state. When the counter store fails, the request passes (limits fail open) and the error
   * is logged. With `countRequest` false (a read such as `GET /v1/models`; defaults to true) the request is neither
   * counted nor refused for requests per minute: the window's state is only read, for the headers.
   */
  check(key: ApiKey, options: { checkTokens: boolean; countRequest?: boolean }): Promise<RateLimitDecision>;
  /** Adds `tokens` (prompt plus completion) to the key's current token window. Never throws; failures are logged. */
  recordTokens(keyId: string, tokens: number): Promise<void>;
  /** Closes the store connection. Idempotent. */
  dispose(): Promise<void>;
}

/** Inputs of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Where counters live. Defaults to `{kind: "memory"}`. */
  store?: RateLimitStore;
  /** Where store failures are logged. */
  logger: Logger;
}

const windowSeconds = 60;
// The limiters never refuse on their own: each key has its own limit, compared with `consumedPoints` here.
const unlimitedPoints = 1e15;

/**
 * Creates the rate limiter on its store, connecting first so that a wrong Redis or PostgreSQL address fails at start.
 *
 * @throws when the Redis or PostgreSQL store cannot be reached.
 */
export async function createRateLimiter(options: RateLimiterOptions): Promise<RateLimiter> {
  const store = options.store ?? { kind: "memory" };
  const logger = options.logger;
  let requests: RateLimiterAbstract;
  let tokens: RateLimiterAbstract;
  let close: () => Promise<void> = async () => undefined;
  const limiterOptions = (name: string, keyPrefix = "moestro") => ({
    points: unlimitedPoints,
    duration: windowSeconds,
    keyPrefix: `${keyPrefix}:rl:${name}`,
  });

  switch (store.kind) {
    case "memory":
      requests = new RateLimiterMemory(limiterOptions("requests"));
      tokens = new RateLimiterMemory(limiterOptions("tokens"));
      break;
    case "redis": {
      const redis = new Redis(store.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      redis.on("error", (error: unknown) => logger.warn({ err: error }, "rate limit store (redis) error"));
      await redis.connect();
      requests = new RateLimiterRedis({ storeClient: redis, ...limiterOptions("requests", store.keyPrefix) });
      tokens = new RateLimiterRedis({ storeClient: redis, ...limiterOptions("tokens", store.keyPrefix) });
      close = async () => {
        await redis.quit().catch(() => redis.disconnect());
      };
      break;
    }
    case "postgres": {
      const pool = new pg.Pool({ connectionString: store.databaseUrl, max: 4 });
      pool.on("error", (error) => logger.warn({ err: error }, "rate limit store (postgres) error"));
      try {
        // One after the other: two concurrent CREATE TABLE IF NOT EXISTS can collide in PostgreSQL's catalog.
        requests = await createPostgresLimiter(pool, limiterOptions("requests", store.keyPrefix));
        tokens = await createPostgresLimiter(pool, { ...limiterOptions("tokens", store.keyPrefix) });
      } catch (error) {
        await pool.end();
        throw error;
      }
      close = () => pool.end();
      break;
    }
    default:
      store satisfies never;
      throw new Error("unknown rate limit store");
  }

  let closing: Promise<void> | undefined;
  return {
    async check(key, { checkTokens, countRequest = true }) {
      const decision: RateLimitDecision = {};
      try {
        if (key.requestsPerMinute !== undefined && !countRequest) {
          decision.requests = stateOf(key.requestsPerMinute, await requests.get(key.id));
        } else if (key.requestsPerMinute !== undefined) {
          const result = await requests.consume(key.id, 1);
          decision.requests = stateOf(key.requestsPerMinute, result);
          if (result.consumedPoints > key.requestsPerMinute) {
            decision.rejection = rejection(`requests per minute (RPM): limit ${key.requestsPerMinute}`, result.msBeforeNext);
          }
        }
        if (checkTokens && key.tokensPerMinute !== undefined) {
          const result = await tokens.get(key.id);
          decision.tokens = stateOf(key.tokensPerMinute, result);
          if (decision.rejection === undefined && (result?.consumedPoints ?? 0) >= key.tokensPerMinute) {
            decision.rejection = rejection(
              `tokens per minute (TPM): limit ${key.tokensPerMinute}, used ${result?.consumedPoints ?? 0}`,
              result?.msBeforeNext ?? 0,
            );
          }
        }
      } catch (error) {
        logger.warn({ err: error, keyId: key.id }, "rate limit check failed; the request passes");
        return {};
      }
      return decision;
    },
    async recordTokens(keyId, count) {
      if (count <= 0) return;
      try {
        await tokens.penalty(keyId, count);
      } catch (error) {
        logger.warn({ err: error, keyId }, "counting tokens for the rate limit failed");
      }
    },
    dispose: () => (closing ??= close()),
    [Symbol.asyncDispose]: () => (closing ??= close()),
  };
}

/**
 * The usage sink that counts each request's tokens (prompt plus completion) against its key's tokens-per-minute
 * window. Requests without a key, and the admin key's, are not counted.
 */
export function createTokenLimitSink(limiter: RateLimiter): UsageSink {
  return {
    async record(event) {
      if (event.keyId === undefined || event.keyId === adminKeyId) return;
      await limiter.recordTokens(event.keyId, event.promptTokens + event.completionTokens);
    },
  };
}

/** The key id the admin key is recorded under in the ledger. */
export const adminKeyId = "admin";

/**
 * A duration in OpenAI's `x-ratelimit-reset-*` format: `250ms` below a second, else minutes and seconds (`1m0s`,
 * `12.5s`), seconds with at most 3 decimals.
 */
export function formatResetDuration(ms: number): string {
  const rounded = Math.max(0, Math.round(ms));
  if (rounded < 1000) return `${rounded}ms`;
  const minutes = Math.floor(rounded / 60_000);
  const seconds = Number(((rounded % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

function stateOf(limit: number, result: RateLimiterRes | null): LimitState {
  const consumed = result?.consumedPoints ?? 0;
  return { limit, remaining: Math.max(0, limit - consumed), resetMs: result?.msBeforeNext ?? windowSeconds * 1000 };
}

function rejection(what: string, msBeforeNext: number): MoestroError {
  const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new MoestroError(
    "rate_limit_exceeded",
    `Rate limit reached for this API key on ${what}. Please try again in ${retryAfterSeconds}s.`,
    { retryAfterSeconds },
  );
}

function createPostgresLimiter(
  pool: pg.Pool,
  limiterOptions: { points: number; duration: number; keyPrefix: string },
): Promise<RateLimiterPostgres> {
  return new Promise((resolve, reject) => {
    const limiter: RateLimiterPostgres = new RateLimiterPostgres(
      { storeClient: pool, storeType: "pool", tableName: "moestro_rate_limits", clearExpiredByTimeout: false, ...limiterOptions },
      (error?: unknown) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(limiter)),
    );
  });
}
