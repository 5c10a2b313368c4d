import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { openStore, type Store, type UsageRecord } from "../../src/store/index.js";
import { createTestStoreTarget, hasRedis, testDialects, testRedisUrl, type TestStoreTarget } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { writePriceBook } from "../helpers/price-book.js";
import { parseSse, startTestServer, type TestServer } from "../helpers/server.js";

const adminKey = "studio-e2e-admin-key-0123456789";
const day = 86_400_000;

/**
 * Prices for the served models, in micro-USD per million tokens, chosen so that one token costs a round amount: up to 8
 * prompt tokens, 1000 per prompt token and 2000 per generated token; above 8, 3000 and 4000. From `startMs + 1 day`
 * stories260K costs ten times more.
 */
function priceBook(startMs: number): PriceBookInput {
  return {
    version: 1,
    prices: [
      {
        model: "stories260K",
        kind: "local",
        effectiveFrom: "2020-01-01",
        cloudEquivalent: "qwen-plus",
        // Cached prompt tokens at the input price (the default is 20% of it), so that the prefix cache's hits leave
        // these figures alone: cached-token pricing has its own tests (src/metering/cache-pricing.test.ts).
        tiers: [
          {
            maxPromptTokens: 8,
            inputMicroUsdPerMillionTokens: 1_000_000_000,
            cachedInputMicroUsdPerMillionTokens: 1_000_000_000,
            outputMicroUsdPerMillionTokens: 2_000_000_000,
          },
          {
            inputMicroUsdPerMillionTokens: 3_000_000_000,
            cachedInputMicroUsdPerMillionTokens: 3_000_000_000,
            outputMicroUsdPerMillionTokens: 4_000_000_000,
          },
        ],
      },
      {
        model: "stories260K",
        kind: "local",
        effectiveFrom: new Date(startMs + day).toISOString(),
        tiers: [
          {
            inputMicroUsdPerMillionTokens: 10_000_000_000,
            cachedInputMicroUsdPerMillionTokens: 10_000_000_000,
            outputMicroUsdPerMillionTokens: 20_000_000_000,
          },
        ],
      },
    ],
  };
}

