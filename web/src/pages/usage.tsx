import { useCallback, useState, type ReactNode } from "react";
import type { WireUsageRow } from "../../../src/wire/admin.js";
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

/** What the cloud list price would have cost more than the local cost, as a share of the cloud price. */
function savingShare(row: WireUsageRow): number | undefined {
  return row.cloud_cost_usd > 0 ? (row.cloud_cost_usd - row.cost_usd) / row.cloud_cost_usd : undefined;
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
  const events = data.data?.events.data ?? [];
  return (
    <div className="page">
      <PageHeader
        title="Usage"
        subtitle="Every model request is in the ledger, priced by the price book, beside what the same tokens would cost at the nearest cloud list price."
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
          <Stat label="Cost" value={formatUsd(total.cost_usd)} detail="by the price book" />
          <Stat
            label="At cloud list price"
            value={formatUsd(total.cloud_cost_usd)}
            detail={cloudModels(data.data!.byModel.data) ?? "no cloud model matched"}
          />
          <Stat
            label="Saved"
            value={<span data-testid="saving">{formatUsd(total.cloud_cost_usd - total.cost_usd)}</span>}
            detail={savingShare(total) === undefined ? "-" : `${formatPercent(savingShare(total)!)} of the cloud price`}
          />
        </div>
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
  const cost = cumulative(props.events, (event) => event.cost_micro_usd / 1e6);
  const cloud = cumulative(props.events, (event) => event.cloud_cost_micro_usd / 1e6);
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
          points: cost.map((point) => ({ x: point.x, y: point.y, title: `${formatUsd(point.y)} by the price book` })),
        },
      ]}
    />
  );
}

function UsageTable(props: { title: string; rows: WireUsageRow[]; testId: string; firstColumn: string }): ReactNode {
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
                <th className="number">Prompt tokens</th>
                <th className="number">Completion tokens</th>
                <th className="number">Thinking tokens</th>
                <th
                  className="number"
                  title="Prompt tokens served from a cache: reused by the engine (implicit), and pinned with cache_control (explicit: written, read)"
                >
                  Cached tokens
                </th>
                <th className="number">Cost</th>
                <th>Cloud model</th>
                <th className="number">At cloud price</th>
                <th className="number">Saved</th>
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
                  <td className="number">{formatInteger(row.prompt_tokens)}</td>
                  <td className="number">{formatInteger(row.completion_tokens)}</td>
                  <td className="number">{formatInteger(row.reasoning_tokens)}</td>
                  <td className="number" data-testid="row-cached">
                    {formatInteger(row.cached_prompt_tokens)}
                    {((row.cache_creation_input_tokens ?? 0) > 0 || (row.cache_read_input_tokens ?? 0) > 0) && (
                      <div className="muted small">
                        pinned: {formatInteger(row.cache_creation_input_tokens ?? 0)} written ·{" "}
                        {formatInteger(row.cache_read_input_tokens ?? 0)} read
                      </div>
                    )}
                  </td>
                  <td className="number">{formatUsd(row.cost_usd)}</td>
                  <td>{row.cloud_model ?? "-"}</td>
                  <td className="number">{formatUsd(row.cloud_cost_usd)}</td>
                  <td className="number">
                    {formatUsd(row.cloud_cost_usd - row.cost_usd)}
                    {savingShare(row) !== undefined && <div className="muted small">{formatPercent(savingShare(row)!)}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
