import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openTestStore, testDialects, type TestStore, type TestStoreTarget } from "../../test/helpers/databases.js";
import { MoestroError } from "../errors/index.js";
import type { UsageCounts, UsageStart } from "../spec/index.js";
import { openStore, type ServerInstance, type Store } from "../store/index.js";
import { openLedgerSink, type LedgerSink } from "./ledger-sink.js";
import { createPriceBook } from "./price-book.js";

/** 1 micro-USD per prompt token, 10 per generated token, 20 per generated token when the request reasons. */
const priceBook = createPriceBook({
  version: 1,
  includeDefaults: false,
  prices: [
    {
      model: "m",
      kind: "local",
      effectiveFrom: "2020-01-01",
      tiers: [
        {
          inputMicroUsdPerMillionTokens: 1_000_000,
          outputMicroUsdPerMillionTokens: 10_000_000,
          thinkingOutputMicroUsdPerMillionTokens: 20_000_000,
        },
      ],
    },
  ],
});
const startedAtMs = Date.parse("2026-05-10T12:00:00Z");
const logger = pino({ level: "silent" });

/** A request's start with counts the test moves by hand. */
function requestStart(counts: UsageCounts, overrides: Partial<UsageStart> = {}): UsageStart {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_l",
    model: "m",
    endpoint: "completions",
    stream: true,
    startedAtMs,
    maxPromptTokens: counts.promptTokens,
    maxCompletionTokens: 100,
    readCounts: () => ({ ...counts }),
    ...overrides,
  };
}

