import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, testDialects, type TestStore } from "../../test/helpers/databases.js";
import type { Store } from "./open-store.js";
import type { UsageRecord } from "./usage-record.js";

const startedAtMs = Date.UTC(2026, 11, 7, 12);

function record(overrides: Partial<UsageRecord>): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    model: "stories260K-padded",
    endpoint: "completions",
    stream: false,
    status: "ok",
    promptTokens: 5,
    cachedPromptTokens: 0,
    completionTokens: 40,
    reasoningTokens: 0,
    costMicroUsd: 0,
    cloudCostMicroUsd: 0,
    startedAtMs,
    latencyMs: 100,
    ...overrides,
  };
}

describe.each(testDialects)("the ledger's speculative decoding counters (migration 0006) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("stores drafted and accepted tokens, sums them by model, and leaves them out of rows that did not speculate", async () => {
    const speculated = record({ draftTokens: 48, acceptedDraftTokens: 36 });
    const plain = record({});
    await store.usage.record(speculated, startedAtMs + 1);
    await store.usage.record(plain, startedAtMs + 2);
    const rows = await store.usage.list({ limit: 10_000 });
    expect(rows.find((row) => row.requestId === speculated.requestId)).toEqual(speculated);
    const plainRow = rows.find((row) => row.requestId === plain.requestId);
    expect(plainRow).toEqual(plain);
    expect(plainRow?.draftTokens).toBeUndefined();
    const [byModel] = (await store.usage.summarize({ groupBy: "model" })).filter((row) => row.group === "stories260K-padded");
    expect(byModel).toMatchObject({ draftTokens: 48, acceptedDraftTokens: 36, completionTokens: 80 });
  });
});
