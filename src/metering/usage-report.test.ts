import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { describeUnpriced } from "../cli/commands/usage.js";
import type { UsageRecord } from "../store/index.js";
import { toWireUsageReport } from "../wire/admin.js";
import { createPriceBook } from "./price-book.js";
import { buildUsageReport } from "./usage-report.js";

const startedAtMs = Date.UTC(2026, 11, 7, 12);

function record(overrides: Partial<UsageRecord>): UsageRecord {
  return {
    requestId: crypto.randomUUID(),
    keyId: "key_budgeted",
    model: "stories260K",
    endpoint: "chat.completions",
    stream: false,
    status: "ok",
    promptTokens: 20,
    cachedPromptTokens: 0,
    completionTokens: 10,
    reasoningTokens: 0,
    costMicroUsd: 0,
    cloudCostMicroUsd: 0,
    startedAtMs,
    latencyMs: 50,
    ...overrides,
  };
}

describe.each(testDialects)("unpriced requests in a usage report, %s store", (dialect) => {
  let opened: TestStore;
  // `free-local` has zero tiers on purpose: priced at $0, not unpriced.
  const priceBook = createPriceBook({
    version: 1,
    prices: [
      {
        model: "free-local",
        kind: "local",
        effectiveFrom: "2020-01-01",
        tiers: [{ inputMicroUsdPerMillionTokens: 0, outputMicroUsdPerMillionTokens: 0 }],
      },
    ],
  });

  beforeAll(async () => {
    opened = await openTestStore(dialect);
    const usage = opened.store.usage;
    // An upstream's model with no price: $0 and no engine time, twice, plus an error without tokens.
    await usage.record(record({ model: "vllm-qwen", engine: undefined, upstream: "vllm" }), startedAtMs);
    await usage.record(record({ model: "vllm-qwen", keyId: "key_other", upstream: "vllm" }), startedAtMs);
    await usage.record(record({ model: "vllm-qwen", status: "error", promptTokens: 0, completionTokens: 0 }), startedAtMs);
    // A local model priced by engine time: it measured time, so it cost something.
    await usage.record(
      record({ model: "stories260K", engine: "inproc", engineTimeUs: 5_000, costMicroUsd: 1, costNanoUsd: 300 }),
      startedAtMs,
    );
    await usage.record(record({ model: "free-local" }), startedAtMs);
  });
  afterAll(() => opened?.dispose());

  it("counts the requests of models without a token price that measured no engine time, whatever the grouping", async () => {
    for (const groupBy of ["key", "model", "day"] as const) {
      const report = await buildUsageReport(opened.store.usage, { groupBy, pricing: { priceBook, now: () => startedAtMs } });
      expect(report.unpriced, groupBy).toEqual({ requests: 2, models: ["vllm-qwen"] });
    }
    // Without a pricing context there is nothing to judge by.
    expect((await buildUsageReport(opened.store.usage, { groupBy: "key" })).unpriced).toBeUndefined();
    // A range without them reports none.
    const later = await buildUsageReport(opened.store.usage, {
      groupBy: "key",
      fromMs: startedAtMs + 1,
      pricing: { priceBook, now: () => startedAtMs },
    });
    expect(later.unpriced).toEqual({ requests: 0, models: [] });
  });

  it("reaches the wire and the CLI's warning, which names the models and says no budget counts them", async () => {
    const wire = toWireUsageReport(
      await buildUsageReport(opened.store.usage, { groupBy: "key", pricing: { priceBook, now: () => startedAtMs } }),
    );
    expect(wire.unpriced).toEqual({ requests: 2, models: ["vllm-qwen"] });
    expect(describeUnpriced(wire)).toBe(
      "Warning: 2 requests of 'vllm-qwen' cost $0: the price book gives no price to these upstream models, so no budget counts them. Give each a tiers or hourly entry (docs/studio.md, Unpriced models).",
    );
    expect(describeUnpriced({ ...wire, unpriced: { requests: 0, models: [] } })).toBeUndefined();
    expect(describeUnpriced({ ...wire, unpriced: null })).toBeUndefined();
  });
});