describe.each(testDialects)("the ledger sink on %s", (dialect) => {
  let opened: TestStore;
  let target: TestStoreTarget;
  let store: Store;
  let instance: ServerInstance;
  let ledger: LedgerSink;
  let clockMs = startedAtMs;
  const now = () => clockMs;
  const rowOf = async (requestId: string) => (await store.usage.list({ limit: 10_000 })).find((row) => row.requestId === requestId);

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    ({ store, target } = opened);
    instance = await store.claimInstance();
    ledger = await openLedgerSink({ usage: store.usage, priceBook, instance, logger, now, heartbeatMs: 60_000, recoverEveryMs: 60_000 });
  });
  afterAll(async () => {
    await ledger?.dispose();
    await opened?.dispose();
  });

  it("prices a model without a token price by its engine time, in nano-USD, marked as an estimate by default", async () => {
    const timeBook = createPriceBook({ version: 1, includeDefaults: false, localTime: { microUsdPerHour: 3_600_000 } });
    const timed = await openLedgerSink({
      usage: store.usage,
      priceBook: timeBook,
      instance,
      logger,
      now,
      machine: { watts: 0, source: "test" },
      heartbeatMs: 60_000,
      recoverEveryMs: 60_000,
    });
    try {
      const counts: UsageCounts = { promptTokens: 3, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
      const start = requestStart(counts, { model: "time-priced", engine: "inproc", keyId: "key_time" });
      const run = await timed.start(start);
      // No engine time yet: a running row costs nothing, and reserves nothing.
      expect(await rowOf(start.requestId)).toMatchObject({ status: "running", costMicroUsd: 0, reservedMicroUsd: 0 });
      // 0.25 ms at $3.6/hour (1 micro-USD per ms, the electricity price a default at 0 W): 250 nano-USD.
      await run.finish({ ...start, ...counts, completionTokens: 2, engineTimeMs: 0.25, status: "ok", latencyMs: 3 });
      expect(await rowOf(start.requestId)).toMatchObject({
        status: "ok",
        engineTimeUs: 250,
        costNanoUsd: 250,
        costMicroUsd: 1,
        costEstimated: true,
      });
    } finally {
      await timed.dispose();
    }
  });

  it("warns once per key and model when a request of a key with a budget costs $0 for want of a price", async () => {
    const warnings: Array<{ msg: string; keyId: string; model: string }> = [];
    const capture = pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const timeBook = createPriceBook({ version: 1, includeDefaults: false, localTime: { microUsdPerHour: 3_600_000 } });
    const timed = await openLedgerSink({ usage: store.usage, priceBook: timeBook, instance, logger: capture, now, heartbeatMs: 60_000 });
    try {
      const counts: UsageCounts = { promptTokens: 3, cachedPromptTokens: 0, completionTokens: 2, reasoningTokens: 0 };
      const budget = { keyName: "unpriced", limitMicroUsd: 1000, period: "day" as const };
      // An upstream's model: no token price and no engine time, so it costs $0.
      const upstreamRequest = async (overrides: Partial<UsageStart>) => {
        const start = requestStart(counts, { model: "vllm-model", keyId: "key_unpriced", budget, ...overrides });
        await (await timed.start(start)).finish({ ...start, ...counts, status: "ok", latencyMs: 3 });
      };
      await upstreamRequest({});
      await upstreamRequest({});
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ keyId: "key_unpriced", model: "vllm-model" });
      expect(warnings[0]!.msg).toContain("the price book gives the model 'vllm-model' no price");
      // Another key warns once too; a key without a budget does not (it has nothing to miss).
      await upstreamRequest({ keyId: "key_unpriced_2" });
      await upstreamRequest({ keyId: "key_free", budget: undefined });
      expect(warnings.map((warning) => warning.keyId)).toEqual(["key_unpriced", "key_unpriced_2"]);
      // A request that measured engine time is priced by it: no warning.
      const start = requestStart(counts, { model: "local-model", engine: "inproc", keyId: "key_unpriced", budget });
      await (await timed.start(start)).finish({ ...start, ...counts, engineTimeMs: 1, status: "ok", latencyMs: 3 });
      expect(warnings).toHaveLength(2);
    } finally {
      await timed.dispose();
    }
  });

  it("writes a running row with its worst case reserved, flushes its counts, and settles it at its real cost", async () => {
    const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
    const start = requestStart(counts, { engine: "llama-server" });
    const run = await ledger.start(start);
    // Worst case: 5 prompt tokens and 100 generated at the thinking price: 5 + 2000.
    expect(await rowOf(start.requestId)).toMatchObject({
      status: "running",
      engine: "llama-server",
      instanceId: instance.id,
      reservedMicroUsd: 2005,
      costMicroUsd: 5,
    });
    counts.completionTokens = 7;
    clockMs += 1000;
    await ledger.flushHeartbeat();
    expect(await rowOf(start.requestId)).toMatchObject({
      status: "running",
      completionTokens: 7,
      costMicroUsd: 75,
      heartbeatAtMs: clockMs,
    });
    await run.finish({ ...start, ...counts, completionTokens: 9, status: "ok", latencyMs: 1200, timeToFirstTokenMs: 3 });
    const settled = await rowOf(start.requestId);
    expect(settled).toMatchObject({
      status: "ok",
      engine: "llama-server",
      completionTokens: 9,
      costMicroUsd: 95,
      latencyMs: 1200,
      timeToFirstTokenMs: 3,
    });
    expect(settled?.reservedMicroUsd).toBeUndefined();
    expect((await store.usage.budgetUse("key_l", "2026-05-10")).spentMicroUsd).toBe(95);
  });

  it("prices a batch line at the book's batch rate (50% by default): its reservation, heartbeats and end", async () => {
    const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 7, reasoningTokens: 0 };
    const start = requestStart(counts, { batch: true, keyId: "key_batch" });
    const run = await ledger.start(start);
    // Half of the real-time worst case (2005) and of the cost so far (75), rounded once.
    expect(await rowOf(start.requestId)).toMatchObject({ status: "running", reservedMicroUsd: 1003, costMicroUsd: 38 });
    await run.finish({ ...start, ...counts, completionTokens: 9, status: "ok", latencyMs: 10 });
    expect(await rowOf(start.requestId)).toMatchObject({ status: "ok", costMicroUsd: 48 });
    // A batch event recorded without a start, too.
    const recorded = requestStart(counts, { batch: true, keyId: "key_batch" });
    await ledger.record({ ...recorded, ...counts, completionTokens: 9, status: "ok", latencyMs: 10 });
    expect(await rowOf(recorded.requestId)).toMatchObject({ costMicroUsd: 48 });
  });

  it("refuses with insufficient_quota what the budget cannot cover, storing nothing, and admits again once spend settles", async () => {
    const budget = { keyName: "tight", limitMicroUsd: 3000, period: "day" as const };
    const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
    const first = await ledger.start(requestStart(counts, { keyId: "key_b", budget, requestId: "b-1" }));
    const refused = await ledger.start(requestStart(counts, { keyId: "key_b", budget, requestId: "b-2" })).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MoestroError);
    expect(refused).toMatchObject({ code: "insufficient_quota", status: 429 });
    expect((refused as Error).message).toContain(
      "has spent $0.00 (plus $0.002005 reserved by its running requests) of its $0.003 daily budget",
    );
    expect((refused as Error).message).toContain("this request could cost up to $0.002005");
    expect(await rowOf("b-2")).toBeUndefined();
    // The first ends having generated 10 tokens: 105 spent, 2895 left, enough for another worst case.
    await first.finish({
      ...requestStart(counts, { keyId: "key_b" }),
      requestId: "b-1",
      ...counts,
      completionTokens: 10,
      status: "ok",
      latencyMs: 1,
    });
    const second = await ledger.start(requestStart(counts, { keyId: "key_b", budget, requestId: "b-3" }));
    await second.cancel();
    expect(await rowOf("b-3")).toBeUndefined();
  });

  it("settles as interrupted the rows of a gone instance, priced by their last heartbeat, and the late end of a live one", async () => {
    const other = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    const otherInstance = await other.claimInstance();
    const otherLedger = await openLedgerSink({
      usage: other.usage,
      priceBook,
      instance: otherInstance,
      logger,
      now,
      heartbeatMs: 60_000,
      recoverEveryMs: 60_000,
    });
    try {
      const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
      const cut = requestStart(counts, { keyId: "key_i", requestId: `cut-${dialect}` });
      const run = await otherLedger.start(cut);
      counts.completionTokens = 4;
      counts.reasoningTokens = 4;
      clockMs += 1000;
      await otherLedger.flushHeartbeat();
      const heartbeatLatencyMs = clockMs - startedAtMs;
      counts.completionTokens = 30; // never flushed: lost with the instance
      if (dialect === "postgres") {
        // Alive (its lock is held) and its heartbeat fresh: left running.
        expect(await ledger.recoverInterrupted()).toBe(0);
      }
      await otherInstance.dispose(); // Its process is gone (on SQLite: same pid, another id, so gone already).
      expect(await ledger.recoverInterrupted()).toBe(1);
      expect(await rowOf(cut.requestId)).toMatchObject({
        status: "interrupted",
        promptTokens: 5,
        completionTokens: 4,
        reasoningTokens: 4,
        costMicroUsd: 5 + 4 * 20,
        latencyMs: heartbeatLatencyMs,
      });
      expect((await store.usage.budgetUse("key_i", "2026-05-10")).spentMicroUsd).toBe(85);
      expect((await store.usage.summarize({ groupBy: "key", fromMs: startedAtMs })).find((row) => row.group === "key_i")).toMatchObject({
        requests: 1,
        interruptedRequests: 1,
      });
      // It was not gone after all (a broken connection): its own end replaces the interruption.
      await run.finish({ ...cut, ...counts, status: "ok", latencyMs: 2000 });
      expect(await rowOf(cut.requestId)).toMatchObject({ status: "ok", completionTokens: 30, costMicroUsd: 5 + 30 * 20 });
      expect((await store.usage.budgetUse("key_i", "2026-05-10")).spentMicroUsd).toBe(605);
    } finally {
      await otherLedger.dispose();
      await other.dispose();
    }
  });

  it("a request checkpointed before its last bytes and cut before it settled is interrupted with its exact final counts", async () => {
    const other = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    const otherInstance = await other.claimInstance();
    const otherLedger = await openLedgerSink({
      usage: other.usage,
      priceBook,
      instance: otherInstance,
      logger,
      now,
      heartbeatMs: 60_000,
      recoverEveryMs: 60_000,
    });
    try {
      const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
      const cut = requestStart(counts, { keyId: "key_c", requestId: `checkpointed-${dialect}` });
      const run = await otherLedger.start(cut);
      counts.completionTokens = 9; // the whole answer, never flushed by a heartbeat
      clockMs += 400;
      // An upstream pool's request is admitted before it is sent: its upstream is named once chosen, written next.
      run.served?.({ upstream: "gpu-2", attempts: 2 });
      expect((await rowOf(cut.requestId))?.upstream).toBeUndefined();
      await run.checkpoint();
      expect(await rowOf(cut.requestId)).toMatchObject({
        status: "running",
        completionTokens: 9,
        costMicroUsd: 95,
        heartbeatAtMs: clockMs,
        upstream: "gpu-2",
        attempts: 2,
      });
      // The process dies after the last bytes were written, before the settlement: the recovery bills what was sent.
      await otherInstance.dispose();
      expect(await ledger.recoverInterrupted()).toBe(1);
      expect(await rowOf(cut.requestId)).toMatchObject({
        status: "interrupted",
        completionTokens: 9,
        costMicroUsd: 95,
        latencyMs: clockMs - startedAtMs,
        upstream: "gpu-2",
        attempts: 2,
      });
    } finally {
      await otherLedger.dispose();
      await other.dispose();
    }
  });

  it("dispose waits for the settlements under way", async () => {
    const own = await openLedgerSink({ usage: store.usage, priceBook, instance, logger, now, heartbeatMs: 60_000, recoverEveryMs: 60_000 });
    const counts = { promptTokens: 1, cachedPromptTokens: 0, completionTokens: 2, reasoningTokens: 0 };
    const start = requestStart(counts, { keyId: "key_d" });
    const run = await own.start(start);
    const settling = run.finish({ ...start, ...counts, status: "ok", latencyMs: 5 });
    await own.dispose();
    expect(await rowOf(start.requestId)).toMatchObject({ status: "ok", completionTokens: 2 });
    await settling;
  });

  it("settles a row whose heartbeat is stale, whoever owns it", async () => {
    const counts = { promptTokens: 2, cachedPromptTokens: 0, completionTokens: 1, reasoningTokens: 0 };
    const start = requestStart(counts, { keyId: "key_s" });
    // A row of this instance that its ledger does not run (lost track of, as when a settlement failed): started by
    // another sink of the same instance.
    const lost = await openLedgerSink({
      usage: store.usage,
      priceBook,
      instance,
      logger,
      now,
      heartbeatMs: 60_000,
      recoverEveryMs: 60_000,
    });
    await lost.start(start);
    await lost.dispose();
    // This instance is alive, but the row has not been flushed for longer than the staleness limit (30 s).
    clockMs += 31_000;
    expect(await ledger.recoverInterrupted()).toBe(1);
    expect(await rowOf(start.requestId)).toMatchObject({ status: "interrupted", completionTokens: 1, costMicroUsd: 12 });
  });

  it("never settles a request it runs, however old its heartbeat: its own end does", async () => {
    const counts = { promptTokens: 2, cachedPromptTokens: 0, completionTokens: 1, reasoningTokens: 0 };
    const start = requestStart(counts, { keyId: "key_live" });
    const run = await ledger.start(start);
    // No heartbeat for far longer than the staleness limit (a heartbeat longer than it, or a store that was down).
    clockMs += 10 * 60_000;
    expect(await ledger.recoverInterrupted()).toBe(0);
    expect(await rowOf(start.requestId)).toMatchObject({ status: "running" });
    await run.finish({ ...start, ...counts, status: "ok", latencyMs: 600_000 });
    expect(await rowOf(start.requestId)).toMatchObject({ status: "ok", completionTokens: 1, costMicroUsd: 12 });
  });

  it("keeps its heartbeat going while a recovery hangs (each timer waits for its own task only)", async () => {
    // A row of another instance, alive and fresh, whose liveness check hangs: the recovery never ends.
    const foreign = requestStart({ promptTokens: 1, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 }, { keyId: "key_h" });
    await store.usage.start(
      {
        ...foreign,
        status: "running",
        promptTokens: 1,
        cachedPromptTokens: 0,
        completionTokens: 0,
        reasoningTokens: 0,
        costMicroUsd: 1,
        cloudCostMicroUsd: 0,
        latencyMs: 0,
        instanceId: "elsewhere:1:00000000",
        heartbeatAtMs: clockMs,
      },
      undefined,
      clockMs,
    );
    let release = (): void => undefined;
    const hanging = new Promise<boolean>((resolve) => (release = () => resolve(false)));
    let checks = 0;
    const slowInstance: ServerInstance = { ...instance, isGone: async () => (checks++ === 0 ? false : await hanging) };
    const own = await openLedgerSink({
      usage: store.usage,
      priceBook,
      instance: slowInstance,
      logger,
      now,
      heartbeatMs: 20,
      recoverEveryMs: 20,
    });
    const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
    const start = requestStart(counts, { keyId: "key_h" });
    try {
      const run = await own.start(start);
      const deadline = Date.now() + 5000;
      while (checks < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(checks).toBe(2); // a recovery is under way, and hangs
      counts.completionTokens = 3;
      while ((await rowOf(start.requestId))?.completionTokens !== 3 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await rowOf(start.requestId)).toMatchObject({ status: "running", completionTokens: 3 });
      await run.finish({ ...start, ...counts, status: "ok", latencyMs: 5 });
    } finally {
      release();
      await own.dispose();
      await store.usage.discard(foreign.requestId);
    }
  });

  it("looks a request's prices up once, at its start, however many heartbeats it has", async () => {
    const countingBook = { ...priceBook };
    const localPrice = vi.spyOn(countingBook, "localPrice");
    const nearestCloudModel = vi.spyOn(countingBook, "nearestCloudModel");
    const own = await openLedgerSink({ usage: store.usage, priceBook: countingBook, instance, logger, now, heartbeatMs: 60_000 });
    try {
      const counts = { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 };
      const start = requestStart(counts, { keyId: "key_p" });
      const run = await own.start(start);
      for (let beat = 1; beat <= 3; beat++) {
        counts.completionTokens = beat;
        await own.flushHeartbeat();
      }
      await run.checkpoint();
      await run.finish({ ...start, ...counts, status: "ok", latencyMs: 5 });
      expect(await rowOf(start.requestId)).toMatchObject({ status: "ok", completionTokens: 3, costMicroUsd: 35 });
      expect(localPrice).toHaveBeenCalledOnce();
      expect(nearestCloudModel).toHaveBeenCalledOnce();
    } finally {
      await own.dispose();
    }
  });

  it("stores a request that was never started as one settled row", async () => {
    await ledger.record({
      ...requestStart(
        { promptTokens: 3, cachedPromptTokens: 0, completionTokens: 0, reasoningTokens: 0 },
        { requestId: "whole", endpoint: "embeddings", engine: "inproc" },
      ),
      promptTokens: 3,
      cachedPromptTokens: 0,
      completionTokens: 0,
      reasoningTokens: 0,
      status: "ok",
      latencyMs: 2,
    });
    expect(await rowOf("whole")).toMatchObject({ status: "ok", costMicroUsd: 3, endpoint: "embeddings", engine: "inproc" });
  });
});
