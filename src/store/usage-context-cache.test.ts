import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDownTo, openTestStore, rowWithExistingColumns, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { migrateToLatest, type Store, type UsageRecord } from "./index.js";
import { toUsageEventRow } from "./usage-record.js";

const startedAtMs = Date.UTC(2026, 11, 7, 12);

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    model: "qwen3-moe-cache",
    endpoint: "messages",
    stream: false,
    engine: "inproc",
    status: "ok",
    promptTokens: 500,
    cachedPromptTokens: 0,
    completionTokens: 10,
    reasoningTokens: 0,
    costMicroUsd: 3,
    cloudCostMicroUsd: 7,
    startedAtMs,
    latencyMs: 100,
    ...overrides,
  };
}

describe.each(testDialects)("the ledger's explicit-cache counters (migration 0009) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);
  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("stores created and read tokens apart from the implicit cache's, sums them, and leaves them out of rows without markers", async () => {
    // A request with markers carries both counters (one of them may be 0).
    const created = record({ cacheCreationInputTokens: 400, cacheReadInputTokens: 0 });
    const read = record({ cachedPromptTokens: 420, cacheCreationInputTokens: 0, cacheReadInputTokens: 400 });
    const implicit = record({ cachedPromptTokens: 300 });
    for (const [index, row] of [created, read, implicit].entries()) await store.usage.record(row, startedAtMs + index);
    expect(await rowOf(created.requestId)).toEqual(created);
    expect(await rowOf(read.requestId)).toEqual(read);
    const plain = await rowOf(implicit.requestId);
    expect(plain).toEqual(implicit);
    expect(plain?.cacheReadInputTokens).toBeUndefined();
    const [byModel] = (await store.usage.summarize({ groupBy: "model" })).filter((row) => row.group === "qwen3-moe-cache");
    expect(byModel).toMatchObject({
      cacheCreationInputTokens: 400,
      cacheReadInputTokens: 400,
      cachedPromptTokens: 720,
      promptTokens: 1500,
    });
  });

  it("keeps them on a running row through its heartbeat and its settlement", async () => {
    const row = record({ status: "running", instanceId: "host:1:00000000", heartbeatAtMs: startedAtMs, reservedMicroUsd: 10 });
    expect(await store.usage.start(row, undefined, startedAtMs)).toEqual({ admitted: true, requestId: row.requestId });
    await store.usage.heartbeat([{ ...row, cacheReadInputTokens: 400, heartbeatAtMs: startedAtMs + 1000 }], startedAtMs + 1000);
    expect(await rowOf(row.requestId)).toMatchObject({ status: "running", cacheReadInputTokens: 400 });
    const end: UsageRecord = { ...row, status: "ok", cacheReadInputTokens: 400, latencyMs: 1500, reservedMicroUsd: undefined };
    expect(await store.usage.settle(end, startedAtMs + 1500, { lateFromInterrupted: false })).toBe(true);
    expect(await rowOf(row.requestId)).toMatchObject({ status: "ok", cacheReadInputTokens: 400 });
  });

  it("goes down and up again: rows written before it read 0 (left out)", async () => {
    const down = await migrateDownTo(store, "0006-usage-speculative");
    expect(down.error).toBeUndefined();
    // Every later migration is undone, newest first (0009-usage-context-cache among them), whatever others have been added since.
    expect(down.later).toContain("0009-usage-context-cache");
    expect(down.results).toEqual(down.later.map((name) => [name, "Down", "Success"]));
    const old = record({ requestId: "before-0009", cachedPromptTokens: 12 });
    // The columns of this migration and of every later one are gone: the row is written without them.
    const oldRow = await rowWithExistingColumns(store, "usage_events", toUsageEventRow(old, startedAtMs));
    await store.db.insertInto("usage_events").values(oldRow).execute();
    await migrateToLatest(store.db, { schema: store.schema });
    expect(await rowOf("before-0009")).toEqual(old);
    const columns = await store.db
      .selectFrom("usage_events")
      .select(["cache_creation_input_tokens", "cache_read_input_tokens"])
      .where("request_id", "=", "before-0009")
      .executeTakeFirst();
    expect(columns && [Number(columns.cache_creation_input_tokens), Number(columns.cache_read_input_tokens)]).toEqual([0, 0]);
  });
});