async function eventually<T>(read: () => Promise<T>, isDone: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (isDone(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testDialects)("the studio on a real server, %s store", (dialect) => {
  let target: TestStoreTarget;
  let test: TestServer;
  let ledger: Store;
  let folder: string;
  let clockOffsetMs = 0;
  const startMs = Date.now();
  const now = () => Date.now() + clockOffsetMs;

  const clientFor = (apiKey: string) => new OpenAI({ baseURL: `${test.url}/v1`, apiKey, maxRetries: 0 });
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${test.url}/v1/moestro${path}`, {
      ...init,
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json", ...init.headers },
    });
  const createKey = async (body: Record<string, unknown>): Promise<{ id: string; secret: string; prefix: string }> => {
    const response = await admin("/keys", { method: "POST", body: JSON.stringify(body) });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; secret: string; prefix: string };
  };
  const rowsOf = (keyId: string) => ledger.usage.list({ keyId, limit: 10_000 });
  // A response's row is settled once its last byte left, just after the client has it (a round trip later on PostgreSQL).
  const settledRowsOf = (keyId: string) =>
    eventually(
      () => rowsOf(keyId),
      (rows) => rows.every((row) => row.status !== "running"),
    );
  const complete = (apiKey: string, prompt = "Once upon a time", maxTokens = 10) =>
    clientFor(apiKey).completions.create({ model: "stories260K", prompt, max_tokens: maxTokens, temperature: 0 });
  const streamAll = async (apiKey: string): Promise<void> => {
    const stream = await clientFor(apiKey).chat.completions.create({
      model: "stories260K",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 3,
      temperature: 0,
      stream: true,
    });
    for await (const _chunk of stream);
  };

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-studio-"));
    const priceBookPath = writePriceBook(folder, priceBook(startMs));
    test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("stories260K-moe.gguf") }],
        adminKey,
        home: target.home,
        databaseUrl: target.databaseUrl,
        metering: { priceBookPath },
      },
      { now },
    );
    ledger = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  });
  afterAll(async () => {
    await test?.close();
    await ledger?.dispose();
    await target?.cleanup();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("answers 401 in OpenAI's shape without a key or with a wrong one; /health stays open", async () => {
    expect((await fetch(`${test.url}/health`)).status).toBe(200);
    const response = await fetch(`${test.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "stories260K", prompt: "x" }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: { message: expect.stringContaining("API key"), type: "invalid_request_error", param: null, code: "missing_api_key" },
    });
    const error = await complete("mst-notakeynotakeynotakey").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: "invalid_api_key", type: "invalid_request_error" });
  });

  it("meters a request in the ledger: key, model, tokens, tiered cost, cloud equivalent, latencies", async () => {
    const { id, secret } = await createKey({ name: "meter" });
    const completion = await complete(secret);
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 10 });
    const [row] = await settledRowsOf(id);
    expect(row).toMatchObject({
      keyId: id,
      model: "stories260K",
      endpoint: "completions",
      stream: false,
      status: "ok",
      promptTokens: 5,
      completionTokens: 10,
      reasoningTokens: 0,
      costMicroUsd: 5 * 1000 + 10 * 2000,
      priceEffectiveAtMs: Date.parse("2020-01-01T00:00:00Z"),
      cloudModel: "qwen-plus",
      cloudCostMicroUsd: 14, // 5 x $0.40 + 10 x $1.20 per 1M tokens (qwen-plus list price)
    } satisfies Partial<UsageRecord>);
    expect(row!.latencyMs).toBeGreaterThan(0);
    expect(row!.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(row!.timeToFirstTokenMs).toBeLessThanOrEqual(row!.latencyMs);
  });

  it("prices a longer prompt at the higher tier, for the whole request", async () => {
    const { id, secret } = await createKey({ name: "tiers" });
    const completion = await complete(secret, "Once upon a time, there was a little girl named Lily. She loved", 4);
    const promptTokens = completion.usage!.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(8);
    const [row] = await settledRowsOf(id);
    expect(row!.costMicroUsd).toBe(promptTokens * 3000 + 4 * 4000);
  });

  it("applies a new price from its effective date on and never rewrites earlier rows", async () => {
    const { id, secret } = await createKey({ name: "dates" });
    await complete(secret);
    clockOffsetMs = 2 * day;
    try {
      await complete(secret);
    } finally {
      clockOffsetMs = 0;
    }
    const rows = await settledRowsOf(id);
    expect(rows.map((row) => row.costMicroUsd)).toEqual([5 * 1000 + 10 * 2000, 5 * 10_000 + 10 * 20_000]);
    expect(rows[1]!.priceEffectiveAtMs).toBe(Date.parse(new Date(startMs + day).toISOString()));
    expect(rows[1]!.startedAtMs - rows[0]!.startedAtMs).toBeGreaterThanOrEqual(2 * day);
  });

  it("limits a key to its models (403, PermissionDeniedError) and serves the others", async () => {
    const { id, secret } = await createKey({ name: "scoped", models: ["stories260K-moe"] });
    const error = await complete(secret).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error).toMatchObject({ status: 403, code: "model_not_allowed", param: "model" });
    const allowed = await clientFor(secret).completions.create({
      model: "stories260K-moe",
      prompt: "Once upon a time",
      max_tokens: 5,
      temperature: 0,
    });
    expect(allowed.usage?.completion_tokens).toBe(5);
    expect((await settledRowsOf(id)).map((row) => row.model)).toEqual(["stories260K-moe"]);
    const models = [];
    for await (const model of clientFor(secret).models.list()) models.push(model.id);
    expect(models).toEqual(["stories260K-moe"]);
  });

  it("sends x-ratelimit headers on streams and answers 429 rate_limit_exceeded with Retry-After over the limit", async () => {
    const { secret } = await createKey({ name: "rpm", requests_per_minute: 2, tokens_per_minute: 100_000 });
    const response = await fetch(`${test.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "stories260K", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 8, stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("1");
    expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^(\d+ms|[\d.]+s|1m0s)$/);
    expect(response.headers.get("x-ratelimit-limit-tokens")).toBe("100000");
    expect(response.headers.get("x-ratelimit-remaining-tokens")).toBe("100000");
    expect(response.headers.get("x-ratelimit-reset-tokens")).toMatch(/^(\d+ms|[\d.]+s|1m0s)$/);
    expect(parseSse(await response.text()).at(-1)).toBe("[DONE]");
    // The SDK's stream sees them too.
    const { response: raw } = await clientFor(secret)
      .completions.create({ model: "stories260K", prompt: "Hi", max_tokens: 3, stream: true })
      .withResponse();
    expect(raw.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const limited = await complete(secret).catch((caught: unknown) => caught);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    expect(Number((limited as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("counts tokens per minute when requests end and refuses the next request once they are used", async () => {
    const { secret } = await createKey({ name: "tpm", tokens_per_minute: 20 });
    await complete(secret); // 15 tokens
    await complete(secret); // 30: over, but it started under
    const error = await complete(secret).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    expect((error as Error).message).toContain("tokens per minute");
  });

  it("stops a key at its budget: streamed and aborted requests count by the tokens produced", async () => {
    const { id, secret } = await createKey({ name: "budget", budget_micro_usd: 60_000, budget_period: "day" });
    await complete(secret); // 25,000
    // A streamed request the client abandons after its first chunk: metered as aborted, by what was generated. Its worst
    // case (5 prompt tokens and 15 generated: 35,000) is what is left of the budget, so it is admitted.
    const abort = new AbortController();
    const stream = await clientFor(secret).completions.create(
      { model: "stories260K", prompt: "Once upon a time", max_tokens: 15, temperature: 0, stream: true },
      { signal: abort.signal },
    );
    for await (const _chunk of stream) {
      abort.abort();
      break;
    }
    const rows = await eventually(
      () => rowsOf(id),
      (found) => found.length === 2 && found[1]!.status !== "running",
    );
    const aborted = rows[1]!;
    expect(aborted).toMatchObject({ status: "aborted", stream: true, promptTokens: 5 });
    expect(aborted.completionTokens).toBeGreaterThan(0);
    expect(aborted.completionTokens).toBeLessThan(15);
    expect(aborted.costMicroUsd).toBe(5 * 1000 + aborted.completionTokens * 2000);
    // A request is admitted while its worst case (25,000 for 5 prompt and 10 generated tokens) fits in what is left of
    // the budget (60,000); the first that does not fit is refused before it runs.
    let spent = 25_000 + aborted.costMicroUsd;
    while (spent + 25_000 <= 60_000) {
      await complete(secret);
      spent += 25_000;
    }
    expect((await settledRowsOf(id)).reduce((total, row) => total + row.costMicroUsd, 0)).toBe(spent);
    const error = await complete(secret).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: "insufficient_quota", type: "insufficient_quota" });
    expect((error as Error).message).toContain("this request could cost up to $0.025");
    // A smaller request that fits is still served; then not even one token fits.
    const fit = Math.floor((60_000 - spent - 5_000) / 2000);
    if (fit >= 1) spent += 5_000 + (await complete(secret, "Once upon a time", fit)).usage!.completion_tokens * 2000;
    expect(60_000 - spent).toBeLessThan(5_000 + 2000);
    expect(await complete(secret, "Once upon a time", 1).catch((caught: unknown) => caught)).toMatchObject({ code: "insufficient_quota" });
    expect((await settledRowsOf(id)).reduce((total, row) => total + row.costMicroUsd, 0)).toBe(spent);
    expect(spent).toBeLessThanOrEqual(60_000);
    // Listing models is not a spend.
    expect((await fetch(`${test.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
  });

  it("holds a budget under concurrency: of 8 streams at once, only those whose worst case fits run", async () => {
    // 100,000 micro-USD; each stream's worst case is 5 prompt and 10 generated tokens, 25,000: four fit.
    const { id, secret } = await createKey({ name: "concurrent", budget_micro_usd: 100_000, budget_period: "day" });
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async () => {
        try {
          const stream = await clientFor(secret).completions.create({
            model: "stories260K",
            prompt: "Once upon a time",
            max_tokens: 10,
            temperature: 0,
            stream: true,
          });
          for await (const _chunk of stream);
          return "ok";
        } catch (error) {
          return (error as { code?: string }).code;
        }
      }),
    );
    // Requests that end before others are admitted settle at their real cost (here their worst case), so exactly 4 run.
    expect(outcomes.filter((outcome) => outcome === "ok")).toHaveLength(4);
    expect(outcomes.filter((outcome) => outcome === "insufficient_quota")).toHaveLength(4);
    const rows = await settledRowsOf(id);
    expect(rows).toHaveLength(4);
    expect(rows.reduce((total, row) => total + row.costMicroUsd, 0)).toBe(100_000);
  });

  it("meters a stream the same with and without include_usage (C02), and a refused prompt not at all (C17)", async () => {
    const { id, secret } = await createKey({ name: "c02" });
    for (const includeUsage of [true, false]) {
      const stream = await clientFor(secret).completions.create({
        model: "stories260K",
        prompt: "Once upon a time",
        max_tokens: 12,
        temperature: 0,
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      for await (const _chunk of stream);
    }
    const tooLong = await clientFor(secret)
      .completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 1_000_000 })
      .catch((caught: unknown) => caught);
    expect(tooLong).toMatchObject({ status: 400, code: "context_length_exceeded" });
    const rows = await settledRowsOf(id);
    expect(rows.map((row) => [row.stream, row.promptTokens, row.completionTokens, row.costMicroUsd])).toEqual([
      [true, 5, 12, 5 * 1000 + 12 * 2000],
      [true, 5, 12, 5 * 1000 + 12 * 2000],
    ]);
  });

  it("keeps one row per request for many keys at once: none lost, none doubled", async () => {
    const keys = await Promise.all(Array.from({ length: 12 }, (_, index) => createKey({ name: `crowd-${index}` })));
    const perKey = 4;
    // Half of them streamed, all at once: 48 requests for 4 sequences, so most wait in the queue.
    await Promise.all(
      keys.flatMap((key) =>
        Array.from({ length: perKey }, (_, index) =>
          index % 2 === 0 ? complete(key.secret, "Once upon a time", 3) : streamAll(key.secret),
        ),
      ),
    );
    const rows = await eventually(
      async () => (await ledger.usage.list({ limit: 10_000 })).filter((row) => keys.some((key) => key.id === row.keyId)),
      (found) => found.every((row) => row.status !== "running"),
    );
    expect(rows).toHaveLength(keys.length * perKey);
    expect(new Set(rows.map((row) => row.requestId)).size).toBe(rows.length);
    for (const key of keys) expect(rows.filter((row) => row.keyId === key.id)).toHaveLength(perKey);
    expect(rows.every((row) => row.status === "ok" && row.completionTokens === 3)).toBe(true);
    expect(new Set(rows.map((row) => row.endpoint))).toEqual(new Set(["completions", "chat.completions"]));
    const report = (await (await admin("/usage?group_by=key")).json()) as {
      data: Array<{ group: string; requests: number; completion_tokens: number }>;
    };
    for (const key of keys)
      expect(report.data.find((row) => row.group === key.id)).toMatchObject({ requests: perKey, completion_tokens: perKey * 3 });
  });

  it("stores a request whose client reuses an x-request-id as its own row", async () => {
    const { id, secret } = await createKey({ name: "same-id" });
    for (let index = 0; index < 2; index++) {
      await fetch(`${test.url}/v1/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "x-request-id": `fixed-${dialect}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "stories260K", prompt: "Hi", max_tokens: 2 }),
      });
    }
    const rows = await settledRowsOf(id);
    expect(rows).toHaveLength(2);
    expect(rows.map((row) => row.requestId).sort()[0]).toBe(`fixed-${dialect}`);
  });

  it("reports usage by key, model and day with the cloud-list-price equivalent", async () => {
    const byModel = (await (await admin("/usage?group_by=model")).json()) as {
      data: Array<Record<string, unknown>>;
      total: Record<string, unknown>;
    };
    const stories = byModel.data.find((row) => row.name === "stories260K")!;
    expect(stories).toMatchObject({ group: "stories260K", cloud_model: "qwen-plus" });
    expect(stories.requests as number).toBeGreaterThan(10);
    expect(stories.cloud_cost_micro_usd as number).toBeGreaterThan(0);
    expect(stories.total_tokens).toBe((stories.prompt_tokens as number) + (stories.completion_tokens as number));
    const byDay = (await (await admin(`/usage?group_by=day&from=${startMs - day}`)).json()) as { data: Array<{ name: string }> };
    expect(byDay.data.map((row) => row.name)).toContain(new Date(startMs).toISOString().slice(0, 10));
    const byKey = (await (await admin("/usage?group_by=key")).json()) as { data: Array<{ name: string }> };
    expect(byKey.data.map((row) => row.name)).toEqual(expect.arrayContaining(["meter", "tiers", "budget", "crowd-0"]));
  });
});

