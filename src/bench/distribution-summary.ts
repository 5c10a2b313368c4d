import { createRequire } from "node:module";
import type { DistributionSummary } from "../wire/bench-report.js";

/**
 * hdr-histogram-js, loaded on first use: its module decodes an inline WebAssembly build when it loads, and every CLI
 * command (serve included) imports this file through the bench and eval commands (docs/bench.md#what-is-measured).
 */
let hdrHistogram: typeof import("hdr-histogram-js") | undefined;
function loadHdrHistogram(): typeof import("hdr-histogram-js") {
  return (hdrHistogram ??= createRequire(import.meta.url)("hdr-histogram-js") as typeof import("hdr-histogram-js"));
}

/** Resolution of the histogram: values are recorded in thousandths of their unit (µs for ms). */
const scale = 1000;

/**
 * Summarises `values` (non-negative, in any one unit; ms in the bench): count, exact mean, min and max, and p50, p90
 * and p99 from an HDR histogram recording each value in thousandths of the unit. Non-finite and negative values are
 * left out.
 */
export function summarizeDistribution(values: Iterable<number>): DistributionSummary {
  const kept: number[] = [];
  for (const value of values) if (Number.isFinite(value) && value >= 0) kept.push(value);
  if (kept.length === 0) return { count: 0, mean: null, min: null, p50: null, p90: null, p99: null, max: null };
  // The histogram grows as values come (autoResize); lowest value 1 (one thousandth), 3 significant digits.
  const histogram = loadHdrHistogram().build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const value of kept) {
    histogram.recordValue(Math.round(value * scale));
    sum += value;
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  // A percentile is reported as the histogram bucket's upper edge; never above the real maximum.
  const percentile = (p: number): number => Math.min(max, histogram.getValueAtPercentile(p) / scale);
  const summary: DistributionSummary = {
    count: kept.length,
    mean: sum / kept.length,
    min,
    p50: percentile(50),
    p90: percentile(90),
    p99: percentile(99),
    max,
  };
  histogram.destroy();
  return summary;
}
