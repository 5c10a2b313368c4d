import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ServingBenchReport } from "../wire/bench-report.js";
import { renderServingChart } from "./serving-chart.js";

/** The chart's path beside a report path: `run.json` → `run.svg`; any other name gets `.svg` appended. */
export function chartPathFor(reportPath: string): string {
  return reportPath.toLowerCase().endsWith(".json") ? `${reportPath.slice(0, -".json".length)}.svg` : `${reportPath}.svg`;
}

/**
 * Writes a serving benchmark's report as JSON to `reportPath` and its chart ({@link renderServingChart}) beside it
 * ({@link chartPathFor}), creating the folder when missing. Returns both paths.
 *
 * @throws the file system's error when a file cannot be written.
 */
export async function writeBenchReportFiles(
  report: ServingBenchReport,
  reportPath: string,
): Promise<{ reportPath: string; chartPath: string }> {
  const chartPath = chartPathFor(reportPath);
  await mkdir(path.dirname(path.resolve(reportPath)), { recursive: true });
  await writeFile(reportPath, JSON.stringify(report, null, 2) + "\n");
  await writeFile(chartPath, renderServingChart(report));
  return { reportPath, chartPath };
}