describe.skipIf(!hasTestModels || !hasRedis)("rate limits shared through Redis on a real server", () => {
  it("counts a key's requests in Redis: the second server sees the first one's count", async () => {
    const keyPrefix = `moestro-e2e-${crypto.randomUUID().slice(0, 8)}`;
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-redis-"));
    const input = {
      models: [{ path: testModelPath("stories260K.gguf") }],
      adminKey,
      home,
      limits: { store: "redis" as const, redisUrl: testRedisUrl, keyPrefix },
    };
    const first = await startTestServer(input);
    const second = await startTestServer(input);
    try {
      const created = (await (
        await fetch(`${first.url}/v1/moestro/keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminKey}` },
          body: JSON.stringify({ name: "shared", requests_per_minute: 1 }),
        })
      ).json()) as { secret: string };
      // A model call counts (listing models would not); a model not served still counts, and answers 404.
      const call = (url: string) =>
        fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${created.secret}` },
          body: JSON.stringify({ model: "ghost", prompt: "hi" }),
        });
      expect((await call(first.url)).status).toBe(404);
      const refused = await call(second.url);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    } finally {
      await first.close();
      await second.close();
      rmSync(home, { recursive: true, force: true });
      const redis = new Redis(testRedisUrl);
      const leftovers = await redis.keys(`${keyPrefix}*`);
      if (leftovers.length > 0) await redis.del(...leftovers);
      redis.disconnect();
    }
  });
});
