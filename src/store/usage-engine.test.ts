import { Migrator } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { migrations } from "./migrations/index.js";
import { migrateToLatest, type Store, type UsageRecord } from "./index.js";
import { toUsageEventRow } from "./usage-record.js";

const startedAtMs = Date.parse("2026-04-01T10:00:00Z");

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_engine",
    model: "m1",
    endpoint: "chat.completions",
    stream: false,
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

describe.each(testDialects)("the ledger's engine column (migration 0003) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("keeps the rows written before it with no engine (NULL), and records it from then on", async () => {
    const migrator = new Migrator({
      db: store.db,
      provider: { getMigrations: async () => ({ ...migrations }) },
      migrationTableSchema: store.schema,
    });
    // Back to the schema before 0003 (its `down`), where a row is written without the column, as an older moestro did.
    const down = await migrator.migrateTo("0002-running-requests");
    expect(down.error).toBeUndefined();
    // The later migrations go down first (0004 and on); each must succeed.
    const results = down.results?.map((result) => [result.migrationName, result.direction, result.status]) ?? [];
    expect(results.at(-1)).toEqual(["0003-usage-engine", "Down", "Success"]);
    expect(results.every(([, direction, status]) => direction === "Down" && status === "Success")).toBe(true);
    const old = record({ requestId: "before-0003" });
    // Without the columns of 0003 and of later migrations (0005: upstream, attempts; 0006: the draft counters; 0010:
    // usage_estimated, requested_model).
    const {
      engine: _none,
      upstream: _upstream,
      attempts: _attempts,
      draft_tokens: _drafted,
      accepted_draft_tokens: _accepted,
      usage_estimated: _estimated,
      requested_model: _requested,
      ...oldRow
    } = toUsageEventRow(old, startedAtMs);
    await store.db.insertInto("usage_events").values(oldRow).execute();

    await migrateToLatest(store.db, { schema: store.schema });
    expect(await rowOf("before-0003")).toEqual(old);
    expect((await rowOf("before-0003"))?.engine).toBeUndefined();
    const column = await store.db.selectFrom("usage_events").select("engine").where("request_id", "=", "before-0003").executeTakeFirst();
    expect(column).toEqual({ engine: null });

    const served = record({ engine: "llama-server" });
    await store.usage.record(served, startedAtMs);
    expect(await rowOf(served.requestId)).toEqual(served);
  });

  it("keeps the engine of a running row through its heartbeat and its settlement", async () => {
    const row = record({
      status: "running",
      engine: "inproc",
      instanceId: "host:1:00000000",
      heartbeatAtMs: startedAtMs,
      reservedMicroUsd: 10,
    });
    expect(await store.usage.start(row, undefined, startedAtMs)).toEqual({ admitted: true, requestId: row.requestId });
    expect((await rowOf(row.requestId))?.engine).toBe("inproc");
    await store.usage.heartbeat([{ ...row, completionTokens: 1, heartbeatAtMs: startedAtMs + 1000 }], startedAtMs + 1000);
    const end: UsageRecord = { ...row, status: "ok", completionTokens: 2, latencyMs: 1500, reservedMicroUsd: undefined };
    expect(await store.usage.settle(end, startedAtMs + 1500, { lateFromInterrupted: false })).toBe(true);
    expect(await rowOf(row.requestId)).toMatchObject({ status: "ok", engine: "inproc", completionTokens: 2 });
  });
});
