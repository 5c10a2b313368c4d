import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, testDialects, type TestStore, type TestStoreTarget } from "../../test/helpers/databases.js";
import { openStore, type Store, type UsageRecord } from "./index.js";

const startedAtMs = Date.parse("2026-03-01T10:00:00Z");

function running(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_run",
    model: "m1",
    endpoint: "completions",
    stream: true,
    status: "running",
    promptTokens: 10,
    cachedPromptTokens: 0,
    completionTokens: 0,
    reasoningTokens: 0,
    costMicroUsd: 10,
    cloudCostMicroUsd: 1,
    startedAtMs,
    latencyMs: 0,
    instanceId: "host:1:00000000",
    heartbeatAtMs: startedAtMs,
    reservedMicroUsd: 30,
    ...overrides,
  };
}

describe.each(testDialects)("running ledger rows on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  let target: TestStoreTarget;
  const daily = async (keyId: string) =>
    (await store.db.selectFrom("usage_daily").selectAll().where("key_id", "=", keyId).execute()).map((row) => ({
      requests: Number(row.requests),
      completion: Number(row.completion_tokens),
      cost: Number(row.cost_micro_usd),
    }));
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    ({ store, target } = opened);
  });
  afterAll(() => opened?.dispose());

  it("admits a row as running, flushes its heartbeats, and settles it into the rollup exactly once", async () => {
    const row = running({ keyId: "key_life" });
    expect(await store.usage.start(row, undefined, startedAtMs)).toEqual({ admitted: true, requestId: row.requestId });
    expect(await rowOf(row.requestId)).toEqual(row);
    expect(await store.usage.listRunning()).toContainEqual(row);
    expect(await daily("key_life")).toEqual([]);

    const beat = { ...row, completionTokens: 3, costMicroUsd: 16, latencyMs: 1000, heartbeatAtMs: startedAtMs + 1000 };
    await store.usage.heartbeat([beat], startedAtMs + 1000);
    expect(await rowOf(row.requestId)).toEqual(beat);

    const end: UsageRecord = { ...beat, status: "ok", completionTokens: 5, costMicroUsd: 20, latencyMs: 1500, reservedMicroUsd: undefined };
    expect(await store.usage.settle(end, startedAtMs + 1500, { lateFromInterrupted: true })).toBe(true);
    expect(await rowOf(row.requestId)).toEqual(end);
    expect(await daily("key_life")).toEqual([{ requests: 1, completion: 5, cost: 20 }]);
    // A second end, or a heartbeat after the end, changes nothing.
    expect(await store.usage.settle({ ...end, costMicroUsd: 99 }, startedAtMs + 2000, { lateFromInterrupted: true })).toBe(false);
    await store.usage.heartbeat([{ ...beat, completionTokens: 50 }], startedAtMs + 3000);
    expect(await rowOf(row.requestId)).toEqual(end);
    expect(await daily("key_life")).toEqual([{ requests: 1, completion: 5, cost: 20 }]);
  });

  it("never moves a running row back: a heartbeat behind the one written (a lower count, an earlier time) is left out", async () => {
    const first = running({ keyId: "key_order" });
    const second = running({ keyId: "key_order" });
    for (const row of [first, second]) await store.usage.start(row, undefined, startedAtMs);
    // A request's final counts commit before a flush that had read its counts earlier, in the same millisecond.
    const final = { ...first, completionTokens: 9, costMicroUsd: 28, latencyMs: 2000, heartbeatAtMs: startedAtMs + 2000 };
    await store.usage.heartbeat([final], startedAtMs + 2000);
    await store.usage.heartbeat([{ ...final, completionTokens: 5, costMicroUsd: 20 }], startedAtMs + 2000);
    expect(await rowOf(first.requestId)).toEqual(final);
    // A tick of both rows (one statement on PostgreSQL): the first is behind in time and left alone, the second moves.
    const secondBeat = {
      ...second,
      completionTokens: 4,
      costMicroUsd: 18,
      cloudCostMicroUsd: 7,
      priceEffectiveAtMs: startedAtMs - 1,
      cloudModel: "cloud-model",
      latencyMs: 1000.5,
      heartbeatAtMs: startedAtMs + 1000,
    };
    await store.usage.heartbeat([{ ...final, heartbeatAtMs: startedAtMs + 1000, latencyMs: 1000 }, secondBeat], startedAtMs + 1000);
    expect(await rowOf(first.requestId)).toEqual(final);
    expect(await rowOf(second.requestId)).toEqual(secondBeat);
  });

  it("reserves against a budget atomically: of 40 concurrent reservations, exactly those that fit are admitted", async () => {
    // Settled spend 40 of a budget of 1000; each request reserves 30: (1000 - 40) / 30 = 32 fit.
    await store.usage.record(
      { ...running({ keyId: "key_budget" }), status: "ok", costMicroUsd: 40, reservedMicroUsd: undefined },
      startedAtMs,
    );
    const budget = { limitMicroUsd: 1000, fromDay: "2026-03-01" };
    // A second handle on the same store: its own connections, as another server process would have.
    const other = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, index) =>
          (index % 2 === 0 ? store : other).usage.start(running({ keyId: "key_budget" }), budget, startedAtMs),
        ),
      );
      const admitted = outcomes.filter((outcome) => outcome.admitted);
      expect(admitted).toHaveLength(32);
      const refused = outcomes.find((outcome) => !outcome.admitted);
      expect(refused).toEqual({ admitted: false, use: { spentMicroUsd: 40, reservedMicroUsd: 32 * 30 } });
      expect(await store.usage.budgetUse("key_budget", "2026-03-01")).toEqual({ spentMicroUsd: 40, reservedMicroUsd: 960 });
      expect((await store.usage.listRunning()).filter((row) => row.keyId === "key_budget")).toHaveLength(32);

      // Settling two at their real cost (10, below their reservation of 30) frees room for one more.
      for (const outcome of admitted.slice(0, 2)) {
        const stored = (await rowOf((outcome as { requestId: string }).requestId))!;
        await store.usage.settle({ ...stored, status: "ok", costMicroUsd: 10, reservedMicroUsd: undefined }, startedAtMs, {
          lateFromInterrupted: false,
        });
      }
      expect(await store.usage.budgetUse("key_budget", "2026-03-01")).toEqual({ spentMicroUsd: 60, reservedMicroUsd: 900 });
      expect((await store.usage.start(running({ keyId: "key_budget" }), budget, startedAtMs)).admitted).toBe(true);
      expect((await store.usage.start(running({ keyId: "key_budget" }), budget, startedAtMs)).admitted).toBe(false);
      // A reservation of the period before does not count in this one.
      expect(await store.usage.budgetUse("key_budget", "2026-03-02")).toEqual({ spentMicroUsd: 0, reservedMicroUsd: 0 });
    } finally {
      await other.dispose();
    }
  });

  it("keeps a reused request id apart (id:uuid) and discards running rows only", async () => {
    const row = running({ keyId: "key_ids", requestId: `same-${dialect}` });
    expect(await store.usage.start(row, undefined, startedAtMs)).toEqual({ admitted: true, requestId: row.requestId });
    const second = await store.usage.start(row, undefined, startedAtMs);
    expect(second).toEqual({ admitted: true, requestId: expect.stringMatching(new RegExp(`^same-${dialect}:[0-9a-f-]{36}$`)) });
    await store.usage.settle({ ...row, status: "ok", reservedMicroUsd: undefined }, startedAtMs, { lateFromInterrupted: false });
    await store.usage.discard(row.requestId);
    await store.usage.discard((second as { requestId: string }).requestId);
    expect((await store.usage.list({ keyId: "key_ids" })).map((stored) => [stored.requestId, stored.status])).toEqual([
      [row.requestId, "ok"],
    ]);
  });

  it("settles an interrupted row again when its request ends after all: the rollup takes the difference", async () => {
    const row = running({ keyId: "key_late", completionTokens: 2, costMicroUsd: 14 });
    await store.usage.start(row, undefined, startedAtMs);
    const interrupted: UsageRecord = { ...row, status: "interrupted", reservedMicroUsd: undefined };
    expect(await store.usage.settle(interrupted, startedAtMs + 5000, { lateFromInterrupted: false })).toBe(true);
    expect(await daily("key_late")).toEqual([{ requests: 1, completion: 2, cost: 14 }]);
    expect(await store.usage.listRunning()).not.toContainEqual(expect.objectContaining({ requestId: row.requestId }));
    // Another sweep finds nothing to do; the request's own end replaces the interruption.
    expect(await store.usage.settle(interrupted, startedAtMs + 6000, { lateFromInterrupted: false })).toBe(false);
    const end: UsageRecord = { ...row, status: "ok", completionTokens: 7, costMicroUsd: 24, reservedMicroUsd: undefined };
    expect(await store.usage.settle(end, startedAtMs + 7000, { lateFromInterrupted: true })).toBe(true);
    expect(await rowOf(row.requestId)).toMatchObject({ status: "ok", completionTokens: 7, costMicroUsd: 24 });
    expect(await daily("key_late")).toEqual([{ requests: 1, completion: 7, cost: 24 }]);
    const [summary] = await store.usage.summarize({ groupBy: "key", fromMs: startedAtMs, toMs: startedAtMs + 1 });
    expect(summary).toBeDefined();
  });

  it("reports interrupted requests apart in the summary", async () => {
    const row = running({ keyId: "key_sum", startedAtMs: startedAtMs + 86_400_000 });
    await store.usage.start(row, undefined, startedAtMs);
    await store.usage.settle({ ...row, status: "interrupted", reservedMicroUsd: undefined }, startedAtMs, { lateFromInterrupted: false });
    const byKey = await store.usage.summarize({ groupBy: "key", fromMs: startedAtMs + 86_400_000 });
    expect(byKey.find((summary) => summary.group === "key_sum")).toMatchObject({
      requests: 1,
      interruptedRequests: 1,
      abortedRequests: 0,
      promptTokens: 10,
      costMicroUsd: 10,
    });
  });
});
