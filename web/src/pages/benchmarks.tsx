import { useCallback, useState, type ReactNode } from "react";
import type { WireBenchRun, WireEvalResult, WireEvalRun } from "../../../src/wire/console.js";
import { useConsoleApi } from "../api.js";
import { Chart, seriesColors, type ChartPoint, type ChartSeries } from "../charts.js";
import { formatFixed, formatInteger, formatPercent, formatTime, formatUsd, formatUsdTick } from "../format.js";
import { useAsync } from "../hooks.js";
import { Badge, ErrorNotice, Notice, PageHeader, Section } from "../ui.js";

/** One eval result with the run it belongs to. */
interface EvalPoint {
  run: WireEvalRun;
  result: WireEvalResult;
}

/** Benchmarks and evals: the serving benchmarks and evals stored in the server's results folder, as tables and charts. */
export function BenchmarksPage(): ReactNode {
  const api = useConsoleApi();
  const results = useAsync(useCallback(() => (api.info.features.results ? api.console.listResults() : Promise.resolve(undefined)), [api]));
  const dir = api.info.results_dir ?? "$MOESTRO_HOME/results";
  // The empty state's commands name a served model (a loaded one first), `MODEL` where the server serves none.
  const models = useAsync(useCallback(() => api.console.listModels(), [api]));
  const model = (models.data?.find((entry) => entry.loaded) ?? models.data?.[0])?.id ?? "MODEL";
  const fileModel = model.replace(/[^A-Za-z0-9._-]+/g, "-");

  if (!api.info.features.results) {
    return (
      <div className="page">
        <PageHeader title="Benchmarks & evals" />
        <Notice kind="unavailable" title="Stored results are not available on this server yet." testId="results-off">
          This server has no results folder. Run <code>moestro bench --out FILE.json</code> and <code>moestro eval --out DIR</code> to keep
          results on disk meanwhile.
        </Notice>
      </div>
    );
  }
  const runs = results.data?.data ?? [];
  const evals = runs.filter((run): run is WireEvalRun => run.kind === "eval");
  const benches = runs.filter((run): run is WireBenchRun => run.kind === "bench");
  return (
    <div className="page">
      <PageHeader
        title="Benchmarks & evals"
        subtitle={
          <>
            Serving speed from <code>moestro bench</code> and accuracy against cost from <code>moestro eval</code>, read from{" "}
            <code>{dir}</code>.
          </>
        }
        actions={
          <button type="button" onClick={results.reload} data-testid="results-refresh">
            Refresh
          </button>
        }
      />
      {results.error !== undefined && <ErrorNotice error={results.error} what="Stored results" />}
      {results.data !== undefined && runs.length === 0 && (
        <Notice title="No results yet." testId="results-empty">
          Point the commands' <code>--out</code> at this server's results folder, then refresh:
          <pre className="code">
            {`moestro bench --url ${window.location.origin} --model ${model} --out ${dir}/bench-${fileModel}.json\nmoestro eval --url ${window.location.origin} --dataset sample --model ${model} --thinking both --out ${dir}/eval-sample`}
          </pre>
        </Notice>
      )}
      {results.data !== undefined && results.data.skipped.length > 0 && (
        <Notice kind="error" title="Some files could not be read.">
          {results.data.skipped.map((skip) => (
            <div key={skip.id}>
              <code>{skip.id}</code>: {skip.reason}
            </div>
          ))}
        </Notice>
      )}
      {results.data !== undefined && <EvalSection evals={evals} />}
      {results.data !== undefined && <BenchSection benches={benches} />}
    </div>
  );
}

