/** One point of a chart series, in data units. */
export interface ChartPoint {
  /** Horizontal position. */
  x: number;
  /** Vertical position. */
  y: number;
  /** Lower end of an error bar; no bar unless both ends are given. */
  yLow?: number;
  /** Upper end of an error bar. */
  yHigh?: number;
  /** Text written beside the point. Defaults to none. */
  label?: string;
}

/** A named set of points drawn in one style. */
export interface ChartSeries {
  /** Shown in the legend. */
  name: string;
  /** The points, drawn in the order given (sort them by x for a line). */
  points: ChartPoint[];
  /** Any SVG colour. Defaults to the next colour of a ten-colour palette. */
  color?: string;
  /**
   * How points are joined.
   * - `solid`, `dashed`, `dotted`: a line through the points, in order.
   * - `none`: points only (a scatter).
   *
   * Defaults to `solid`.
   */
  line?: "solid" | "dashed" | "dotted" | "none";
  /** Whether each point gets a dot. Defaults to true. */
  hasMarkers?: boolean;
}

/** One plot: axes, series and a legend under it. */
export interface ChartPanel {
  /** Written above the plot. */
  title: string;
  /** The horizontal axis' title (with its unit). */
  xLabel: string;
  /** The vertical axis' title (with its unit). */
  yLabel: string;
  /** What is drawn. */
  series: ChartSeries[];
  /**
   * The horizontal scale.
   * - `linear`: evenly spaced values, ticks at round numbers.
   * - `log2`: powers of two evenly spaced (concurrency levels 1, 2, 4, 8); all x must be above 0.
   *
   * Defaults to `linear`.
   */
  xScale?: "linear" | "log2";
  /** Where to put the horizontal ticks. Defaults to round numbers (`linear`) or the points' x values (`log2`). */
  xTicks?: number[];
  /** The lowest value the vertical axis shows. Defaults to 0 (or lower when a value is negative). */
  yMin?: number;
  /** The highest value the vertical axis shows. Defaults to just above the highest value. */
  yMax?: number;
}

/** Options of {@link renderSvgChart}. */
export interface SvgChartOptions {
  /** Written at the top of the figure. Defaults to none. */
  title?: string;
  /** The plots, laid out left to right, then top to bottom. */
  panels: ChartPanel[];
  /** Plots per row. Defaults to 2 (1 for a single plot). */
  columns?: number;
  /** Width of one plot, px. Defaults to 520. */
  panelWidthPx?: number;
  /** Height of one plot's drawing area and axes, px (its legend adds to it). Defaults to 300. */
  panelHeightPx?: number;
}

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const margin = { left: 68, right: 20, top: 34, bottom: 46 };
const fontFamily = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif";
const legendRowPx = 18;

