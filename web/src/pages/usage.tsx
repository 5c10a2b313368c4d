import { useCallback, useState, type ReactNode } from "react";
import type { WireTimeRate, WireUsageRow } from "../../../src/wire/admin.js";
import type { WireUsageEvent } from "../../../src/wire/console.js";
import { useConsoleApi } from "../api.js";
import { Chart, seriesColors } from "../charts.js";
import { formatCount, formatInteger, formatPercent, formatTime, formatUsd, formatUsdTick } from "../format.js";
import { useAsync } from "../hooks.js";
import { describeError, ErrorNotice, Notice, PageHeader, Section, Stat } from "../ui.js";

const ranges = [
  { value: "1d", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "30d", label: "Last 30 days" },
  { value: "all", label: "All time" },
] as const;

type RangeValue = (typeof ranges)[number]["value"];

/** Rows of the charts: at most this many requests are drawn one by one. */
const eventLimit = 5000;

/** The cost here in dollars: exact to the nano-USD where the server gives it. */
function costUsd(row: Pick<WireUsageRow, "cost_usd" | "cost_nano_usd">): number {
  return row.cost_nano_usd === undefined ? row.cost_usd : row.cost_nano_usd / 1e9;
}

/** The cloud-equivalent cost in dollars, exact to the nano-USD where the server gives it. */
function cloudCostUsd(row: Pick<WireUsageRow, "cloud_cost_usd" | "cloud_cost_nano_usd">): number {
  return row.cloud_cost_nano_usd === undefined ? row.cloud_cost_usd : row.cloud_cost_nano_usd / 1e9;
}

/** What the cloud list price would have cost more than the local cost, as a share of the cloud price. */
function savingShare(row: WireUsageRow): number | undefined {
  const cloud = cloudCostUsd(row);
  return cloud > 0 ? (cloud - costUsd(row)) / cloud : undefined;
}