function EvalSection(props: { evals: WireEvalRun[] }): ReactNode {
  const [costBasis, setCostBasis] = useState<"own" | "cloud">("own");
  const points: EvalPoint[] = props.evals.flatMap((run) => run.results.map((result) => ({ run, result })));
  const cost = (point: EvalPoint): number =>
    costBasis === "own" ? point.result.cost_per_1000_questions_usd : point.result.cloud_cost_per_1000_questions_usd;
  const runsById = [...new Set(points.map((point) => point.run.id))];
  // With every cost at $0 a cost axis says nothing and stacks every point on it: each result gets its own column.
  const isAllFree = points.length > 0 && points.every((point) => cost(point) === 0);
  const series: ChartSeries[] = runsById.map((runId, index) => ({
    name: runId,
    color: seriesColors[index % seriesColors.length]!,
    hasLine: false,
    points: points
      .filter((point) => point.run.id === runId)
      .map((point) => ({
        x: isAllFree ? points.indexOf(point) : cost(point),
        y: point.result.accuracy * 100,
        yLow: point.result.wilson_lower * 100,
        yHigh: point.result.wilson_upper * 100,
        label: `${point.result.model}${point.result.thinking === "default" ? "" : ` · thinking ${point.result.thinking}`}`,
        title: `${point.result.model}, thinking ${point.result.thinking}: ${formatPercent(point.result.accuracy)} (95% CI ${formatPercent(point.result.wilson_lower)}–${formatPercent(point.result.wilson_upper)}) at ${formatUsd(cost(point))} per 1,000 questions`,
        data: { model: point.result.model, thinking: point.result.thinking, run: runId },
      })),
  }));
  return (
    <Section
      title="Evals: accuracy against cost"
      testId="evals"
      actions={
        <select value={costBasis} onChange={(event) => setCostBasis(event.target.value as "own" | "cloud")} aria-label="Cost basis">
          <option value="own">Cost here (price book)</option>
          <option value="cloud">Cost at the cloud list price</option>
        </select>
      }
    >
      {points.length === 0 ? (
        <Notice>No eval stored yet.</Notice>
      ) : (
        <>
          <Chart
            testId="eval-chart"
            markerTestId="eval-point"
            series={series}
            xLabel={isAllFree ? "model and thinking mode (every cost here is $0)" : "USD per 1,000 questions"}
            yLabel="accuracy, % (95% Wilson interval)"
            yDomain={[0, 100]}
            xDomain={isAllFree ? [-0.5, points.length - 0.5] : undefined}
            xTicks={isAllFree ? [] : undefined}
            isXFromZero
            xFormat={formatUsdTick}
            height={300}
          />
          {isAllFree && (
            <p className="muted small">
              Every model here costs $0 in the price book: set a local price (--price-book) or compare at the cloud list price.
            </p>
          )}
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Model</th>
                  <th>Thinking</th>
                  <th className="number">Done</th>
                  <th className="number">Accuracy</th>
                  <th className="number">95% CI</th>
                  <th className="number">Unparsable</th>
                  <th className="number">Errors</th>
                  <th className="number">Tokens out</th>
                  <th className="number">$ / 1k q</th>
                  <th className="number">Cloud $ / 1k q</th>
                  <th className="number">Latency</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {points.map((point) => (
                  <tr
                    key={`${point.run.id}/${point.result.model}/${point.result.thinking}`}
                    data-testid="eval-row"
                    data-model={point.result.model}
                  >
                    <td>
                      <strong>{point.run.id}</strong>
                      <div className="muted small">
                        {point.run.dataset.path.split("/").at(-1)} · {formatTime(Date.parse(point.run.created_at))}
                      </div>
                    </td>
                    <td>{point.result.model}</td>
                    <td>{point.result.thinking}</td>
                    <td className="number">
                      {point.result.done}/{point.result.questions}
                    </td>
                    <td className="number">{formatPercent(point.result.accuracy)}</td>
                    <td className="number">
                      {formatPercent(point.result.wilson_lower, 0)}–{formatPercent(point.result.wilson_upper, 0)}
                    </td>
                    <td className="number">{point.result.unparsable}</td>
                    <td className="number">{point.result.errors}</td>
                    <td className="number">{formatFixed(point.result.mean_completion_tokens, 0)}</td>
                    <td className="number">{formatUsd(point.result.cost_per_1000_questions_usd)}</td>
                    <td className="number">{formatUsd(point.result.cloud_cost_per_1000_questions_usd)}</td>
                    <td className="number">
                      {point.result.mean_latency_ms === null ? "-" : `${formatInteger(point.result.mean_latency_ms)} ms`}
                    </td>
                    <td>{point.result.is_pareto_optimal && <Badge tone="accent">Pareto</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}

function BenchSection(props: { benches: WireBenchRun[] }): ReactNode {
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const run = props.benches.find((candidate) => candidate.id === selected) ?? props.benches[0];
  return (
    <Section
      title="Serving benchmarks: throughput and latency"
      testId="benches"
      actions={
        props.benches.length > 1 && (
          <select value={run?.id} onChange={(event) => setSelected(event.target.value)} aria-label="Benchmark run">
            {props.benches.map((candidate) => (
              <option key={candidate.id} value={candidate.id}>
                {candidate.id} · {formatTime(Date.parse(candidate.started_at))}
              </option>
            ))}
          </select>
        )
      }
    >
      {run === undefined ? <Notice>No serving benchmark stored yet.</Notice> : <BenchView run={run} />}
    </Section>
  );
}

function BenchView(props: { run: WireBenchRun }): ReactNode {
  const { run } = props;
  type Target = WireBenchRun["targets"][number];
  type Level = Target["levels"][number];
  const pointsOf = (target: Target, value: (level: Level) => number | null): ChartPoint[] =>
    target.levels.flatMap((level) => {
      const y = value(level);
      return y === null ? [] : [{ x: level.concurrency, y }];
    });
  const perTarget = (value: (level: Level) => number | null): ChartSeries[] =>
    run.targets.map((target, index) => ({
      name: target.label,
      color: seriesColors[index % seriesColors.length]!,
      points: pointsOf(target, value),
    }));
  const levels = [...new Set(run.targets.flatMap((target) => target.levels.map((level) => level.concurrency)))].sort((a, b) => a - b);
  // Per target: TTFT then E2E latency, a colour each; p50 solid, p99 dashed in the same colour.
  const latencies = [
    { name: "TTFT", value: (level: Level) => level.ttft_ms },
    { name: "E2E", value: (level: Level) => level.e2e_latency_ms },
  ];
  const latencySeries: ChartSeries[] = run.targets.flatMap((target, index) =>
    latencies.flatMap((latency, latencyIndex) =>
      (["p50", "p99"] as const).map((quantile) => ({
        name: `${target.label} ${latency.name} ${quantile}`,
        color: seriesColors[(index * latencies.length + latencyIndex) % seriesColors.length]!,
        isDashed: quantile === "p99",
        points: pointsOf(target, (level) => latency.value(level)[quantile]),
      })),
    ),
  );
  return (
    <div data-testid="bench-view">
      <p className="muted small">
        {run.id} · {run.endpoint} endpoint · {run.prompt_tokens === null ? "dataset prompts" : `${run.prompt_tokens}-token prompts`} · max{" "}
        {run.max_tokens} tokens · goodput SLO: TTFT ≤ {run.slo.ttft_ms} ms, TPOT ≤ {run.slo.tpot_ms} ms ·{" "}
        {formatTime(Date.parse(run.started_at))}
      </p>
      <div className="chart-grid">
        <div>
          <h3>Output tokens per second</h3>
          <Chart
            testId="bench-throughput-chart"
            series={perTarget((level) => level.output_tokens_per_second)}
            xTicks={levels}
            xLabel="concurrent requests"
            yLabel="tokens/s"
          />
        </div>
        <div>
          <h3>Latency</h3>
          <Chart testId="bench-latency-chart" series={latencySeries} xTicks={levels} xLabel="concurrent requests" yLabel="ms" />
        </div>
      </div>
      <div className="table-scroll">
        <table className="table">
          <thead>
            <tr>
              {run.targets.length > 1 && <th>Target</th>}
              <th className="number">Concurrency</th>
              <th className="number">OK</th>
              <th className="number">Errors</th>
              <th className="number">Requests/s</th>
              <th className="number">Output tok/s</th>
              <th className="number">Goodput/s</th>
              <th className="number">TTFT p50 / p99</th>
              <th className="number">TPOT p50 / p99</th>
              <th className="number">E2E p50 / p99</th>
            </tr>
          </thead>
          <tbody>
            {run.targets.flatMap((target) =>
              target.levels.map((level) => (
                <tr key={`${target.label}/${level.concurrency}`} data-testid="bench-row">
                  {run.targets.length > 1 && <td>{target.label}</td>}
                  <td className="number">{level.concurrency}</td>
                  <td className="number">{level.completed}</td>
                  <td className="number">{level.errors}</td>
                  <td className="number">{formatFixed(level.requests_per_second, 2)}</td>
                  <td className="number">{formatFixed(level.output_tokens_per_second, 1)}</td>
                  <td className="number">{formatFixed(level.goodput_requests_per_second, 2)}</td>
                  <td className="number">
                    {formatFixed(level.ttft_ms.p50, 0)} / {formatFixed(level.ttft_ms.p99, 0)} ms
                  </td>
                  <td className="number">
                    {formatFixed(level.tpot_ms.p50, 1)} / {formatFixed(level.tpot_ms.p99, 1)} ms
                  </td>
                  <td className="number">
                    {formatFixed(level.e2e_latency_ms.p50, 0)} / {formatFixed(level.e2e_latency_ms.p99, 0)} ms
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
