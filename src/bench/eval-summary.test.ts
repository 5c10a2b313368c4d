import { describe, expect, it } from "vitest";
import { createPriceBook } from "../metering/price-book.js";
import { createEvalPricer } from "./eval-pricing.js";
import type { EvalAnswerRecord } from "./eval-record.js";
import { markParetoOptimal, summarizeEvalMode } from "./eval-summary.js";

const base = { model: "m", thinking: "off", expected: "A", startedAtMs: 0, cloudCostMicroUsd: 0 } as const;

function record(questionId: string, status: EvalAnswerRecord["status"], fields: Partial<EvalAnswerRecord> = {}): EvalAnswerRecord {
  return {
    ...base,
    questionId,
    status,
    costMicroUsd: 0,
    latencyMs: 100,
    promptTokens: 10,
    completionTokens: 20,
    reasoningTokens: 0,
    ...fields,
  };
}

describe("summarizeEvalMode", () => {
  it("counts outcomes, scores unparsable answers and errors as wrong, and sums costs in micro-USD", () => {
    const records = [
      record("1", "correct", { costMicroUsd: 1_250, cloudCostMicroUsd: 3, latencyMs: 100 }),
      record("2", "correct", { costMicroUsd: 1_250, cloudCostMicroUsd: 3, latencyMs: 300, reasoningTokens: 8, completionTokens: 40 }),
      record("3", "wrong", { costMicroUsd: 2_500, cloudCostMicroUsd: 4, latencyMs: 200 }),
      record("4", "unparsable", { costMicroUsd: 1, latencyMs: 400 }),
      { ...base, questionId: "5", status: "error", errorCode: "timeout", costMicroUsd: 0, latencyMs: 9_000 },
    ] satisfies EvalAnswerRecord[];
    const result = summarizeEvalMode(records, { model: "m", thinking: "off", questionCount: 6 });
    expect(result).toMatchObject({ questions: 6, done: 5, pending: 1, correct: 2, wrong: 1, unparsable: 1, errors: 1, accuracy: 0.4 });
    expect(result.costMicroUsd).toBe(5_001);
    expect(result.costUsd).toBeCloseTo(0.005001, 12);
    expect(result.costPer1000QuestionsUsd).toBeCloseTo((0.005001 / 5) * 1000, 12);
    expect(result.cloudCostUsd).toBeCloseTo(10e-6, 12);
    // Means are over answered questions: the error has no tokens and its 9 s latency is left out.
    expect(result.meanCompletionTokens).toBe(25);
    expect(result.meanReasoningTokens).toBe(2);
    expect(result.meanLatencyMs).toBe(250);
    expect(result.wilsonLower).toBeCloseTo(0.1176, 4);
    expect(result.wilsonUpper).toBeCloseTo(0.7693, 4);
  });

  it("reports an empty mode without dividing by zero", () => {
    const result = summarizeEvalMode([], { model: "m", thinking: "on", questionCount: 3 });
    expect(result).toMatchObject({
      done: 0,
      pending: 3,
      accuracy: 0,
      wilsonLower: 0,
      wilsonUpper: 1,
      costPer1000QuestionsUsd: 0,
      meanLatencyMs: null,
      meanPromptTokens: null,
    });
  });
});

describe("markParetoOptimal", () => {
  it("keeps the results no other beats on both accuracy and cost", () => {
    const make = (model: string, accuracy: number, costPer1000QuestionsUsd: number) => ({
      ...summarizeEvalMode([record("1", "correct")], { model, thinking: "off", questionCount: 1 }),
      accuracy,
      costPer1000QuestionsUsd,
    });
    const marked = markParetoOptimal(
      [make("cheap", 0.5, 1), make("dear", 0.8, 10), make("dominated", 0.6, 12), make("tie", 0.5, 1)],
      "own",
    );
    expect(marked.map((result) => result.isParetoOptimal)).toEqual([true, true, false, true]);
  });
});

describe("createEvalPricer", () => {
  const book = createPriceBook({
    version: 1,
    includeDefaults: false,
    prices: [
      {
        model: "local-moe",
        kind: "local",
        effectiveFrom: "2020-01-01",
        cloudEquivalent: "cloud-x",
        tiers: [{ inputMicroUsdPerMillionTokens: 100_000, outputMicroUsdPerMillionTokens: 400_000 }],
      },
      {
        model: "cloud-x",
        kind: "cloud",
        effectiveFrom: "2020-01-01",
        tiers: [{ inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 2_000_000 }],
      },
    ],
  });
  const tokens = { promptTokens: 1_000_000, cachedPromptTokens: 0, completionTokens: 500_000, reasoningTokens: 0 };

  it("prices a served model at its local entry and compares with its cloud equivalent", () => {
    expect(createEvalPricer(book).price("local-moe", tokens, Date.now())).toEqual({
      costMicroUsd: 300_000,
      cloudModel: "cloud-x",
      cloudCostMicroUsd: 2_000_000,
    });
  });

  it("prices a cloud model by its own list price, and an unknown one at 0", () => {
    expect(createEvalPricer(book).price("cloud-x", tokens, Date.now()).costMicroUsd).toBe(2_000_000);
    expect(createEvalPricer(book).price("unknown", tokens, Date.now()).costMicroUsd).toBe(0);
  });

  it("takes --price-input / --price-output (USD per 1M tokens) over the book", () => {
    const pricer = createEvalPricer(book, { inputUsdPerMillionTokens: 0.5, outputUsdPerMillionTokens: 1.5 });
    expect(pricer.price("local-moe", tokens, Date.now()).costMicroUsd).toBe(500_000 + 750_000);
    expect(pricer.price("local-moe", { ...tokens, promptTokens: 1_234, completionTokens: 56 }, Date.now()).costMicroUsd).toBe(
      Math.round(1_234 * 0.5 + 56 * 1.5),
    );
    expect(() => createEvalPricer(book, { outputUsdPerMillionTokens: -1 })).toThrow(RangeError);
  });
});
