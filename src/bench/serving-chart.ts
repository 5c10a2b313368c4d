import type { ServingBenchReport } from "../wire/bench-report.js";
import { renderSvgChart, type ChartSeries } from "./svg-chart.js";

const targetColors = ["#1f77b4", "#d62728"];

/**
 * Draws a serving benchmark as an SVG chart of five plots against concurrency (log2 scale, a tick per level): output
 * tokens per second; request throughput (solid) and goodput (dashed) in requests per second; and the p50, p90 and p99
 * (solid, dashed, dotted) of TTFT, TPOT and end-to-end latency. One colour per target.
 */
export function renderServingChart(report: ServingBenchReport): string {
  const levels = report.settings.concurrencyLevels;
  const color = (index: number): string => targetColors[index % targetColors.length]!;
  const throughput = (pick: (level: ServingBenchReport["targets"][number]["levels"][number]) => number): ChartSeries[] =>
    report.targets.map((target, index) => ({
      name: target.label,
      color: color(index),
      points: target.levels.map((level) => ({ x: level.concurrency, y: pick(level) })),
    }));
  const percentiles = (metric: "ttftMs" | "tpotMs" | "e2eLatencyMs"): ChartSeries[] =>
    report.targets.flatMap((target, index) =>
      (["p50", "p90", "p99"] as const).map((percentile, styleIndex) => ({
        name: `${target.label} ${percentile}`,
        color: color(index),
        line: (["solid", "dashed", "dotted"] as const)[styleIndex],
        points: target.levels.flatMap((level) => {
          const value = level[metric][percentile];
          return value === null ? [] : [{ x: level.concurrency, y: value }];
        }),
      })),
    );
  const axis = { xLabel: "concurrency (requests in flight)", xScale: "log2" as const, xTicks: levels };
  return renderSvgChart({
    title: `Serving benchmark: ${report.targets.map((target) => (target.label === target.model ? target.label : `${target.label} (${target.model})`)).join(" vs ")}`,
    panels: [
      { title: "Output throughput", yLabel: "output tokens/s", series: throughput((level) => level.outputTokensPerSecond), ...axis },
      {
        title: "Requests and goodput",
        yLabel: "requests/s",
        series: [
          ...throughput((level) => level.requestsPerSecond).map((series) => ({ ...series, name: `${series.name} throughput` })),
          ...throughput((level) => level.goodputRequestsPerSecond).map((series) => ({
            ...series,
            name: `${series.name} goodput`,
            line: "dashed" as const,
          })),
        ],
        ...axis,
      },
      { title: "Time to first token", yLabel: "TTFT (ms)", series: percentiles("ttftMs"), ...axis },
      { title: "Time per output token", yLabel: "TPOT (ms)", series: percentiles("tpotMs"), ...axis },
      { title: "End-to-end latency", yLabel: "latency (ms)", series: percentiles("e2eLatencyMs"), ...axis },
    ],
  });
}
