import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBenchDataset } from "../../src/bench/bench-prompts.js";
import { chartPathFor, writeBenchReportFiles } from "../../src/bench/bench-report-files.js";
import { servingBenchReportSchema, type DistributionSummary } from "../../src/wire/bench-report.js";
import { runServingBench } from "../../src/bench/serving-bench.js";
import { formatBenchReport } from "../../src/cli/commands/bench.js";
import { createAdminClient } from "../../src/client/admin-client.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

function expectOrdered(summary: DistributionSummary): void {
  expect(summary.min!).toBeLessThanOrEqual(summary.p50!);
  expect(summary.p50!).toBeLessThanOrEqual(summary.p90!);
  expect(summary.p90!).toBeLessThanOrEqual(summary.p99!);
  expect(summary.p99!).toBeLessThanOrEqual(summary.max!);
}

describe.skipIf(!hasTestModels)("moestro bench against the real server (stories260K)", () => {
  let test: TestServer;
  let folder: string;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("stories260K-q8_0.gguf") }],
      engine: { parallel: 2 },
    });
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-"));
  });
  afterAll(async () => {
    await test?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("measures figures that hold together, sizes prompts to --prompt-tokens, and writes the report and its chart", async () => {
    const phases = new Set<string>();
    const report = await runServingBench({
      targets: [{ label: "stories", baseUrl: test.url, model: "stories260K" }],
      concurrencyLevels: [1, 2],
      requestsPerLevel: 4,
      promptTokens: 48,
      maxTokens: 16,
      warmupRequests: 1,
      onProgress: (progress) => phases.add(progress.phase),
    });
    expect([...phases]).toEqual(["calibrate", "warmup", "measure"]);
    // What the writer produces is what the stored-results reader validates (one schema, src/wire/bench-report.ts).
    expect(servingBenchReportSchema.safeParse(JSON.parse(JSON.stringify(report))).error).toBeUndefined();
    expect(report.settings.schedule).toBe("pool");
    const levels = report.targets[0]!.levels;
    expect(levels.map((level) => level.concurrency)).toEqual([1, 2]);
    for (const level of levels) {
      expect(level).toMatchObject({ requests: 4, completed: 4, errors: 0 });
      for (const request of level.perRequest) {
        expect(request.ok).toBe(true);
        expect(request.outputTokensSource).toBe("usage");
        expect(request.ttftMs!).toBeGreaterThan(0);
        expect(request.ttftMs!).toBeLessThan(request.e2eLatencyMs);
        expect(request.outputTokens!).toBeGreaterThanOrEqual(1);
        expect(request.outputTokens!).toBeLessThanOrEqual(16);
        expect(request.chunks).toBeLessThanOrEqual(request.outputTokens!);
        if (request.outputTokens! > 1)
          expect(request.tpotMs!).toBeCloseTo((request.e2eLatencyMs - request.ttftMs!) / (request.outputTokens! - 1), 9);
      }
      // Synthetic prompts are calibrated on the server's own counts; single prompts vary by a few tokens (words take 2
      // or 3 tokens in this 512-token vocabulary), so the mean of four is within 25% of the target.
      expect(Math.abs(level.meanPromptTokens! - 48)).toBeLessThanOrEqual(12);
      expect(level.outputTokens).toBe(level.perRequest.reduce((sum, request) => sum + request.outputTokens!, 0));
      expect(level.outputTokensPerSecond).toBeCloseTo(level.outputTokens / (level.durationMs / 1000), 6);
      expect(level.requestsPerSecond).toBeCloseTo(4 / (level.durationMs / 1000), 6);
      expect(level.goodputRequestsPerSecond).toBeLessThanOrEqual(level.requestsPerSecond);
      for (const summary of [level.ttftMs, level.tpotMs, level.itlMs, level.e2eLatencyMs]) expectOrdered(summary);
      expect(level.ttftMs.max!).toBeLessThan(level.e2eLatencyMs.max!);
      expect(level.ttftMs.count).toBe(4);
    }

    const table = formatBenchReport(report);
    expect(table).toMatch(/conc\s+ok\s+err\s+req\/s\s+out tok\/s\s+goodput\/s\s+TTFT p50/);
    expect(table.trimEnd().split("\n")).toHaveLength(4);

    const written = await writeBenchReportFiles(report, path.join(folder, "run.json"));
    expect(written.chartPath).toBe(chartPathFor(path.join(folder, "run.json")));
    expect(written.chartPath.endsWith("run.svg")).toBe(true);
    expect(JSON.parse(readFileSync(written.reportPath, "utf8"))).toEqual(JSON.parse(JSON.stringify(report)));
    const svg = readFileSync(written.chartPath, "utf8");
    expect(svg.length).toBeGreaterThan(1000);
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("Output throughput");
  });

  it("counts the same prompt and output tokens as the server's usage ledger", async () => {
    const admin = createAdminClient({ baseUrl: test.url });
    const totals = async () => (await admin.usage({ groupBy: "model" })).data.find((row) => row.group === "stories260K-q8_0");
    const before = (await totals()) ?? { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
    const prompts = parseBenchDataset(
      [
        '{"prompt": "Once upon a time"}',
        '{"messages": [{"role": "user", "content": "Tell me about a cat"}], "max_tokens": 12}',
        '{"question": "Where is the ball?"}',
      ].join("\n"),
      { source: "test" },
    );
    const report = await runServingBench({
      targets: [{ label: "q8", baseUrl: test.url, model: "stories260K-q8_0" }],
      concurrencyLevels: [1, 2],
      requestsPerLevel: 3,
      maxTokens: 20,
      warmupRequests: 0,
      prompts,
      temperature: 0.8,
    });
    const requests = report.targets[0]!.levels.flatMap((level) => level.perRequest);
    expect(requests[1]!.outputTokens!).toBeLessThanOrEqual(12);
    // The ledger is written as each request ends; give it a moment.
    let after = await totals();
    for (let attempt = 0; attempt < 50 && (after?.requests ?? 0) < before.requests + requests.length; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await totals();
    }
    expect(after!.requests - before.requests).toBe(requests.length);
    expect(after!.completion_tokens - before.completion_tokens).toBe(requests.reduce((sum, request) => sum + request.outputTokens!, 0));
    expect(after!.prompt_tokens - before.prompt_tokens).toBe(requests.reduce((sum, request) => sum + request.promptTokens!, 0));
  });

  it("compares two endpoints in interleaved rounds that never overlap, with ratios", async () => {
    const report = await runServingBench({
      targets: [
        { label: "f32", baseUrl: test.url, model: "stories260K" },
        { label: "q8", baseUrl: `${test.url}/v1`, model: "stories260K-q8_0" },
      ],
      endpoint: "completions",
      concurrencyLevels: [2],
      requestsPerLevel: 4,
      promptTokens: 32,
      maxTokens: 8,
      warmupRequests: 0,
    });
    expect(report.settings.schedule).toBe("interleaved-rounds");
    const [a, b] = report.targets.map((target) => target.levels[0]!);
    expect(a!.completed).toBe(4);
    expect(b!.completed).toBe(4);
    const interval = (request: { startedAtMs: number; e2eLatencyMs: number }) =>
      [request.startedAtMs, request.startedAtMs + request.e2eLatencyMs] as const;
    for (const requestA of a!.perRequest) {
      for (const requestB of b!.perRequest) {
        const [startA, endA] = interval(requestA);
        const [startB, endB] = interval(requestB);
        expect(endA <= startB || endB <= startA).toBe(true);
      }
    }
    // ABBA: round 0 runs A first, round 1 runs B first.
    expect(a!.perRequest[0]!.startedAtMs).toBeLessThan(b!.perRequest[0]!.startedAtMs);
    expect(b!.perRequest[2]!.startedAtMs).toBeLessThan(a!.perRequest[2]!.startedAtMs);
    const comparison = report.comparison![0]!;
    expect(comparison.concurrency).toBe(2);
    expect(comparison.outputTokensPerSecond).toBeCloseTo(b!.outputTokensPerSecond / a!.outputTokensPerSecond, 9);
    expect(comparison.ttftP50).toBeCloseTo(b!.ttftMs.p50! / a!.ttftMs.p50!, 9);
    expect(formatBenchReport(report)).toMatch(/q8 \/ f32 .*\n.*conc\s+req\/s[\s\S]*\n\s+2\s+\d+\.\d\dx/);
  });

  it("records failed requests by their code instead of throwing", async () => {
    const report = await runServingBench({
      targets: [{ label: "missing", baseUrl: test.url, model: "no-such-model" }],
      concurrencyLevels: [2],
      requestsPerLevel: 3,
      warmupRequests: 0,
      prompts: [{ text: "Hi" }],
    });
    const level = report.targets[0]!.levels[0]!;
    expect(level).toMatchObject({ completed: 0, errors: 3, errorCodes: { model_not_found: 3 }, requestsPerSecond: 0, outputTokens: 0 });
    expect(level.ttftMs.p50).toBeNull();
    await expect(runServingBench({ targets: [{ label: "x", baseUrl: test.url, model: "no-such-model" }] })).rejects.toMatchObject({
      code: "model_not_found",
      message: expect.stringMatching(/calibration request .* failed/),
    });
  });

  it("stops when its signal aborts", async () => {
    const controller = new AbortController();
    const run = runServingBench({
      targets: [{ label: "s", baseUrl: test.url, model: "stories260K" }],
      concurrencyLevels: [1],
      requestsPerLevel: 50,
      maxTokens: 16,
      warmupRequests: 0,
      prompts: [{ text: "Once upon a time" }],
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.completed === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
  });
});
