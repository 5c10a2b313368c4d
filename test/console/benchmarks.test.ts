import { rmSync } from "node:fs";
import path from "node:path";
import type { Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeBenchReportFiles } from "../../src/bench/bench-report-files.js";
import { loadEvalDataset } from "../../src/bench/eval-dataset.js";
import { createEvalPricer } from "../../src/bench/eval-pricing.js";
import { runEval } from "../../src/bench/eval-runner.js";
import { createFileEvalStore } from "../../src/bench/eval-store.js";
import { runServingBench } from "../../src/bench/serving-bench.js";
import { createPriceBook } from "../../src/metering/price-book.js";
import { consoleSkipReason, saveScreenshot, startConsoleSession, testAdminKey, type ConsoleSession } from "./console-harness.js";

/** Checks that the chart has `count` point labels and that no two of them overlap. */
async function expectLabelsApart(chart: Locator, count: number): Promise<void> {
  const boxes = await chart.getByTestId("chart-point-label").evaluateAll((labels) =>
    labels.map((label) => {
      const box = (label as unknown as { getBBox(): { x: number; y: number; width: number; height: number } }).getBBox();
      return { x: box.x, y: box.y, width: box.width, height: box.height };
    }),
  );
  expect(boxes).toHaveLength(count);
  expect(boxes.every((box) => box.width > 0 && box.height > 0)).toBe(true);
  for (const [index, a] of boxes.entries())
    for (const b of boxes.slice(index + 1))
      expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height, JSON.stringify([a, b])).toBe(
        false,
      );
}

describe.skipIf(consoleSkipReason !== undefined)(
  "console: Benchmarks & evals (real server, results in $MOESTRO_HOME/results, headless Chromium)",
  () => {
    let session: ConsoleSession;

    beforeAll(async () => {
      session = await startConsoleSession({ path: "/benchmarks", adminKey: testAdminKey, engine: { contextTokens: 512 } });
    });
    afterAll(async () => await session?.close());

    it("says where results go while there are none", async () => {
      const { page } = session;
      await page.getByTestId("results-empty").waitFor();
      expect(await page.getByTestId("results-empty").textContent()).toContain(path.join(session.home, "results"));
      // The commands name the served model, not a placeholder.
      await expect.poll(() => page.getByTestId("results-empty").textContent()).toContain("--model stories260K --out");
      expect(await page.getByTestId("results-empty").textContent()).not.toContain("MODEL");
    });

    it("after a small eval run, its point appears on the chart", async () => {
      const { page } = session;
      const dataset = await loadEvalDataset("sample");
      // 1 USD per 1M prompt tokens and 2 per 1M generated, so that the point has a cost.
      const pricer = createEvalPricer(createPriceBook(), { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 2 });
      const report = await runEval({
        baseUrl: session.url,
        apiKey: testAdminKey,
        models: ["stories260K"],
        dataset,
        limit: 4,
        maxTokens: 16,
        concurrency: 2,
        store: createFileEvalStore(path.join(session.home, "results", "eval-sample")),
        pricer,
      });
      expect(report.results[0]!.done).toBe(4);
      await page.getByTestId("results-refresh").click();
      const point = page.locator('[data-testid="eval-chart"] [data-testid="eval-point"][data-model="stories260K"]');
      await point.waitFor();
      expect(await point.getAttribute("data-run")).toBe("eval-sample");
      expect(await page.locator('[data-testid="eval-row"][data-model="stories260K"]').textContent()).toContain("4/4");
    });

    it("shows a serving benchmark's throughput and latency", async () => {
      const { page } = session;
      const report = await runServingBench({
        targets: [{ label: "stories260K", baseUrl: session.url, model: "stories260K", apiKey: testAdminKey }],
        concurrencyLevels: [1, 2],
        requestsPerLevel: 4,
        promptTokens: 48,
        maxTokens: 24,
        warmupRequests: 1,
      });
      await writeBenchReportFiles(report, path.join(session.home, "results", "bench-stories.json"));
      await page.getByTestId("results-refresh").click();
      await page.getByTestId("bench-view").waitFor();
      expect(await page.getByTestId("bench-row").count()).toBe(2);
      expect(await page.getByTestId("bench-throughput-chart").locator("circle").count()).toBe(2);
      await saveScreenshot(page, "benchmarks");
      expect(session.foreignRequests).toEqual([]);
      expect(session.pageErrors).toEqual([]);
    });

    it("gives each result its own column, with labels apart, when every cost is $0", async () => {
      const { page } = session;
      // Only free results: the priced run goes, and a run at the default price book (local models cost $0) comes.
      rmSync(path.join(session.home, "results", "eval-sample"), { recursive: true, force: true });
      await runEval({
        baseUrl: session.url,
        apiKey: testAdminKey,
        models: ["stories260K"],
        thinkingModes: ["default", "off", "on"],
        dataset: await loadEvalDataset("sample"),
        limit: 2,
        maxTokens: 8,
        concurrency: 2,
        store: createFileEvalStore(path.join(session.home, "results", "eval-free")),
        pricer: createEvalPricer(createPriceBook()),
      });
      await page.getByTestId("results-refresh").click();
      const chart = page.getByTestId("eval-chart");
      await expect.poll(() => chart.getByTestId("eval-point").count()).toBe(3);
      expect(await page.getByTestId("evals").textContent()).toContain("Every model here costs $0");
      // No cost axis: no tick in dollars (it used to run from $0 to $1).
      const ticks = await chart.locator("text.chart-tick").allTextContents();
      expect(ticks.filter((tick) => tick.startsWith("$"))).toEqual([]);
      // Each point its own x, each label clear of the others (they used to pile up at (0, 0)).
      const xs = await chart.getByTestId("eval-point").evaluateAll((points) => points.map((point) => point.getAttribute("cx")));
      expect(new Set(xs).size).toBe(3);
      await expectLabelsApart(chart, 3);
      // At the cloud list price the three cost about the same: their labels still stand apart.
      await page.getByLabel("Cost basis").selectOption("cloud");
      await expect.poll(() => chart.locator("text.chart-tick").filter({ hasText: "$" }).count()).toBeGreaterThan(0);
      await expectLabelsApart(chart, 3);
      await saveScreenshot(page, "benchmarks-free");
      expect(session.pageErrors).toEqual([]);
    });
  },
);