/** Escapes text for SVG (XML) content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** Round tick values covering [min, max], about `count` of them, spaced 1, 2 or 5 times a power of ten. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max <= min) max = min === 0 ? 1 : min + Math.abs(min);
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let value = Math.floor(min / step) * step; value <= max + step * 1e-9; value += step) ticks.push(Number(value.toPrecision(12)));
  if (ticks.at(-1)! < max) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
  return ticks;
}

/** A tick or value label: up to 3 significant digits, `k`/`M` above a thousand/million. */
export function formatChartNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  if (abs >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

const dashArray = { solid: "", dashed: ' stroke-dasharray="6 4"', dotted: ' stroke-dasharray="2 3"', none: "" } as const;

/** The legend's rows: series names with their style, wrapped to the panel's width. */
function layoutLegend(
  series: readonly ChartSeries[],
  width: number,
): Array<Array<{ series: ChartSeries; index: number; widthPx: number }>> {
  const rows: Array<Array<{ series: ChartSeries; index: number; widthPx: number }>> = [[]];
  let used = 0;
  series.forEach((item, index) => {
    const widthPx = 34 + item.name.length * 6.6;
    if (used + widthPx > width - margin.left - margin.right && rows.at(-1)!.length > 0) {
      rows.push([]);
      used = 0;
    }
    rows.at(-1)!.push({ series: item, index, widthPx });
    used += widthPx;
  });
  return series.length === 0 ? [] : rows;
}

function renderPanel(panel: ChartPanel, widthPx: number, heightPx: number): string {
  const plotWidth = widthPx - margin.left - margin.right;
  const plotHeight = heightPx - margin.top - margin.bottom;
  const points = panel.series.flatMap((series) => series.points).filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y));
  const isLog = panel.xScale === "log2";
  const xs = points.map((point) => (isLog ? Math.log2(Math.max(point.x, Number.MIN_VALUE)) : point.x));
  const ys = points.flatMap((point) => [point.y, point.yLow ?? point.y, point.yHigh ?? point.y]);

  const xTicks =
    panel.xTicks ??
    (isLog ? [...new Set(points.map((point) => point.x))].sort((a, b) => a - b) : niceTicks(Math.min(...xs, 0), Math.max(...xs, 0)));
  const xTickPositions = xTicks.map((tick) => (isLog ? Math.log2(tick) : tick));
  let xMin = Math.min(...xs, ...xTickPositions);
  let xMax = Math.max(...xs, ...xTickPositions);
  if (!Number.isFinite(xMin) || !Number.isFinite(xMax)) [xMin, xMax] = [0, 1];
  if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
  // Log axes (categorical levels) get some air on both sides so the end points are not on the frame.
  const xPad = isLog ? (xMax - xMin) * 0.06 : 0;
  const yTicks = niceTicks(panel.yMin ?? Math.min(0, ...ys), panel.yMax ?? (ys.length > 0 ? Math.max(...ys) : 1));
  const yMin = panel.yMin ?? yTicks[0]!;
  const yMax = panel.yMax ?? yTicks.at(-1)!;
  const toX = (x: number): number => margin.left + (((isLog ? Math.log2(x) : x) - xMin + xPad) / (xMax - xMin + 2 * xPad)) * plotWidth;
  const toY = (y: number): number => margin.top + plotHeight - ((y - yMin) / (yMax - yMin || 1)) * plotHeight;
  const f = (value: number): string => value.toFixed(1);

  const parts: string[] = [];
  parts.push(`<text x="${f(widthPx / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(panel.title)}</text>`);
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="#fff" stroke="#999"/>`);
  for (const tick of yTicks.filter((value) => value >= yMin && value <= yMax)) {
    const y = f(toY(tick));
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${formatChartNumber(tick)}</text>`,
    );
  }
  for (const tick of xTicks) {
    const x = f(toX(tick));
    parts.push(`<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x}" y="${margin.top + plotHeight + 16}" text-anchor="middle" font-size="11">${formatChartNumber(tick)}</text>`);
  }
  parts.push(
    `<text x="${f(margin.left + plotWidth / 2)}" y="${margin.top + plotHeight + 36}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${f(margin.top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(panel.yLabel)}</text>`,
  );

  panel.series.forEach((series, index) => {
    const color = series.color ?? palette[index % palette.length]!;
    const style = series.line ?? "solid";
    const valid = series.points.filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y) && (!isLog || point.x > 0));
    if (style !== "none" && valid.length > 1) {
      const path = valid.map((point, pointIndex) => `${pointIndex === 0 ? "M" : "L"}${f(toX(point.x))} ${f(toY(point.y))}`).join(" ");
      parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${dashArray[style]}/>`);
    }
    for (const point of valid) {
      const x = toX(point.x);
      if (point.yLow !== undefined && point.yHigh !== undefined) {
        const [low, high] = [toY(point.yLow), toY(point.yHigh)];
        parts.push(
          `<path d="M${f(x)} ${f(low)} L${f(x)} ${f(high)} M${f(x - 4)} ${f(low)} L${f(x + 4)} ${f(low)} M${f(x - 4)} ${f(high)} L${f(x + 4)} ${f(high)}" stroke="${color}" stroke-width="1.2" fill="none"/>`,
        );
      }
      if (series.hasMarkers ?? true)
        parts.push(
          `<circle cx="${f(x)}" cy="${f(toY(point.y))}" r="3.5" fill="${color}"><title>${escapeXml(`${series.name}: ${formatChartNumber(point.x)}, ${formatChartNumber(point.y)}`)}</title></circle>`,
        );
      if (point.label) {
        // Labels of points near the right edge go to their left, so they stay inside the figure.
        const isRight = x > margin.left + plotWidth * 0.75;
        parts.push(
          `<text x="${f(isRight ? x - 6 : x + 6)}" y="${f(toY(point.y) - 6)}" font-size="11" fill="${color}"${isRight ? ' text-anchor="end"' : ""}>${escapeXml(point.label)}</text>`,
        );
      }
    }
  });

  layoutLegend(panel.series, widthPx).forEach((row, rowIndex) => {
    let x = margin.left;
    const y = heightPx + 6 + rowIndex * legendRowPx;
    for (const { series, index, widthPx: itemWidth } of row) {
      const color = series.color ?? palette[index % palette.length]!;
      const style = series.line ?? "solid";
      if (style === "none") parts.push(`<circle cx="${f(x + 11)}" cy="${y}" r="3.5" fill="${color}"/>`);
      else parts.push(`<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${dashArray[style]}/>`);
      parts.push(`<text x="${x + 28}" y="${y}" dominant-baseline="middle" font-size="11">${escapeXml(series.name)}</text>`);
      x += itemWidth;
    }
  });
  return parts.join("\n");
}

/**
 * Renders line and scatter plots as one standalone SVG document (no scripts, no external resources): each panel with
 * its axes, grid, ticks, error bars, point labels and a legend under it, laid out in a grid. Deterministic: the same
 * options give the same text.
 */
export function renderSvgChart(options: SvgChartOptions): string {
  const columns = Math.max(1, options.columns ?? Math.min(2, options.panels.length));
  const panelWidth = options.panelWidthPx ?? 520;
  const panelHeight = options.panelHeightPx ?? 300;
  const legendHeight = Math.max(0, ...options.panels.map((panel) => layoutLegend(panel.series, panelWidth).length)) * legendRowPx + 12;
  const cellHeight = panelHeight + legendHeight;
  const titleHeight = options.title ? 32 : 0;
  const rows = Math.ceil(options.panels.length / columns);
  const width = columns * panelWidth;
  const height = titleHeight + rows * cellHeight;
  const body = options.panels.map((panel, index) => {
    const x = (index % columns) * panelWidth;
    const y = titleHeight + Math.floor(index / columns) * cellHeight;
    return `<g transform="translate(${x} ${y})">\n${renderPanel(panel, panelWidth, panelHeight)}\n</g>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${fontFamily}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...(options.title
      ? [`<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="700">${escapeXml(options.title)}</text>`]
      : []),
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