/** Engine time for people: `850 ms`, `12.4 s`, `-` for none. */
function formatEngineTime(ms: number | undefined): string {
  if (ms === undefined || ms === 0) return "-";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toPrecision(3)} ms`;
}

/** A rate in micro-USD (per hour, per kWh) as dollars, up to six significant digits: `$0.165`, `$0.009735`, `$360.02`. */
function formatRateUsd(microUsd: number): string {
  return `$${Number((microUsd / 1e6).toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 12 })}`;
}

/** A price per 1M tokens in micro-USD, as dollars; `-` when unknown. */
function formatPerMillion(microUsd: number | null | undefined): string {
  return microUsd === null || microUsd === undefined ? "-" : formatUsd(microUsd / 1e6);
}

/**
 * How the cost here was made, from the model rows: `by the price book` (every model priced by tokens: a tiers or
 * hourly entry, or an upstream's token prices), `engine time (4.4 s) × $0.009735/hour` (every model priced by engine
 * time), or the split of a mix: `$0.0151 by the price book + $0.0000120 by engine time (4.4 s) × $0.009735/hour`.
 * A model row counts as time-priced when its pricing now is `time` (the report has no per-request basis).
 */
function costBasis(rows: readonly WireUsageRow[], rate: WireTimeRate | undefined): string {
  const byTime = rate === undefined ? [] : rows.filter((row) => row.pricing?.basis === "time");
  const byBook = rows.filter((row) => !byTime.includes(row));
  const timeText = (): string => {
    const engineMs = byTime.reduce((sum, row) => sum + (row.engine_time_ms ?? 0), 0);
    return `engine time (${formatEngineTime(engineMs)}) × ${formatRateUsd(rate!.micro_usd_per_hour)}/hour`;
  };
  if (byTime.length === 0) return "by the price book";
  const bookUsd = byBook.reduce((sum, row) => sum + costUsd(row), 0);
  if (byBook.length === 0 || bookUsd === 0) return timeText();
  const timeUsd = byTime.reduce((sum, row) => sum + costUsd(row), 0);
  return `${formatUsd(bookUsd)} by the price book + ${formatUsd(timeUsd)} by ${timeText()}`;
}

/** The cloud models the groups were compared with, for the total's line: `qwen3.5-flash`, or `a, b and 2 more`. */
function cloudModels(rows: readonly WireUsageRow[]): string | undefined {
  const names = [...new Set(rows.flatMap((row) => (row.cloud_model === null ? [] : [row.cloud_model])))];
  if (names.length === 0) return undefined;
  return names.length <= 2 ? names.join(" and ") : `${names.slice(0, 2).join(", ")} and ${names.length - 2} more`;
}

/** Usage: tokens and cost over time, by key and by model, the saving against the cloud list price, and CSV export. */
export function UsagePage(): ReactNode {
  const api = useConsoleApi();
  const [range, setRange] = useState<RangeValue>("7d");
  const from = range === "all" ? undefined : range;
  const data = useAsync(
    useCallback(async () => {
      if (!api.info.features.usage) return undefined;
      const [byModel, byKey, events] = await Promise.all([
        api.admin.usage({ groupBy: "model", from }),
        api.admin.usage({ groupBy: "key", from }),
        api.console.listUsageEvents({ from, limit: eventLimit }),
      ]);
      return { byModel, byKey, events };
    }, [api, from]),
  );
  const [exportState, setExportState] = useState<string | undefined>(undefined);

  if (!api.info.features.usage) {
    return (
      <div className="page">
        <PageHeader title="Usage" />
        <Notice kind="unavailable" title="The usage ledger is not available on this server." />
      </div>
    );
  }

  const exportCsv = async (): Promise<void> => {
    setExportState("Preparing…");
    try {
      const csv = await api.console.usageEventsCsv({ from });
      const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = `moestro-usage-${range}-${new Date().toISOString().slice(0, 10)}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setExportState(undefined);
    } catch (error) {
      setExportState(`Export failed: ${describeError(error).message}`);
    }
  };

  const total = data.data?.byModel.total;
  const timeRate = data.data?.byModel.time_rate ?? undefined;
  const events = data.data?.events.data ?? [];
  return (
    <div className="page">
      <PageHeader
        title="Usage"
        subtitle="Every model request is in the ledger, priced by the engine time it took on this machine (or by the price book's token prices), beside what the same tokens would cost at the nearest cloud list price."
        actions={
          <>
            <select
              value={range}
              onChange={(event) => setRange(event.target.value as RangeValue)}
              aria-label="Time range"
              data-testid="usage-range"
            >
              {ranges.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
            <button type="button" onClick={data.reload}>
              Refresh
            </button>
            <button type="button" className="primary" onClick={() => void exportCsv()} data-testid="export-csv">
              Export CSV
            </button>
          </>
        }
      />
      {exportState !== undefined && <Notice kind={exportState.startsWith("Export failed") ? "error" : "info"}>{exportState}</Notice>}
      {data.error !== undefined && <ErrorNotice error={data.error} what="Usage" />}
      {total !== undefined && (
        <div className="stats" data-testid="usage-totals">
          <Stat
            label="Requests"
            value={<span data-testid="total-requests">{formatInteger(total.requests)}</span>}
            detail={`${total.error_requests} failed · ${total.aborted_requests} aborted`}
          />
          <Stat
            label="Tokens"
            value={formatCount(total.total_tokens)}
            detail={`${formatCount(total.prompt_tokens)} in · ${formatCount(total.completion_tokens)} out`}
          />
          <Stat
            label="Cost here"
            value={
              <span data-testid="cost-here">
                {formatUsd(costUsd(total))}
                {total.cost_estimated === true && <span className="muted small"> estimate</span>}
              </span>
            }
            detail={<span data-testid="cost-basis">{costBasis(data.data!.byModel.data, timeRate)}</span>}
          />
          <Stat
            label="At cloud list price"
            value={formatUsd(cloudCostUsd(total))}
            detail={cloudModels(data.data!.byModel.data) ?? "no cloud model matched"}
          />
          <Stat
            label="Difference"
            value={<span data-testid="saving">{formatUsd(cloudCostUsd(total) - costUsd(total))}</span>}
            detail={
              savingShare(total) === undefined
                ? "cloud list price − cost here"
                : `cloud list price − cost here: ${formatPercent(savingShare(total)!)} of the cloud price`
            }
          />
        </div>
      )}
      {timeRate !== undefined && (
        <PricingAssumptions rate={timeRate} rows={data.data?.byModel.data ?? []} estimated={total?.cost_estimated === true} />
      )}
      {data.data !== undefined && (
        <Section title="Over time" testId="usage-charts">
          {data.data.events.has_more && (
            <Notice>
              The charts show the first {formatInteger(eventLimit)} requests of this range; the totals and tables count them all.
            </Notice>
          )}
          <div className="chart-grid">
            <div>
              <h3>Tokens, cumulative</h3>
              <TokenChart events={events} />
            </div>
            <div>
              <h3>Cost against the cloud list price, cumulative</h3>
              <CostChart events={events} />
            </div>
          </div>
        </Section>
      )}
      {data.data !== undefined && (
        <>
          <UsageTable title="By model" rows={data.data.byModel.data} testId="usage-by-model" firstColumn="Model" />
          <UsageTable title="By key" rows={data.data.byKey.data} testId="usage-by-key" firstColumn="Key" />
        </>
      )}
    </div>
  );
}

