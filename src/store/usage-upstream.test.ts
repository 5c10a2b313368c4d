import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDownTo, openTestStore, rowWithExistingColumns, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { migrateToLatest, type Store, type UsageRecord } from "./index.js";
import { toUsageEventRow } from "./usage-record.js";

const startedAtMs = Date.parse("2026-12-01T10:00:00Z");

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_upstream",
    model: "qwen3",
    endpoint: "chat.completions",
    stream: true,
    engine: "upstream",
    status: "ok",
    promptTokens: 3,
    cachedPromptTokens: 0,
    completionTokens: 2,
    reasoningTokens: 0,
    costMicroUsd: 1,
    cloudCostMicroUsd: 0,
    startedAtMs,
    latencyMs: 5,
    ...overrides,
  };
}

describe.each(testDialects)("the ledger's upstream and attempts columns (migration 0005) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("keeps the rows written before it with neither (NULL), and records both from then on", async () => {
    const down = await migrateDownTo(store, "0004-responses");
    expect(down.error).toBeUndefined();
    // Every later migration is undone, newest first (0005-usage-upstream among them), whatever others have been added since.
    expect(down.later).toContain("0005-usage-upstream");
    expect(down.results).toEqual(down.later.map((name) => [name, "Down", "Success"]));
    const old = record({ requestId: "before-0005", engine: "inproc" });
    // The columns of this migration and of every later one are gone: the row is written without them.
    const oldRow = await rowWithExistingColumns(store, "usage_events", toUsageEventRow(old, startedAtMs));
    await store.db.insertInto("usage_events").values(oldRow).execute();

    await migrateToLatest(store.db, { schema: store.schema });
    expect(await rowOf("before-0005")).toEqual(old);
    const columns = await store.db
      .selectFrom("usage_events")
      .select(["upstream", "attempts"])
      .where("request_id", "=", "before-0005")
      .executeTakeFirst();
    expect(columns).toEqual({ upstream: null, attempts: null });

    const served = record({ upstream: "vllm-1", attempts: 2 });
    await store.usage.record(served, startedAtMs);
    expect(await rowOf(served.requestId)).toEqual(served);
  });

  it("keeps them on a running row through its heartbeat and its settlement", async () => {
    const row = record({
      status: "running",
      upstream: "vllm-2",
      attempts: 1,
      instanceId: "host:1:00000000",
      heartbeatAtMs: startedAtMs,
      reservedMicroUsd: 10,
    });
    expect(await store.usage.start(row, undefined, startedAtMs)).toEqual({ admitted: true, requestId: row.requestId });
    await store.usage.heartbeat([{ ...row, completionTokens: 1, heartbeatAtMs: startedAtMs + 1000 }], startedAtMs + 1000);
    const end: UsageRecord = { ...row, status: "ok", completionTokens: 2, latencyMs: 1500, reservedMicroUsd: undefined };
    expect(await store.usage.settle(end, startedAtMs + 1500, { lateFromInterrupted: false })).toBe(true);
    expect(await rowOf(row.requestId)).toMatchObject({ status: "ok", upstream: "vllm-2", attempts: 1, completionTokens: 2 });
  });
});
