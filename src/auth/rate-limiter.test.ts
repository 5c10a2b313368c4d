import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, hasPostgres, hasRedis, testRedisUrl } from "../../test/helpers/databases.js";
import { MoestroError } from "../errors/index.js";
import type { ApiKey } from "../store/index.js";
import { createRateLimiter, createTokenLimitSink, formatResetDuration, type RateLimitStore } from "./rate-limiter.js";

const logger = pino({ level: "silent" });
const runId = crypto.randomUUID().slice(0, 8);

function key(fields: Partial<ApiKey>): ApiKey {
  return { id: `key_${crypto.randomUUID().slice(0, 8)}`, name: "test", prefix: "mst-xxxxxxxx", createdAtMs: 0, ...fields };
}

// The PostgreSQL counters' table goes in a schema of this file alone, dropped at the end.
const postgresTarget = hasPostgres ? await createTestStoreTarget("postgres") : undefined;

const stores: Array<[string, RateLimitStore, boolean]> = [
  ["memory", { kind: "memory" }, true],
  ["redis", { kind: "redis", url: testRedisUrl, keyPrefix: `moestro-test-${runId}` }, hasRedis],
  ["postgres", { kind: "postgres", databaseUrl: postgresTarget?.databaseUrl ?? "", keyPrefix: `moestro-test-${runId}` }, hasPostgres],
];

afterAll(async () => {
  if (hasRedis) {
    const redis = new Redis(testRedisUrl);
    const keys = await redis.keys(`moestro-test-${runId}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
  await postgresTarget?.cleanup();
});

describe.each(stores)("rate limits on %s", (name, store, available) => {
  it.skipIf(!available)("counts requests per minute per key and refuses the one over with Retry-After", async () => {
    const limiter = await createRateLimiter({ store, logger });
    try {
      const limited = key({ requestsPerMinute: 3 });
      const remaining: number[] = [];
      for (let index = 0; index < 3; index++) {
        const decision = await limiter.check(limited, { checkTokens: true });
        expect(decision.rejection).toBeUndefined();
        expect(decision.requests).toMatchObject({ limit: 3 });
        expect(decision.requests!.resetMs).toBeGreaterThan(0);
        expect(decision.requests!.resetMs).toBeLessThanOrEqual(60_000);
        expect(decision.tokens).toBeUndefined();
        remaining.push(decision.requests!.remaining);
      }
      expect(remaining).toEqual([2, 1, 0]);
      const over = await limiter.check(limited, { checkTokens: true });
      expect(over.rejection).toBeInstanceOf(MoestroError);
      expect(over.rejection).toMatchObject({ code: "rate_limit_exceeded", status: 429 });
      expect(over.rejection!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(over.rejection!.retryAfterSeconds).toBeLessThanOrEqual(60);
      // Another key has its own window.
      expect((await limiter.check(key({ requestsPerMinute: 3 }), { checkTokens: false })).rejection).toBeUndefined();
    } finally {
      await limiter.dispose();
    }
  });

  it.skipIf(!available)("counts tokens when requests end and refuses new requests once the minute's tokens are used", async () => {
    const limiter = await createRateLimiter({ store, logger });
    try {
      const limited = key({ tokensPerMinute: 100 });
      const sink = createTokenLimitSink(limiter);
      expect((await limiter.check(limited, { checkTokens: true })).tokens).toMatchObject({ limit: 100, remaining: 100 });
      const event = {
        requestId: "r",
        keyId: limited.id,
        model: "m",
        endpoint: "completions" as const,
        stream: false,
        status: "ok" as const,
        cachedPromptTokens: 0,
        reasoningTokens: 0,
        startedAtMs: 0,
        latencyMs: 1,
      };
      await sink.record({ ...event, promptTokens: 40, completionTokens: 20 });
      expect((await limiter.check(limited, { checkTokens: true })).tokens).toMatchObject({ limit: 100, remaining: 40 });
      await sink.record({ ...event, promptTokens: 40, completionTokens: 10 });
      const over = await limiter.check(limited, { checkTokens: true });
      expect(over.tokens!.remaining).toBe(0);
      expect(over.rejection).toMatchObject({ code: "rate_limit_exceeded" });
      expect(over.rejection!.message).toContain("tokens per minute");
      // Listing models (no token check) still passes.
      expect((await limiter.check(limited, { checkTokens: false })).rejection).toBeUndefined();
      // The admin key and keyless requests are not counted.
      await sink.record({ ...event, keyId: "admin", promptTokens: 1000, completionTokens: 0 });
    } finally {
      await limiter.dispose();
    }
  });

  it.skipIf(!available)("gives keys without limits no state and no refusal", async () => {
    const limiter = await createRateLimiter({ store, logger });
    try {
      expect(await limiter.check(key({}), { checkTokens: true })).toEqual({});
    } finally {
      await limiter.dispose();
      await limiter.dispose();
    }
  });

  it.skipIf(!available || name === "memory")("shares counters between instances (several moestro servers)", async () => {
    const first = await createRateLimiter({ store, logger });
    const second = await createRateLimiter({ store, logger });
    try {
      const shared = key({ requestsPerMinute: 2 });
      expect((await first.check(shared, { checkTokens: false })).requests!.remaining).toBe(1);
      expect((await second.check(shared, { checkTokens: false })).requests!.remaining).toBe(0);
      expect((await first.check(shared, { checkTokens: false })).rejection?.code).toBe("rate_limit_exceeded");
    } finally {
      await first.dispose();
      await second.dispose();
    }
  });
});

describe("rate limits when the store fails", () => {
  it.skipIf(!hasRedis)("let requests pass (fail open) and log, rather than fail every request", async () => {
    const warnings: unknown[] = [];
    const limiter = await createRateLimiter({
      store: { kind: "redis", url: testRedisUrl, keyPrefix: `moestro-test-${runId}` },
      logger: pino({ level: "warn" }, { write: (line: string) => warnings.push(line) }),
    });
    await limiter.dispose();
    expect(await limiter.check(key({ requestsPerMinute: 1 }), { checkTokens: true })).toEqual({});
    await limiter.recordTokens("key_x", 10);
    expect(warnings.length).toBeGreaterThanOrEqual(2);
  });

  it("fails at start when Redis cannot be reached", async () => {
    await expect(createRateLimiter({ store: { kind: "redis", url: "redis://127.0.0.1:1" }, logger })).rejects.toThrow();
  });
});

describe("formatResetDuration", () => {
  it("writes OpenAI's x-ratelimit-reset format", () => {
    expect(formatResetDuration(250)).toBe("250ms");
    expect(formatResetDuration(1000)).toBe("1s");
    expect(formatResetDuration(12_500)).toBe("12.5s");
    expect(formatResetDuration(60_000)).toBe("1m0s");
    expect(formatResetDuration(-5)).toBe("0ms");
  });
});