function cumulative(
  events: readonly WireUsageEvent[],
  value: (event: WireUsageEvent) => number,
): Array<{ x: number; y: number; event: WireUsageEvent }> {
  let sum = 0;
  return [...events]
    .sort((a, b) => a.started_at_ms - b.started_at_ms)
    .map((event) => {
      sum += value(event);
      return { x: event.started_at_ms, y: sum, event };
    });
}

function TokenChart(props: { events: readonly WireUsageEvent[] }): ReactNode {
  const prompt = cumulative(props.events, (event) => event.prompt_tokens);
  const completion = cumulative(props.events, (event) => event.completion_tokens);
  const describe = (event: WireUsageEvent): string =>
    `${formatTime(event.started_at_ms)} · ${event.model} · ${event.prompt_tokens} prompt + ${event.completion_tokens} completion tokens${event.engine == null ? "" : ` · ${event.engine}`}${event.key_id === null ? "" : ` · key ${event.key_id}`}`;
  return (
    <Chart
      testId="tokens-chart"
      markerTestId="usage-point"
      isTimeAxis
      xLabel="time"
      yLabel="tokens"
      emptyText="No requests in this range yet."
      // Prompt tokens first: the completion line and its markers are drawn above it, where the two meet.
      series={[
        {
          name: "prompt tokens",
          color: seriesColors[1]!,
          isStep: true,
          hasMarkers: false,
          points: prompt.map((point) => ({ x: point.x, y: point.y })),
        },
        {
          name: "completion tokens",
          color: seriesColors[0]!,
          isStep: true,
          hasMarkers: "when-sparse",
          points: completion.map((point) => ({
            x: point.x,
            y: point.y,
            title: describe(point.event),
            data: { request: point.event.request_id },
          })),
        },
      ]}
    />
  );
}

function CostChart(props: { events: readonly WireUsageEvent[] }): ReactNode {
  const cost = cumulative(props.events, costUsd);
  const cloud = cumulative(props.events, cloudCostUsd);
  return (
    <Chart
      testId="cost-chart"
      isTimeAxis
      xLabel="time"
      yLabel="USD"
      yFormat={formatUsdTick}
      emptyText="No requests in this range yet."
      series={[
        {
          name: "cloud list price",
          color: seriesColors[5]!,
          isStep: true,
          isDashed: true,
          hasMarkers: "when-sparse",
          points: cloud.map((point) => ({ x: point.x, y: point.y, title: `${formatUsd(point.y)} at the cloud list price` })),
        },
        {
          name: "cost here",
          color: seriesColors[2]!,
          isStep: true,
          hasMarkers: "when-sparse",
          points: cost.map((point) => ({ x: point.x, y: point.y, title: `${formatUsd(point.y)} cost here` })),
        },
      ]}
    />
  );
}

/**
 * What the local cost rests on, one click away: the hourly cost of engine time (hardware, power, electricity), where
 * each figure comes from, whether it is an estimate, and the models priced by tokens instead.
 */
function PricingAssumptions(props: { rate: WireTimeRate; rows: readonly WireUsageRow[]; estimated: boolean }): ReactNode {
  const { rate } = props;
  const byTokens = props.rows.filter((row) => row.pricing?.basis === "tokens").map((row) => row.name);
  return (
    <details className="assumptions" data-testid="pricing-assumptions">
      <summary>
        How the cost here is computed{" "}
        <span className="muted small" data-testid="pricing-kind">
          {rate.estimated || props.estimated ? "(estimate)" : "(configured)"}
        </span>
      </summary>
      <ul>
        <li>
          A local request costs the engine time it took (its prefill, and its share of each decode step it was batched in) ×{" "}
          <strong data-testid="hourly-cost">{formatRateUsd(rate.micro_usd_per_hour)}/hour</strong>.
        </li>
        <li>
          Hardware: {formatRateUsd(rate.hardware_micro_usd_per_hour)}/hour
          {rate.hardware_micro_usd_per_hour === 0 ? " (none configured)" : ""}.
        </li>
        <li data-testid="pricing-power">
          Power: {rate.watts} W ({rate.watts_source}).
        </li>
        <li data-testid="pricing-electricity">
          Electricity: {formatRateUsd(rate.micro_usd_per_kwh)}/kWh ({rate.electricity_source}).
        </li>
        {rate.estimated && (
          <li>
            An estimate: set <code>localTime.watts</code> and <code>localTime.microUsdPerKwh</code> (and <code>microUsdPerHour</code> for
            the hardware) in the price book.
          </li>
        )}
        {byTokens.length > 0 && <li>Priced by tokens (a tiers or hourly entry in the price book): {byTokens.join(", ")}.</li>}
        <li>Upstream requests are priced by the price book's token prices for their model, if any.</li>
      </ul>
    </details>
  );
}

