import type { EvalReport } from "../wire/eval-report.js";
import { costPer1000Questions } from "./eval-summary.js";
import { renderSvgChart, type ChartSeries } from "./svg-chart.js";

/**
 * Draws an eval report as a Pareto chart (SVG): accuracy (%, with its 95% Wilson interval as an error bar) against cost
 * per 1,000 questions (USD, on the report's `costBasis`), one colour per model, each point labelled with its thinking
 * mode, and the Pareto frontier (the results no other beats on both) as a dashed line. Results with nothing done are
 * left out.
 */
export function renderParetoChart(report: EvalReport): string {
  const done = report.results.filter((result) => result.done > 0);
  const models = [...new Set(done.map((result) => result.model))];
  const point = (result: (typeof done)[number]) => ({
    x: costPer1000Questions(result, report.costBasis),
    y: result.accuracy * 100,
    yLow: result.wilsonLower * 100,
    yHigh: result.wilsonUpper * 100,
  });
  const series: ChartSeries[] = models.map((model) => ({
    name: model,
    line: "none",
    points: done.filter((result) => result.model === model).map((result) => ({ ...point(result), label: `thinking ${result.thinking}` })),
  }));
  const frontier = done
    .filter((result) => result.isParetoOptimal)
    .map((result) => ({ x: point(result).x, y: point(result).y }))
    .sort((a, b) => a.x - b.x || a.y - b.y);
  if (frontier.length > 1) series.push({ name: "Pareto frontier", line: "dashed", points: frontier, color: "#555", hasMarkers: false });
  const basis = report.costBasis === "own" ? "own price" : "cloud list price";
  return renderSvgChart({
    title: `Accuracy against cost: ${report.dataset.questions} questions`,
    columns: 1,
    panelWidthPx: 720,
    panelHeightPx: 420,
    panels: [
      {
        title: `accuracy (95% Wilson interval) by cost per 1,000 questions (${basis})`,
        xLabel: "USD per 1,000 questions",
        yLabel: "accuracy (%)",
        yMin: 0,
        yMax: 100,
        series,
      },
    ],
  });
}
