import { type ReactNode, useCallback, useEffect, useState } from "react";
import type { WireUpstream, WireUpstreamList, WireUpstreamPool } from "../../../src/wire/console.js";
import { useConsoleApi } from "../api.js";
import { formatDurationMs, formatInteger, formatPercent } from "../format.js";
import { useAsync } from "../hooks.js";
import { Badge, ErrorNotice, Notice, PageHeader, Section } from "../ui.js";

/** How often the page reads the upstreams again, ms (as the Models page reads what is loaded). */
const refreshMs = 5000;

/** An upstream's list as read, with the browser's clock at the answer: cooldowns count down from there. */
interface UpstreamsReading {
  list: WireUpstreamList;
  /** The browser's `Date.now()` when the answer came. */
  readAtMs: number;
}

/** How an upstream's state reads on the page, and how long until it gets requests again (ms), when it is left out. */
interface StateView {
  label: "healthy" | "ejected" | "rate-limited" | "unknown";
  tone: "good" | "bad" | "warn" | "neutral";
  /** What the cooldown or the 429's wait leaves, ms; `undefined` when none runs. */
  leftMs?: number;
}

/**
 * The state of an upstream at `nowMs` (browser clock): `ejected` (with its cooldown left, from the server's own clock
 * at the answer), `rate-limited` (healthy but waiting out a 429's Retry-After, as `moestro ps` calls it), `healthy`,
 * or `unknown` for a state this console does not know (a newer server's).
 */
function stateView(upstream: WireUpstream, reading: UpstreamsReading, nowMs: number): StateView {
  const leftMs =
    upstream.ejected_until === null
      ? undefined
      : Math.max(0, Date.parse(upstream.ejected_until) - Date.parse(reading.list.at) - (nowMs - reading.readAtMs));
  if (upstream.state === "ejected") return { label: "ejected", tone: "bad", leftMs };
  if (upstream.state === "healthy")
    return leftMs !== undefined && leftMs > 0 ? { label: "rate-limited", tone: "warn", leftMs } : { label: "healthy", tone: "good" };
  return { label: "unknown", tone: "neutral" };
}

