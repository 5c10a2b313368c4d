import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDownTo, openTestStore, rowWithExistingColumns, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { buildUsageReport } from "../metering/usage-report.js";
import { createPriceBook } from "../metering/price-book.js";
import { migrateToLatest, type Store, type UsageRecord } from "./index.js";
import { toUsageEventRow } from "./usage-record.js";

const startedAtMs = Date.UTC(2026, 11, 7, 12);

function record(overrides: Partial<UsageRecord>): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_time",
    model: "stories260K",
    endpoint: "chat.completions",
    stream: false,
    engine: "inproc",
    status: "ok",
    promptTokens: 20,
    cachedPromptTokens: 0,
    completionTokens: 10,
    reasoningTokens: 0,
    costMicroUsd: 1,
    cloudCostMicroUsd: 6,
    cloudModel: "qwen3.5-flash",
    startedAtMs,
    latencyMs: 50,
    ...overrides,
  };
}

describe.each(testDialects)("the ledger's engine time and nano-USD costs (migration 0007) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("migrates down and up: older rows get their micro-USD costs × 1000 and no engine time, and read back as written", async () => {
    const down = await migrateDownTo(store, "0006-usage-speculative");
    expect(down.error).toBeUndefined();
    // Every later migration is undone, newest first (0007-usage-time-cost among them), whatever others have been added since.
    expect(down.later).toContain("0007-usage-time-cost");
    expect(down.results).toEqual(down.later.map((name) => [name, "Down", "Success"]));
    const old = record({ requestId: "before-0007", costMicroUsd: 7 });
    // The columns of this migration and of every later one are gone: the row is written without them.
    const oldRow = await rowWithExistingColumns(store, "usage_events", toUsageEventRow(old, startedAtMs));
    await store.db.insertInto("usage_events").values(oldRow).execute();
    await store.db
      .insertInto("usage_daily")
      .values({
        day: oldRow.day,
        key_id: "key_old",
        model: old.model,
        requests: 1,
        prompt_tokens: 20,
        cached_prompt_tokens: 0,
        completion_tokens: 10,
        reasoning_tokens: 0,
        cost_micro_usd: 7,
        cloud_cost_micro_usd: 6,
        updated_at: startedAtMs,
      })
      .execute();

    await migrateToLatest(store.db, { schema: store.schema });
    expect(await rowOf("before-0007")).toEqual(old);
    const columns = await store.db
      .selectFrom("usage_events")
      .select(["engine_time_us", "cost_nano_usd", "cloud_cost_nano_usd", "cost_estimated"])
      .where("request_id", "=", "before-0007")
      .executeTakeFirst();
    expect(Object.fromEntries(Object.entries(columns!).map(([key, value]) => [key, Number(value)]))).toEqual({
      engine_time_us: 0,
      cost_nano_usd: 7000,
      cloud_cost_nano_usd: 6000,
      cost_estimated: 0,
    });
    const daily = await store.db.selectFrom("usage_daily").select(["cost_nano_usd"]).where("key_id", "=", "key_old").executeTakeFirst();
    expect(Number(daily?.cost_nano_usd)).toBe(7000);
  });

  it("stores the engine time, the nano-USD costs and the estimate flag, and sums them per model through the rollup", async () => {
    const timed = record({
      model: "time-priced",
      engineTimeUs: 123_456,
      costMicroUsd: 1,
      costNanoUsd: 42,
      cloudCostNanoUsd: 5_555,
      costEstimated: true,
    });
    const running = record({
      model: "time-priced",
      status: "running",
      instanceId: "host:1:00000000",
      heartbeatAtMs: startedAtMs,
      reservedMicroUsd: 0,
    });
    await store.usage.record(timed, startedAtMs);
    expect(await rowOf(timed.requestId)).toEqual(timed);
    expect(await store.usage.start(running, undefined, startedAtMs)).toEqual({ admitted: true, requestId: running.requestId });
    const end: UsageRecord = {
      ...running,
      status: "ok",
      reservedMicroUsd: undefined,
      engineTimeUs: 1_000,
      costMicroUsd: 1,
      costNanoUsd: 8,
      cloudCostNanoUsd: 5_555,
      costEstimated: true,
    };
    expect(await store.usage.settle(end, startedAtMs + 100, { lateFromInterrupted: false })).toBe(true);
    expect(await rowOf(running.requestId)).toMatchObject({ engineTimeUs: 1_000, costNanoUsd: 8, costEstimated: true });
    const report = await buildUsageReport(store.usage, {
      groupBy: "model",
      pricing: { priceBook: createPriceBook(), machine: { watts: 50, source: "test" } },
    });
    const row = report.rows.find((candidate) => candidate.group === "time-priced")!;
    expect(row).toMatchObject({ requests: 2, engineTimeUs: 124_456, costNanoUsd: 50, cloudCostNanoUsd: 11_110, estimatedCostRequests: 2 });
    expect(row.measuredMicroUsdPerMillionOutputTokens).toBeCloseTo((50 * 1000) / 20);
    expect(row.pricing).toMatchObject({ basis: "time", rate: { watts: 50, estimated: true } });
    expect(report.timeRate).toMatchObject({ watts: 50, estimated: true, wattsSource: "test" });
    const byKey = await buildUsageReport(store.usage, { groupBy: "key" });
    expect(byKey.rows.find((candidate) => candidate.group === "key_time")).toMatchObject({ costNanoUsd: 50 + 7000 });
  });
});
