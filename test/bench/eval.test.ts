import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEvalDataset, type EvalDataset } from "../../src/bench/eval-dataset.js";
import { createEvalPricer } from "../../src/bench/eval-pricing.js";
import type { EvalAnswerRecord } from "../../src/bench/eval-record.js";
import { evalReportSchema } from "../../src/wire/eval-report.js";
import { runEval, type RunEvalOptions } from "../../src/bench/eval-runner.js";
import { createFileEvalStore, evalStoreFiles } from "../../src/bench/eval-store.js";
import { wilsonInterval } from "../../src/bench/wilson-interval.js";
import { formatEvalReport } from "../../src/cli/commands/eval.js";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import { createPriceBook } from "../../src/metering/price-book.js";
import type { GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, serveApp, startTestServer, type TestServer } from "../helpers/server.js";

/** What the scripted model answers, by a word of the question: right, wrong, unreadable, and an exact match. */
function script(request: GenerateRequest): string | undefined {
  const text = request.input.kind === "chat" ? request.input.messages.map((message) => message.text).join("\n") : request.input.prompt;
  if (text.includes("Mercury")) return "Mercury is closest to the Sun.\nAnswer: A";
  if (text.includes("train")) return "180 / 2.5 = 72, so \\boxed{C}";
  if (text.includes("symbol K")) return "I am not sure about that one.";
  if (text.includes("17 multiplied")) return "17 * 23 = 391";
  if (text.includes("capital")) return "Answer: **Canberra**.";
  return undefined;
}

const questions = [
  { id: "mercury", question: "Which planet is closest to the Sun?", choices: ["Mercury", "Venus", "Earth", "Mars"], answer: "A" },
  {
    id: "train",
    question: "A train covers 180 km in 2.5 hours. Its speed?",
    choices: ["60 km/h", "72 km/h", "75 km/h", "90 km/h"],
    answer: "B",
  },
  {
    id: "potassium",
    question: "Which element has the chemical symbol K?",
    choices: ["Krypton", "Calcium", "Potassium", "Phosphorus"],
    answer: "C",
  },
  { id: "product", question: "What is 17 multiplied by 23?", answer: "391" },
  { id: "canberra", question: "What is the capital city of Australia?", answer: "Canberra" },
];

