import { useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { placeLabels } from "./chart-labels.js";

/** One point of a chart series. */
export interface ChartPoint {
  x: number;
  y: number;
  /** Lower end of an error bar (an interval), in y units. */
  yLow?: number;
  /** Upper end of an error bar, in y units. */
  yHigh?: number;
  /** Text written beside the marker (scatter charts). */
  label?: string;
  /** The marker's tooltip. */
  title?: string;
  /** `data-*` attributes of the marker (tests find points by them). */
  data?: Record<string, string>;
}

/** One series: a line through its points, markers, or both. */
export interface ChartSeries {
  name: string;
  /** A CSS colour. */
  color: string;
  points: ChartPoint[];
  /** Draw a line through the points. Defaults to true. */
  hasLine?: boolean;
  /**
   * Draw a marker at each point:
   * - `true`: always;
   * - `false`: never;
   * - `"when-sparse"`: while the series has at most one point per 16 px of the plot's width (a marker per request
   *   of a long range would cover the line).
   *
   * Defaults to true.
   */
  hasMarkers?: boolean | "when-sparse";
  /** Draw the line as steps (a cumulative total). Defaults to false. */
  isStep?: boolean;
  /** Dash the line. Defaults to false. */
  isDashed?: boolean;
}

/** Options of {@link Chart}. */
export interface ChartProps {
  series: ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Tick text of the x axis. Defaults to a short number. */
  xFormat?: (value: number) => string;
  /** Tick text of the y axis. Defaults to a short number. */
  yFormat?: (value: number) => string;
  /** Fixed y range; defaults to 0 (or the least value) up to the greatest, rounded out. */
  yDomain?: [number, number];
  /** Fixed x range; defaults to the points' range, rounded out. */
  xDomain?: [number, number];
  /** The x values are times (epoch ms): ticks are not rounded to nice numbers. Defaults to false. */
  isTimeAxis?: boolean;
  /**
   * The x ticks, when the x values are few and discrete (concurrency levels); the x range then spans them. An empty
   * list draws no x tick (points that stand for categories, named by their labels; give `xDomain` then).
   */
  xTicks?: number[];
  /** Start the x range at 0 (a cost axis). Defaults to false. */
  isXFromZero?: boolean;
  /** Height of the drawing, px (the width follows the page). Defaults to 260. */
  height?: number;
  /** `data-testid` of the chart. */
  testId?: string;
  /** `data-testid` of every marker. */
  markerTestId?: string;
  /** Shown instead of the chart when no series has a point. */
  emptyText?: string;
}

/** Width of the drawing before the page is measured, px. */
const defaultWidth = 720;
const margin = { top: 16, right: 24, bottom: 44 };
/** Width of one character of an 11 px tick label, px (an estimate: labels are measured before they are drawn). */
const tickCharWidthPx = 6.6;
/** Plot width per marker below which `hasMarkers: "when-sparse"` draws none, px (a marker is 9 px across). */
const sparseMarkerSpacingPx = 16;

/** Round numbers between `min` and `max`, about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max === min) return [min];
  const rawStep = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rawStep));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rawStep) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

function niceDomain(min: number, max: number, includeZero: boolean): [number, number] {
  let low = includeZero ? Math.min(0, min) : min;
  let high = max;
  if (high === low) {
    const pad = high === 0 ? 1 : Math.abs(high) * 0.1;
    high += pad;
    if (!includeZero || low !== 0) low -= pad;
  }
  const ticks = niceTicks(low, high);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  return [Math.floor(low / step) * step, Math.ceil(high / step) * step];
}

const shortNumber = (value: number): string => {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e9) return `${(value / 1e9).toPrecision(3)}B`;
  if (magnitude >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (magnitude >= 1e3) return `${(value / 1e3).toPrecision(3)}K`;
  return String(Number(value.toPrecision(3)));
};

/**
 * A line, step or scatter chart drawn as SVG (no chart library): axes with round ticks, a legend, error bars, and a
 * marker per point with a tooltip. It scales to the width of its container.
 */
export function Chart(props: ChartProps): ReactNode {
  // The drawing is as wide as its box, so that text keeps its size whatever the page's width.
  const boxRef = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(defaultWidth);
  useLayoutEffect(() => {
    const box = boxRef.current;
    if (box === null) return;
    const measure = (): void => {
      const measured = Math.round(box.clientWidth);
      if (measured > 0) setWidth(measured);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(box);
    return () => observer.disconnect();
  }, []);
  const height = props.height ?? 260;
  const points = props.series.flatMap((series) => series.points);
  if (points.length === 0) {
    return (
      <div className="chart chart-empty" data-testid={props.testId} ref={boxRef}>
        {props.emptyText ?? "No data yet."}
      </div>
    );
  }
  const xs = points.map((point) => point.x);
  const ys = points.flatMap((point) => [point.y, point.yLow ?? point.y, point.yHigh ?? point.y]);
  const xDomain =
    props.xDomain ??
    (props.xTicks !== undefined && props.xTicks.length > 0
      ? tickDomain(props.xTicks)
      : props.isTimeAxis
        ? timeDomain(Math.min(...xs), Math.max(...xs))
        : niceDomain(Math.min(...xs), Math.max(...xs), props.isXFromZero ?? false));
  const yDomain = props.yDomain ?? niceDomain(Math.min(...ys), Math.max(...ys), true);
  const xFormat = props.xFormat ?? (props.isTimeAxis ? timeFormatter(xDomain[1] - xDomain[0]) : shortNumber);
  const yFormat = props.yFormat ?? shortNumber;
  const xTicks = props.xTicks ?? (props.isTimeAxis ? spread(xDomain[0], xDomain[1], 4) : niceTicks(xDomain[0], xDomain[1], 6));
  const yTicks = niceTicks(yDomain[0], yDomain[1], 5);
  // The left margin holds the longest y tick label and the axis title.
  const left = Math.max(48, 30 + Math.max(...yTicks.map((tick) => yFormat(tick).length)) * tickCharWidthPx);
  const plotWidth = width - left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const xScale = (value: number): number => left + ((value - xDomain[0]) / (xDomain[1] - xDomain[0] || 1)) * plotWidth;
  const yScale = (value: number): number => margin.top + plotHeight - ((value - yDomain[0]) / (yDomain[1] - yDomain[0] || 1)) * plotHeight;
  return (
    <figure className="chart" data-testid={props.testId} ref={boxRef}>
      <svg
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${props.yLabel} against ${props.xLabel}`}
      >
        {yTicks.map((tick) => (
          <g key={`y${tick}`}>
            <line className="chart-grid" x1={left} x2={width - margin.right} y1={yScale(tick)} y2={yScale(tick)} />
            <text className="chart-tick" x={left - 8} y={yScale(tick)} textAnchor="end" dominantBaseline="middle">
              {yFormat(tick)}
            </text>
          </g>
        ))}
        {xTicks.map((tick) => (
          <text key={`x${tick}`} className="chart-tick" x={xScale(tick)} y={height - margin.bottom + 16} textAnchor="middle">
            {xFormat(tick)}
          </text>
        ))}
        <line className="chart-axis" x1={left} x2={width - margin.right} y1={margin.top + plotHeight} y2={margin.top + plotHeight} />
        <line className="chart-axis" x1={left} x2={left} y1={margin.top} y2={margin.top + plotHeight} />
        <text className="chart-label" x={left + plotWidth / 2} y={height - 6} textAnchor="middle">
          {props.xLabel}
        </text>
        <text className="chart-label" transform={`translate(14 ${margin.top + plotHeight / 2}) rotate(-90)`} textAnchor="middle">
          {props.yLabel}
        </text>
        {/* Lines first, every series' markers and labels above every line: no line hides another series' points. */}
        {props.series.map((series) => {
          const sorted = [...series.points].sort((a, b) => a.x - b.x);
          const path = sorted
            .map((point, index) => {
              const x = xScale(point.x);
              const y = yScale(point.y);
              if (index === 0) return `M${x},${y}`;
              return series.isStep ? `H${x}V${y}` : `L${x},${y}`;
            })
            .join("");
          return (
            (series.hasLine ?? true) &&
            sorted.length > 1 && (
              <path
                key={series.name}
                data-series={series.name}
                d={path}
                fill="none"
                stroke={series.color}
                strokeWidth={2}
                strokeDasharray={series.isDashed ? "6 4" : undefined}
              />
            )
          );
        })}
        {props.series.map((series) => {
          const hasMarkers =
            series.hasMarkers === "when-sparse"
              ? series.points.length <= Math.floor(plotWidth / sparseMarkerSpacingPx)
              : (series.hasMarkers ?? true);
          return (
            <g key={series.name} data-series-points={series.name}>
              {keyedPoints(series.points).map(({ key, point }) => (
                <g key={key}>
                  {point.yLow !== undefined && point.yHigh !== undefined && (
                    <g stroke={series.color} strokeWidth={1.5}>
                      <line x1={xScale(point.x)} x2={xScale(point.x)} y1={yScale(point.yLow)} y2={yScale(point.yHigh)} />
                      <line x1={xScale(point.x) - 5} x2={xScale(point.x) + 5} y1={yScale(point.yLow)} y2={yScale(point.yLow)} />
                      <line x1={xScale(point.x) - 5} x2={xScale(point.x) + 5} y1={yScale(point.yHigh)} y2={yScale(point.yHigh)} />
                    </g>
                  )}
                  {hasMarkers && (
                    <circle
                      cx={xScale(point.x)}
                      cy={yScale(point.y)}
                      r={4.5}
                      fill={series.color}
                      stroke="#fff"
                      strokeWidth={1.5}
                      data-testid={props.markerTestId}
                      {...Object.fromEntries(Object.entries(point.data ?? {}).map(([key, value]) => [`data-${key}`, value]))}
                    >
                      <title>{point.title ?? `${series.name}: ${yFormat(point.y)} at ${xFormat(point.x)}`}</title>
                    </circle>
                  )}
                </g>
              ))}
            </g>
          );
        })}
        {placeLabels(
          props.series.flatMap((series) =>
            keyedPoints(series.points).flatMap(({ key, point }) =>
              point.label === undefined
                ? []
                : [{ key: `${series.name}/${key}`, text: point.label, x: xScale(point.x), y: yScale(point.y) }],
            ),
          ),
          { right: width - 4, top: margin.top - 12, bottom: margin.top + plotHeight },
        ).map((label) => (
          <g key={label.key} className="chart-point-label-group">
            {label.isMoved && <line className="chart-label-leader" x1={label.x} y1={label.y} x2={label.textX} y2={label.textY - 4} />}
            <text className="chart-point-label" data-testid="chart-point-label" x={label.textX} y={label.textY} textAnchor={label.anchor}>
              {label.text}
            </text>
          </g>
        ))}
      </svg>
      {props.series.length > 1 && (
        <figcaption className="chart-legend">
          {props.series.map((series) => (
            <span key={series.name} className="chart-legend-item">
              <svg className="chart-swatch-line" width="22" height="10" aria-hidden="true">
                <line
                  x1="1"
                  x2="21"
                  y1="5"
                  y2="5"
                  stroke={series.color}
                  strokeWidth={2.5}
                  strokeDasharray={series.isDashed ? "5 3" : undefined}
                />
              </svg>
              {series.name}
            </span>
          ))}
        </figcaption>
      )}
    </figure>
  );
}

/** The points with a React key each: x and y, and a count for repeats (a series may hold equal points). */
function keyedPoints(points: readonly ChartPoint[]): Array<{ key: string; point: ChartPoint }> {
  const seen = new Map<string, number>();
  return points.map((point) => {
    const base = `${point.x}:${point.y}`;
    const repeats = seen.get(base) ?? 0;
    seen.set(base, repeats + 1);
    return { key: repeats === 0 ? base : `${base}#${repeats}`, point };
  });
}

function tickDomain(ticks: readonly number[]): [number, number] {
  const low = Math.min(...ticks);
  const high = Math.max(...ticks);
  if (low === high) return [low - 1, high + 1];
  const pad = (high - low) * 0.06;
  return [low - pad, high + pad];
}

function timeDomain(min: number, max: number): [number, number] {
  if (max - min < 1000) return [min - 500, max + 500];
  const pad = (max - min) * 0.04;
  return [min - pad, max + pad];
}

/** Tick text for times over a span of `spanMs`: seconds for a few minutes, hours and minutes for a day or two, else days. */
function timeFormatter(spanMs: number): (value: number) => string {
  const pad = (value: number): string => String(value).padStart(2, "0");
  return (value) => {
    const date = new Date(value);
    const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
    const day = `${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
    if (spanMs < 10_000) return `${clock}:${pad(date.getSeconds())}.${Math.floor(date.getMilliseconds() / 100)}`;
    if (spanMs < 10 * 60_000) return `${clock}:${pad(date.getSeconds())}`;
    if (spanMs < 2 * 86_400_000) return clock;
    if (spanMs < 10 * 86_400_000) return `${day} ${clock}`;
    return day;
  };
}

function spread(min: number, max: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => min + ((max - min) * (index + 0.5)) / count);
}

/** Colours of series, in order; readable on white and told apart by colour-blind readers (Okabe-Ito). */
export const seriesColors = ["#3b4cca", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#0072b2", "#999999"];

/** One part of a {@link StackedBar}. */
export interface StackedBarPart {
  name: string;
  /** The part's size, non-negative, in the unit that the bar's `format` prints. */
  value: number;
}

/**
 * Parts of one whole as a horizontal bar, each part as wide as its share of their sum (or of `whole`), coloured by its
 * place in `parts` from {@link seriesColors} (so a part keeps its colour when another is 0). Parts of 0 are left out of
 * the bar and the legend; nothing is drawn when their sum is 0.
 */
export function StackedBar(props: {
  parts: readonly StackedBarPart[];
  /** Prints a part's value, in its tooltip and the legend. */
  format: (value: number) => string;
  /** The bar's accessible name (it is an image to screen readers). */
  label: string;
  /** List the parts under the bar, with their colours and values. Defaults to false. */
  hasLegend?: boolean;
  /** A line under the bar: at the end of the legend when there is one, else alone. */
  caption?: ReactNode;
  /**
   * What the full bar stands for (a memory budget): each part is as wide as its share of it, the rest of the bar
   * empty. Defaults to the parts' sum; a sum over `whole` fills the bar, each part as its share of the sum.
   */
  whole?: number;
  /** The bar's test id. Defaults to none. */
  testId?: string;
}): ReactNode {
  const parts = props.parts
    .map((part, index) => ({ ...part, color: seriesColors[index % seriesColors.length]! }))
    .filter((part) => part.value > 0);
  const total = parts.reduce((sum, part) => sum + part.value, 0);
  if (total === 0) return null;
  const whole = Math.max(total, props.whole ?? 0);
  return (
    <div className="memory-bar-wrap">
      <div className="memory-bar" role="img" aria-label={props.label} data-testid={props.testId}>
        {parts.map((part) => (
          <div
            key={part.name}
            style={{ width: `${(part.value / whole) * 100}%`, background: part.color }}
            title={`${part.name}: ${props.format(part.value)}`}
          />
        ))}
      </div>
      {props.hasLegend ? (
        <div className="chart-legend">
          {parts.map((part) => (
            <span key={part.name} className="chart-legend-item">
              <span className="chart-swatch" style={{ background: part.color }} />
              {part.name} {props.format(part.value)}
            </span>
          ))}
          {props.caption !== undefined && <span className="muted">{props.caption}</span>}
        </div>
      ) : (
        props.caption !== undefined && <div className="muted small">{props.caption}</div>
      )}
    </div>
  );
}
