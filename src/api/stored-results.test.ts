import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvalModeResult, EvalReport } from "../wire/eval-report.js";
import type { BenchLevelResult, DistributionSummary, ServingBenchReport } from "../wire/bench-report.js";
import { createStoredResultsReader } from "./stored-results.js";

const distribution = (p50: number): DistributionSummary => ({
  count: 4,
  mean: p50,
  min: p50 / 2,
  p50,
  p90: p50 * 1.5,
  p99: p50 * 2,
  max: p50 * 2,
});

function level(concurrency: number): BenchLevelResult {
  return {
    concurrency,
    requests: 8,
    completed: 8,
    errors: 0,
    errorCodes: {},
    durationMs: 1000,
    requestsPerSecond: 8,
    outputTokensPerSecond: 100 * concurrency,
    totalTokensPerSecond: 300 * concurrency,
    goodputRequestsPerSecond: 8,
    sloAttainment: 1,
    promptTokens: 1024,
    outputTokens: 512,
    meanPromptTokens: 128,
    meanOutputTokens: 64,
    ttftMs: distribution(20 * concurrency),
    tpotMs: distribution(4),
    itlMs: distribution(4),
    e2eLatencyMs: distribution(300),
    perRequest: [],
  };
}

/** A report as `moestro bench --out` writes it (typed against src/bench, so a change of their shape shows here). */
const benchReport: ServingBenchReport = {
  settings: {
    endpoint: "chat",
    concurrencyLevels: [1, 2],
    requestsPerLevel: 8,
    prompts: "synthetic",
    promptTokens: 128,
    promptWords: 90,
    maxTokens: 64,
    temperature: 0,
    ignoreEos: false,
    warmupRequests: 2,
    slo: { ttftMs: 1000, tpotMs: 100 },
    schedule: "pool",
  },
  targets: [{ label: "q4", baseUrl: "http://127.0.0.1:8080", model: "qwen3-q4", levels: [level(1), level(2)] }],
  startedAt: "2026-03-01T10:00:00.000Z",
  finishedAt: "2026-03-01T10:01:00.000Z",
};

function modeResult(model: string, thinking: EvalModeResult["thinking"], accuracy: number): EvalModeResult {
  return {
    model,
    thinking,
    questions: 10,
    done: 10,
    pending: 0,
    correct: accuracy * 10,
    wrong: 10 - accuracy * 10,
    unparsable: 0,
    errors: 0,
    accuracy,
    wilsonLower: accuracy - 0.2,
    wilsonUpper: accuracy + 0.1,
    meanPromptTokens: 90,
    meanCompletionTokens: 200,
    meanReasoningTokens: thinking === "on" ? 150 : 0,
    costMicroUsd: 1200,
    costUsd: 0.0012,
    costPer1000QuestionsUsd: 0.12,
    cloudModel: "qwen3-30b-a3b-instruct-2507",
    cloudCostUsd: 0.01,
    cloudCostPer1000QuestionsUsd: 1,
    meanLatencyMs: 800,
    p50LatencyMs: 700,
    p90LatencyMs: 1200,
    isParetoOptimal: true,
  };
}

const evalReport: EvalReport = {
  dataset: { path: "/data/sample.jsonl", sha256: "abc", questions: 10 },
  settings: { datasetSha256: "abc", maxTokens: 256, temperature: 0, seed: null, thinkingBudgetTokens: null, promptVersion: 1 },
  costBasis: "own",
  results: [modeResult("qwen3", "off", 0.6), modeResult("qwen3", "on", 0.8)],
  createdAt: "2026-03-02T09:00:00.000Z",
};

describe("stored bench and eval results", () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-results-"));
    writeFileSync(path.join(dir, "bench-q4.json"), JSON.stringify(benchReport));
    mkdirSync(path.join(dir, "project", "eval-sample"), { recursive: true });
    writeFileSync(path.join(dir, "project", "eval-sample", "results.json"), JSON.stringify(evalReport));
    writeFileSync(path.join(dir, "project", "eval-sample", "manifest.json"), JSON.stringify({ version: 1 }));
    writeFileSync(path.join(dir, "project", "eval-sample", "answers.jsonl"), "{}\n");
    mkdirSync(path.join(dir, "broken"));
    writeFileSync(path.join(dir, "broken", "results.json"), JSON.stringify({ ...evalReport, results: [{ model: "x" }] }));
    writeFileSync(path.join(dir, "notes.json"), JSON.stringify({ hello: "world" }));
    writeFileSync(path.join(dir, "cut.json"), "{");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lists benchmarks and evals newest first, in the wire shape, and says which files it could not read", async () => {
    const list = await createStoredResultsReader(dir).list();
    expect(list.results_dir).toBe(dir);
    expect(list.data.map((run) => [run.kind, run.id])).toEqual([
      ["eval", "project/eval-sample"],
      ["bench", "bench-q4.json"],
    ]);
    const [evalRun, benchRun] = list.data;
    expect(evalRun).toMatchObject({
      kind: "eval",
      dataset: { path: "/data/sample.jsonl", questions: 10 },
      cost_basis: "own",
      max_tokens: 256,
    });
    if (evalRun?.kind !== "eval") throw new Error("expected an eval");
    expect(evalRun.results[1]).toMatchObject({
      model: "qwen3",
      thinking: "on",
      accuracy: 0.8,
      wilson_upper: 0.9,
      cost_per_1000_questions_usd: 0.12,
      is_pareto_optimal: true,
    });
    if (benchRun?.kind !== "bench") throw new Error("expected a bench");
    expect(benchRun).toMatchObject({ endpoint: "chat", prompt_tokens: 128, max_tokens: 64, slo: { ttft_ms: 1000, tpot_ms: 100 } });
    expect(benchRun.targets[0]!.levels[1]).toMatchObject({ concurrency: 2, output_tokens_per_second: 200, ttft_ms: { p50: 40, p99: 80 } });
    expect(benchRun.targets[0]!.levels[1]).not.toHaveProperty("perRequest");
    expect(list.skipped).toEqual([{ id: "broken/results.json", reason: expect.stringContaining("results.0") }]);
  });

  it("answers an empty list for a folder that does not exist yet", async () => {
    const list = await createStoredResultsReader(path.join(dir, "nowhere")).list();
    expect(list).toEqual({ object: "list", results_dir: path.join(dir, "nowhere"), data: [], skipped: [] });
  });
});