/** The browser's clock, ticking every second, so that cooldowns count down between two reads. */
function useNowMs(): number {
  const [nowMs, setNowMs] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNowMs(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return nowMs;
}

/**
 * Upstreams: the servers this moestro is a gateway for (docs/gateway.md), one row each with its URL, kind, models,
 * health, load, errors and latency, and the pools their models make with their members. A page of its own rather than
 * a section of Models: Models is about what sits in this machine's memory (pull, load, plan), while upstreams hold no
 * memory here and have a life of their own (health checks, ejection, cooldown) that an operator watches apart.
 */
export function UpstreamsPage(): ReactNode {
  const api = useConsoleApi();
  const upstreams = useAsync<UpstreamsReading>(
    useCallback(async () => ({ list: await api.console.listUpstreams(), readAtMs: Date.now() }), [api]),
    { refreshMs },
  );
  const nowMs = useNowMs();
  const reading = upstreams.data;
  return (
    <div className="page">
      <PageHeader
        title="Upstreams"
        subtitle="The servers this moestro sends requests to, as a gateway: their health, load, errors and latency, read every 5 s."
        actions={
          <button type="button" onClick={upstreams.reload}>
            Refresh
          </button>
        }
      />
      {upstreams.error !== undefined && <ErrorNotice error={upstreams.error} what="The upstreams" />}
      {reading !== undefined && reading.list.data.length === 0 && (
        <Notice title="This server has no upstreams." testId="no-upstreams">
          Start it with <code>--upstream NAME=URL</code> (or <code>upstreams</code> in its config file) to put it in front of vLLM, SGLang,
          llama-server, Ollama or another moestro; their models are then served here with the same keys, limits and ledger.
        </Notice>
      )}
      {reading !== undefined && reading.list.data.length > 0 && (
        <>
          <UpstreamTable reading={reading} nowMs={nowMs} />
          <PoolTable pools={reading.list.pools} reading={reading} nowMs={nowMs} />
        </>
      )}
    </div>
  );
}

function UpstreamTable(props: { reading: UpstreamsReading; nowMs: number }): ReactNode {
  const { reading, nowMs } = props;
  return (
    <Section title="Upstreams" testId="upstreams">
      <div className="table-scroll">
        <table className="table">
          <thead>
            <tr>
              <th>Upstream</th>
              <th>Models</th>
              <th>State</th>
              <th className="number">In flight</th>
              <th className="number" title="Requests waiting in its own queue, from its /metrics (vLLM, SGLang, llama-server, moestro)">
                Queue
              </th>
              <th className="number" title="Failed attempts among its last ones (at most 100); all since start below">
                Errors
              </th>
              <th className="number" title="Median time to the first event over its last 100 answers">
                Latency p50
              </th>
            </tr>
          </thead>
          <tbody>
            {reading.list.data.map((upstream) => (
              <tr key={upstream.name} data-testid="upstream-row" data-upstream={upstream.name}>
                <td>
                  <strong>{upstream.name}</strong> <Badge>{upstream.kind}</Badge>
                  <div className="muted small mono" data-testid="upstream-url">
                    {upstream.url}
                  </div>
                </td>
                <td data-testid="upstream-models">
                  {upstream.models.length === 0 ? <span className="muted">none read yet</span> : upstream.models.join(", ")}
                </td>
                <td>
                  <StateCell view={stateView(upstream, reading, nowMs)} failures={upstream.consecutive_failures} />
                </td>
                <td className="number" data-testid="upstream-in-flight">
                  {upstream.in_flight}
                </td>
                <td className="number">
                  <QueueCell upstream={upstream} />
                </td>
                <td className="number">
                  <ErrorsCell upstream={upstream} />
                </td>
                <td className="number" data-testid="upstream-latency">
                  {formatLatency(upstream)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

function StateCell(props: { view: StateView; failures: number }): ReactNode {
  const { view, failures } = props;
  return (
    <>
      <span data-testid="upstream-state">
        <Badge tone={view.tone}>{view.label}</Badge>
      </span>
      {view.label === "ejected" && (
        <div className="muted small" data-testid="upstream-cooldown">
          {view.leftMs !== undefined && view.leftMs > 0
            ? `cooldown: ${formatSecondsLeft(view.leftMs)} left`
            : "cooldown over: back at its next passing check or answer"}
          {failures > 0 && ` · ${failures} failure${failures === 1 ? "" : "s"} in a row`}
        </div>
      )}
      {view.label === "rate-limited" && view.leftMs !== undefined && (
        <div className="muted small" data-testid="upstream-cooldown">
          answered 429: {formatSecondsLeft(view.leftMs)} left
        </div>
      )}
    </>
  );
}

/** A wait in whole seconds, rounded up: `8 s`, `1 min 59 s` (it counts down once a second). */
function formatSecondsLeft(leftMs: number): string {
  const seconds = Math.ceil(leftMs / 1000);
  return seconds < 60 ? `${seconds} s` : formatDurationMs(seconds * 1000);
}

function QueueCell(props: { upstream: WireUpstream }): ReactNode {
  const { queued, kv_cache_usage: kvCacheUsage } = props.upstream;
  return (
    <>
      <span data-testid="upstream-queue" title={queued == null ? "not published by this kind of upstream, or no fresh reading" : undefined}>
        {queued == null ? "-" : formatInteger(queued)}
      </span>
      {kvCacheUsage != null && <div className="muted small">KV cache {formatPercent(kvCacheUsage, 0)}</div>}
    </>
  );
}

function ErrorsCell(props: { upstream: WireUpstream }): ReactNode {
  const { recent_error_rate: rate, recent_attempts: attempts, errors_total: errors, requests_total: requests } = props.upstream;
  return (
    <>
      <span data-testid="upstream-error-rate">{rate == null ? "-" : formatPercent(rate, Number.isInteger(rate * 100) ? 0 : 1)}</span>
      {attempts !== undefined && attempts > 0 && (
        <div className="muted small">
          of the last {attempts} attempt{attempts === 1 ? "" : "s"}
        </div>
      )}
      <div className="muted small" data-testid="upstream-errors-total">
        {formatInteger(errors)} of {formatInteger(requests)} since start
      </div>
    </>
  );
}

/** The median latency; a server older than it gives only the moving average, said so. */
function formatLatency(upstream: WireUpstream): string {
  if (upstream.latency_p50_ms != null) return formatDurationMs(upstream.latency_p50_ms);
  if (upstream.latency_ms != null) return `${formatDurationMs(upstream.latency_ms)} (average)`;
  return "-";
}

function PoolTable(props: { pools: WireUpstreamPool[]; reading: UpstreamsReading; nowMs: number }): ReactNode {
  const { pools, reading, nowMs } = props;
  return (
    <Section title="Pools" testId="pools">
      {pools.length === 0 ? (
        <Notice>No upstream serves a model yet: their models appear once they answer.</Notice>
      ) : (
        <>
          <p className="muted small">
            A model id served by several places is one pool: each request goes to the member with the fewest outstanding requests per unit
            of weight, ejected and rate-limited members left out. <code>local</code> is this server's own copy.
          </p>
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>Model</th>
                  <th>Members</th>
                  <th className="number">Taking requests</th>
                  <th className="number">In flight</th>
                </tr>
              </thead>
              <tbody>
                {pools.map((pool) => {
                  const views = pool.members.map((member) => ({ member, view: stateView(member, reading, nowMs) }));
                  return (
                    <tr key={pool.model} data-testid="pool-row" data-model={pool.model}>
                      <td>
                        <strong>{pool.model}</strong>
                        {!pool.loaded && <div className="muted small">not loaded: loads on its next request</div>}
                      </td>
                      <td>
                        <div className="pool-members">
                          {views.map(({ member, view }) => (
                            <span key={member.name} data-testid="pool-member" data-member={member.name} data-state={view.label}>
                              <Badge tone={view.tone}>
                                {member.name} · {view.label}
                              </Badge>
                            </span>
                          ))}
                        </div>
                      </td>
                      <td className="number" data-testid="pool-available">
                        {views.filter(({ view }) => view.label === "healthy").length} of {views.length}
                      </td>
                      <td className="number">{pool.members.reduce((sum, member) => sum + member.in_flight, 0)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}
