import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDownTo, openTestStore, rowWithExistingColumns, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { migrateToLatest, type Store, type UsageRecord } from "./index.js";
import { toUsageEventRow } from "./usage-record.js";

const startedAtMs = Date.parse("2026-12-07T10:00:00Z");

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_estimated",
    model: "estimated-model",
    endpoint: "chat.completions",
    stream: true,
    engine: "upstream",
    upstream: "old-vllm",
    attempts: 1,
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

describe.each(testDialects)("the ledger's usage_estimated and requested_model columns (migration 0010) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("goes down and up again: rows written before it read as counted (0) and asked for by their model (NULL)", async () => {
    const down = await migrateDownTo(store, "0006-usage-speculative");
    expect(down.error).toBeUndefined();
    // Every later migration is undone, newest first (0010-usage-estimated among them), whatever others have been added since.
    expect(down.later).toContain("0010-usage-estimated");
    expect(down.results).toEqual(down.later.map((name) => [name, "Down", "Success"]));
    const old = record({ requestId: "before-0010" });
    // The columns of this migration and of every later one are gone: the row is written without them.
    const oldRow = await rowWithExistingColumns(store, "usage_events", toUsageEventRow(old, startedAtMs));
    await store.db.insertInto("usage_events").values(oldRow).execute();

    await migrateToLatest(store.db, { schema: store.schema });
    expect(await rowOf("before-0010")).toEqual(old);
    const columns = await store.db
      .selectFrom("usage_events")
      .select(["usage_estimated", "requested_model"])
      .where("request_id", "=", "before-0010")
      .executeTakeFirst();
    expect({ ...columns, usage_estimated: Number(columns?.usage_estimated) }).toEqual({ usage_estimated: 0, requested_model: null });
  });

  it("records both, keeps them through a running row's settlement, and counts estimated rows per group", async () => {
    const estimated = record({ usageEstimated: true, requestedModel: "retired-model" });
    await store.usage.record(estimated, startedAtMs + 1);
    expect(await rowOf(estimated.requestId)).toEqual(estimated);

    // Admitted before the upstream was known (docs/gateway.md): the settlement writes the upstream and the estimate.
    const running = record({
      status: "running",
      upstream: undefined,
      attempts: undefined,
      requestedModel: "retired-model",
      instanceId: "host:1:00000000",
      heartbeatAtMs: startedAtMs,
      reservedMicroUsd: 10,
    });
    expect(await store.usage.start(running, undefined, startedAtMs)).toEqual({ admitted: true, requestId: running.requestId });
    const end: UsageRecord = {
      ...running,
      status: "ok",
      upstream: "old-vllm-2",
      attempts: 2,
      usageEstimated: true,
      latencyMs: 900,
      instanceId: undefined,
      heartbeatAtMs: undefined,
      reservedMicroUsd: undefined,
    };
    expect(await store.usage.settle(end, startedAtMs + 900, { lateFromInterrupted: false })).toBe(true);
    expect(await rowOf(running.requestId)).toMatchObject({
      status: "ok",
      upstream: "old-vllm-2",
      attempts: 2,
      usageEstimated: true,
      requestedModel: "retired-model",
    });

    const [group] = (await store.usage.summarize({ groupBy: "model" })).filter((row) => row.group === "estimated-model");
    // The row from before 0010 is counted, the two others estimated.
    expect(group).toMatchObject({ requests: 3, estimatedRequests: 2 });
  });
});