describe.skipIf(!hasTestModels)("moestro eval against the real server", () => {
  const backends: ModelBackend[] = [];
  let scripted: Awaited<ReturnType<typeof serveApp>>;
  let folder: string;
  let dataset: EvalDataset;
  // 1 USD per 1M prompt tokens and 2 per 1M generated: 1 and 2 micro-USD a token, so sums are exact.
  const pricer = createEvalPricer(createPriceBook(), { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 2 });

  beforeAll(async () => {
    backends.push(await loadTestBackend({ modelPath: testModelPath("stories260K.gguf"), id: "scripted", script }));
    scripted = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-eval-"));
    writeFileSync(path.join(folder, "questions.jsonl"), questions.map((question) => JSON.stringify(question)).join("\n") + "\n");
    dataset = await loadEvalDataset(path.join(folder, "questions.jsonl"));
  });
  afterAll(async () => {
    await scripted?.close();
    for (const backend of backends) await backend.dispose();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  /** Runs the eval of the scripted model over {@link questions}, stored in `dir`, with `options` on top. */
  const evalScripted = (dir: string, options: Partial<RunEvalOptions> = {}) =>
    runEval({ baseUrl: scripted.url, models: ["scripted"], dataset, store: createFileEvalStore(dir), pricer, ...options });

  const readAnswers = (dir: string): EvalAnswerRecord[] =>
    readFileSync(path.join(dir, evalStoreFiles.answers), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("{") && line.endsWith("}"))
      .map((line) => JSON.parse(line) as EvalAnswerRecord);

  it("scores answers in their usual forms, counts unparsable ones apart, and sums costs from the server's usage", async () => {
    const dir = path.join(folder, "scored");
    const report = await evalScripted(dir, { concurrency: 2 });
    // What the writer produces is what the stored-results reader validates (one schema, src/wire/eval-report.ts).
    expect(evalReportSchema.safeParse(JSON.parse(JSON.stringify(report))).error).toBeUndefined();
    const [result] = report.results;
    expect(result).toMatchObject({
      model: "scripted",
      thinking: "default",
      questions: 5,
      done: 5,
      correct: 3,
      wrong: 1,
      unparsable: 1,
      errors: 0,
      accuracy: 0.6,
    });
    const interval = wilsonInterval(3, 5);
    expect(result!.wilsonLower).toBe(interval.lower);
    expect(result!.wilsonUpper).toBe(interval.upper);
    const answers = readAnswers(dir);
    expect(Object.fromEntries(answers.map((answer) => [answer.questionId, [answer.status, answer.extracted]]))).toEqual({
      mercury: ["correct", "A"],
      train: ["wrong", "C"],
      potassium: ["unparsable", undefined],
      product: ["correct", "391"],
      canberra: ["correct", "Canberra"],
    });
    for (const answer of answers) expect(answer.costMicroUsd).toBe(answer.promptTokens! * 1 + answer.completionTokens! * 2);
    const tokens = answers.reduce((sum, answer) => sum + answer.promptTokens! + 2 * answer.completionTokens!, 0);
    expect(result!.costMicroUsd).toBe(tokens);
    expect(result!.costUsd).toBeCloseTo(tokens / 1e6, 12);
    expect(result!.costPer1000QuestionsUsd).toBeCloseTo((tokens / 1e6 / 5) * 1000, 12);
    expect(result!.meanPromptTokens).toBeCloseTo(answers.reduce((sum, answer) => sum + answer.promptTokens!, 0) / 5, 9);
    expect(result!.isParetoOptimal).toBe(true);
    expect(formatEvalReport(report)).toMatch(/scripted\s+default\s+5\/5\s+60\.0\s+23\.1-88\.2\s+1\s+0\s/);

    expect(JSON.parse(readFileSync(path.join(dir, evalStoreFiles.report), "utf8"))).toEqual(report);
    const chart = readFileSync(path.join(dir, evalStoreFiles.chart), "utf8");
    expect(chart.length).toBeGreaterThan(500);
    expect(chart).toMatch(/^<svg /);
    expect(chart).toContain("scripted");
  });

  it("resumes an interrupted eval where it stopped, skipping a line cut short, and refuses another run's folder", async () => {
    const dir = path.join(folder, "resumed");
    const controller = new AbortController();
    const interrupted = evalScripted(dir, {
      concurrency: 1,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.completed === 2) controller.abort();
      },
    });
    await expect(interrupted).rejects.toMatchObject({ name: "AbortError" });
    expect(readAnswers(dir).map((answer) => answer.questionId)).toEqual(["mercury", "train"]);
    // A crash in the middle of a write leaves half a line.
    appendFileSync(path.join(dir, evalStoreFiles.answers), '{"model":"scripted","thinking":"def');

    let calls = 0;
    const countingFetch: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const resumed = await evalScripted(dir, { concurrency: 1, fetch: countingFetch });
    expect(calls).toBe(3);
    expect(resumed.results[0]).toMatchObject({ done: 5, pending: 0, correct: 3, unparsable: 1 });
    expect(
      readAnswers(dir)
        .map((answer) => answer.questionId)
        .sort(),
    ).toEqual(["canberra", "mercury", "potassium", "product", "train"]);

    calls = 0;
    const again = await evalScripted(dir, { fetch: countingFetch });
    expect(calls).toBe(0);
    expect(again.results).toEqual(resumed.results);

    await expect(evalScripted(dir, { maxTokens: 100 })).rejects.toThrow(/another dataset or settings/);
  });

  it("counts failed requests as wrong and apart, and asks them again on the next run", async () => {
    const dir = path.join(folder, "errors");
    const first = await evalScripted(dir, { models: ["no-such-model"], limit: 2 });
    expect(first.results[0]).toMatchObject({ done: 2, errors: 2, correct: 0, accuracy: 0, costMicroUsd: 0 });
    expect(readAnswers(dir).map((answer) => answer.errorCode)).toEqual(["model_not_found", "model_not_found"]);
    let calls = 0;
    await evalScripted(dir, {
      models: ["no-such-model"],
      limit: 2,
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    expect(calls).toBe(2);
  });
});

describe.skipIf(!hasTestModels)("moestro eval thinking modes on tiny-qwen3moe (enable_thinking, thinking_budget)", () => {
  let test: TestServer;
  let folder: string;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("tiny-qwen3moe.gguf") }],
      engine: { contextTokens: 512, batchSize: 64, parallel: 2 },
    });
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-eval-thinking-"));
  });
  afterAll(async () => {
    await test?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("asks each question with thinking off, then on with a budget, and reports reasoning tokens per mode", async () => {
    const report = await runEval({
      baseUrl: test.url,
      models: ["tiny-qwen3moe"],
      thinkingModes: ["off", "on"],
      thinkingBudgetTokens: 4,
      dataset: await loadEvalDataset("sample"),
      limit: 2,
      maxTokens: 16,
      store: createFileEvalStore(folder),
      pricer: createEvalPricer(createPriceBook()),
    });
    const [off, on] = report.results;
    expect(off).toMatchObject({ thinking: "off", done: 2, errors: 0, meanReasoningTokens: 0 });
    expect(on).toMatchObject({ thinking: "on", done: 2, errors: 0 });
    // The budget's 4 tokens, then the closing tag the engine injects.
    expect(on!.meanReasoningTokens!).toBeGreaterThanOrEqual(4);
    expect(on!.meanReasoningTokens!).toBeLessThanOrEqual(7);
    expect(report.settings.thinkingBudgetTokens).toBe(4);
    // Served models cost 0 in the built-in book; the cloud comparison has a price.
    expect(on!.costUsd).toBe(0);
    expect(on!.cloudModel).not.toBeNull();
    expect(on!.cloudCostUsd).toBeGreaterThan(0);
  });
});