function UsageTable(props: { title: string; rows: WireUsageRow[]; testId: string; firstColumn: string }): ReactNode {
  const byModel = props.rows.some((row) => row.pricing !== undefined && row.pricing !== null);
  return (
    <Section title={props.title} testId={props.testId}>
      {props.rows.length === 0 ? (
        <Notice>No requests in this range.</Notice>
      ) : (
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>{props.firstColumn}</th>
                <th className="number">Requests</th>
                <th className="number">Tokens in / out</th>
                <th
                  className="number"
                  title="Prompt tokens served from a cache: reused by the engine (implicit), and pinned with cache_control (explicit: written, read)"
                >
                  Cached tokens
                </th>
                <th className="number">Engine time</th>
                <th className="number">Cost here</th>
                <th>Cloud model</th>
                <th className="number">At cloud price</th>
                <th className="number">Difference</th>
                {byModel && <th className="number">Measured per 1M out</th>}
                {byModel && <th className="number">Planner per 1M out</th>}
              </tr>
            </thead>
            <tbody>
              {props.rows.map((row) => (
                <tr key={row.group ?? "none"} data-testid="usage-row" data-group={row.group ?? ""}>
                  <td>
                    <strong>{row.name}</strong>
                    {row.group !== null && row.group !== row.name && <div className="muted small">{row.group}</div>}
                  </td>
                  <td className="number" data-testid="row-requests">
                    {formatInteger(row.requests)}
                  </td>
                  <td className="number">
                    {formatInteger(row.prompt_tokens)} / {formatInteger(row.completion_tokens)}
                    {row.reasoning_tokens > 0 && <div className="muted small">{formatInteger(row.reasoning_tokens)} thinking</div>}
                  </td>
                  <td className="number" data-testid="row-cached">
                    {formatInteger(row.cached_prompt_tokens)}
                    {((row.cache_creation_input_tokens ?? 0) > 0 || (row.cache_read_input_tokens ?? 0) > 0) && (
                      <div className="muted small">
                        pinned: {formatInteger(row.cache_creation_input_tokens ?? 0)} written ·{" "}
                        {formatInteger(row.cache_read_input_tokens ?? 0)} read
                      </div>
                    )}
                  </td>
                  <td className="number">{formatEngineTime(row.engine_time_ms)}</td>
                  <td className="number" data-testid="row-cost">
                    {formatUsd(costUsd(row))}
                    {row.cost_estimated === true && <div className="muted small">estimate</div>}
                  </td>
                  <td>{row.cloud_model ?? "-"}</td>
                  <td className="number">{formatUsd(cloudCostUsd(row))}</td>
                  <td className="number">
                    {formatUsd(cloudCostUsd(row) - costUsd(row))}
                    {savingShare(row) !== undefined && <div className="muted small">{formatPercent(savingShare(row)!)}</div>}
                  </td>
                  {byModel && (
                    <td className="number" data-testid="row-measured">
                      {formatPerMillion(row.measured_micro_usd_per_million_output_tokens)}
                    </td>
                  )}
                  {byModel && (
                    <td className="number" data-testid="row-planned">
                      {row.pricing?.basis === "tokens" ? (
                        "token price"
                      ) : (
                        <>
                          {formatPerMillion(row.pricing?.planned_single_micro_usd_per_million_output_tokens)}
                          {row.pricing?.planned_busy_micro_usd_per_million_output_tokens != null && (
                            <div className="muted small">
                              busy: {formatPerMillion(row.pricing.planned_busy_micro_usd_per_million_output_tokens)}
                            </div>
                          )}
                        </>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
