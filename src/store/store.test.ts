import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../../test/helpers/databases.js";
import { openStore, type Store, type UsageRecord } from "./index.js";

const day1 = Date.parse("2026-03-01T10:00:00Z");
const day2 = Date.parse("2026-03-02T23:59:59Z");

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_a",
    model: "m1",
    endpoint: "chat.completions",
    stream: false,
    status: "ok",
    promptTokens: 10,
    cachedPromptTokens: 2,
    completionTokens: 5,
    reasoningTokens: 1,
    costMicroUsd: 7,
    cloudModel: "qwen3.5-flash",
    cloudCostMicroUsd: 11,
    startedAtMs: day1,
    timeToFirstTokenMs: 1.5,
    latencyMs: 12.25,
    ...overrides,
  };
}

describe.each(testDialects)("store on %s", (dialect) => {
  let target: TestStoreTarget;
  let store: Store;

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  });
  afterAll(async () => {
    await store?.dispose();
    await target?.cleanup();
  });

  it("applies migrations once: opening again finds the schema up to date", async () => {
    const again = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    expect(again.dialect).toBe(dialect);
    await again.dispose();
    await again.dispose();
  });

  it("round-trips a ledger row with every field, numbers as numbers", async () => {
    const row = record({
      stream: true,
      status: "error",
      errorCode: "internal_error",
      priceEffectiveAtMs: 1_700_000_000_000,
      engine: "llama-server",
    });
    expect(await store.usage.record(row, day1 + 5)).toBe(row.requestId);
    const [stored] = await store.usage.list({ keyId: "key_a", fromMs: day1, toMs: day1 + 1 });
    expect(stored).toEqual(row);
  });

  it("never loses a request whose id repeats: the second is stored under id:uuid", async () => {
    const first = record({ requestId: "dup-1", keyId: "key_dup" });
    expect(await store.usage.record(first, day1)).toBe("dup-1");
    const storedId = await store.usage.record({ ...first, completionTokens: 9 }, day1);
    expect(storedId).toMatch(/^dup-1:[0-9a-f-]{36}$/);
    const rows = await store.usage.list({ keyId: "key_dup" });
    expect(rows.map((row) => row.completionTokens).sort()).toEqual([5, 9]);
  });

  it("keeps usage_daily equal to the sum of usage_events, under 200 concurrent writers", async () => {
    const keys = Array.from({ length: 20 }, (_, index) => `key_c${index}`);
    const writes = keys.flatMap((keyId) =>
      Array.from({ length: 10 }, (_, index) =>
        record({ keyId, model: index % 2 === 0 ? "m1" : "m2", startedAtMs: index < 5 ? day1 : day2 }),
      ),
    );
    await Promise.all(writes.map((write) => store.usage.record(write, day2)));
    const rows = await store.usage.list({ limit: 10_000 });
    const concurrent = rows.filter((row) => row.keyId?.startsWith("key_c"));
    expect(concurrent).toHaveLength(200);
    expect(new Set(concurrent.map((row) => row.requestId)).size).toBe(200);
    for (const keyId of keys) expect((await store.usage.budgetUse(keyId, "2026-03-01")).spentMicroUsd).toBe(10 * 7);
    expect((await store.usage.budgetUse("key_c0", "2026-03-02")).spentMicroUsd).toBe(5 * 7);
    const daily = await store.db.selectFrom("usage_daily").selectAll().where("key_id", "like", "key_c%").execute();
    expect(daily.reduce((total, row) => total + Number(row.requests), 0)).toBe(200);
    expect(daily.reduce((total, row) => total + Number(row.prompt_tokens), 0)).toBe(2000);
    expect(daily).toHaveLength(20 * 2 * 2);
  });

  it("summarises by key (with names), model and day over a time range", async () => {
    await store.apiKeys.insert({
      id: "key_named",
      name: "team-a",
      prefix: "mst-named000",
      secretSha256: "0".repeat(64),
      createdAtMs: day1,
    });
    await store.usage.record(record({ keyId: "key_named", startedAtMs: day2 }), day2);
    await store.usage.record(record({ keyId: undefined, model: "m3", startedAtMs: day2 }), day2);
    const byKey = await store.usage.summarize({
      groupBy: "key",
      fromMs: Date.parse("2026-03-02T00:00:00Z"),
      toMs: Date.parse("2026-03-03T00:00:00Z"),
    });
    const named = byKey.find((row) => row.group === "key_named");
    expect(named).toMatchObject({
      keyName: "team-a",
      requests: 1,
      promptTokens: 10,
      costMicroUsd: 7,
      cloudCostMicroUsd: 11,
      cloudModel: "qwen3.5-flash",
    });
    expect(byKey.find((row) => row.group === null)).toMatchObject({ requests: 1 });
    const byModel = await store.usage.summarize({ groupBy: "model", fromMs: day2, toMs: day2 + 1 });
    // At day2 exactly: the 100 concurrent rows of the test above (indexes 5 to 9: m2, m1, m2, m1, m2 per key), then these two.
    expect(byModel.map((row) => [row.group, row.requests])).toEqual([
      ["m1", 41],
      ["m2", 60],
      ["m3", 1],
    ]);
    const byDay = await store.usage.summarize({ groupBy: "day" });
    expect(byDay.map((row) => row.group)).toEqual(["2026-03-01", "2026-03-02"]);
    const errors = await store.usage.summarize({ groupBy: "key", fromMs: day1, toMs: day1 + 1 });
    expect(errors.find((row) => row.group === "key_a")).toMatchObject({ requests: 1, errorRequests: 1, abortedRequests: 0 });
  });

  it("finds keys by prefix, refuses a second key with the same prefix, and revokes once", async () => {
    const key = {
      id: "key_p1",
      name: "p",
      prefix: "mst-prefix01",
      secretSha256: "a".repeat(64),
      createdAtMs: day1,
      models: ["m1"],
      requestsPerMinute: 5,
      budgetMicroUsd: 10,
      budgetPeriod: "day" as const,
    };
    expect(await store.apiKeys.insert(key)).toBe(true);
    expect(await store.apiKeys.insert({ ...key, id: "key_p2" })).toBe(false);
    expect(await store.apiKeys.findByPrefix("mst-prefix01")).toEqual(key);
    const revoked = await store.apiKeys.revoke("key_p1", day2);
    expect(revoked?.revokedAtMs).toBe(day2);
    expect((await store.apiKeys.revoke("key_p1", day2 + 1000))?.revokedAtMs).toBe(day2);
    expect(await store.apiKeys.revoke("key_missing", day2)).toBeUndefined();
    expect((await store.apiKeys.list({ includeRevoked: false })).some((listed) => listed.id === "key_p1")).toBe(false);
    expect((await store.apiKeys.list({ includeRevoked: true })).some((listed) => listed.id === "key_p1")).toBe(true);
  });
});
