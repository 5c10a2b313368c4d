import { useRef, useState, type FormEvent, type ReactNode } from "react";
import type { WireModelPlan, WirePullProgress } from "../../../src/wire/console.js";
import { useConsoleApi } from "../api.js";
import { formatBytes, formatCount, formatRate, formatRelative, formatTime, formatUsd } from "../format.js";
import { useAsync } from "../hooks.js";
import { Badge, describeError, ErrorNotice, Notice, PageHeader, ProgressBar, Section, Stat } from "../ui.js";

/** The state of the pull form. */
type PullState =
  | { phase: "idle" }
  | { phase: "pulling"; model: string; progress?: WirePullProgress }
  | { phase: "done"; model: string; progress: WirePullProgress }
  | { phase: "failed"; model: string; message: string; progress?: WirePullProgress };

/** Models: what can be served and what is loaded, memory per model, MoE facts and the plan, pull, load and unload. */
export function ModelsPage(): ReactNode {
  const api = useConsoleApi();
  const models = useAsync(() => api.console.listModels(), [api]);
  const loaded = useAsync(() => api.console.listLoaded(), [api], { refreshMs: 5000 });
  const [busy, setBusy] = useState<Record<string, "loading" | "unloading">>({});
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [planModel, setPlanModel] = useState<string | undefined>(undefined);

  const refresh = (): void => {
    models.reload();
    loaded.reload();
  };
  const act = async (id: string, action: "loading" | "unloading"): Promise<void> => {
    setBusy((previous) => ({ ...previous, [id]: action }));
    setActionError(undefined);
    try {
      if (action === "loading") await api.console.loadModel(id);
      else await api.console.unloadModel(id);
    } catch (error) {
      setActionError(`${action === "loading" ? "Loading" : "Unloading"} ${id} failed: ${describeError(error).message}`);
    } finally {
      setBusy((previous) => {
        const next = { ...previous };
        delete next[id];
        return next;
      });
      refresh();
    }
  };

  const loadedById = new Map((loaded.data ?? []).map((model) => [model.id, model]));
  return (
    <div className="page">
      <PageHeader
        title="Models"
        subtitle="What this server can serve, what sits in memory now, and how each model fits this machine."
        actions={
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        }
      />
      {actionError !== undefined && <Notice kind="error">{actionError}</Notice>}

      <Section title="Loaded now" testId="loaded-models">
        {loaded.error !== undefined && <ErrorNotice error={loaded.error} what="The loaded models" />}
        {loaded.data !== undefined && loaded.data.length === 0 && (
          <Notice>No model is loaded. A model loads on its first request, or with Load below.</Notice>
        )}
        {loaded.data !== undefined && loaded.data.length > 0 && (
          <>
            <MemoryBar models={loaded.data.map((model) => ({ id: model.id, bytes: model.memory_bytes }))} />
            <table className="table">
              <thead>
                <tr>
                  <th>Model</th>
                  <th className="number">Memory</th>
                  <th className="number">Requests</th>
                  <th className="number">Sequences busy</th>
                  <th>Loaded</th>
                  <th>Unloads</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {loaded.data.map((model) => (
                  <tr key={model.id} data-testid="loaded-row" data-model={model.id}>
                    <td>
                      <strong>{model.id}</strong>
                    </td>
                    <td className="number">{formatBytes(model.memory_bytes)}</td>
                    <td className="number">{model.active_requests}</td>
                    <td className="number">{model.sequences_in_use}</td>
                    <td>{formatTime(Date.parse(model.loaded_at))}</td>
                    <td>
                      {model.expires_at === null
                        ? model.active_requests > 0
                          ? "when idle"
                          : "never (kept)"
                        : formatRelative(Date.parse(model.expires_at))}
                    </td>
                    <td className="actions">
                      <button
                        type="button"
                        onClick={() => void act(model.id, "unloading")}
                        disabled={busy[model.id] !== undefined}
                        data-testid="unload"
                      >
                        {busy[model.id] === "unloading" ? "Unloading…" : "Unload"}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Section>

      <Section title="Available" testId="available-models">
        {models.error !== undefined && <ErrorNotice error={models.error} what="The model list" />}
        {models.data !== undefined && models.data.length === 0 && (
          <Notice>No models yet: pull one below, or start the server with --model.</Notice>
        )}
        {models.data !== undefined && models.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th>Model</th>
                <th>Source</th>
                <th>State</th>
                <th className="number">Memory</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {models.data.map((model) => {
                const isLoaded = loadedById.has(model.id);
                return (
                  <tr
                    key={model.id}
                    data-testid="model-row"
                    data-model={model.id}
                    className={planModel === model.id ? "selected" : undefined}
                  >
                    <td>
                      <strong>{model.id}</strong>
                      {model.aliases.length > 0 && <div className="muted small">also {model.aliases.join(", ")}</div>}
                      <div className="muted small path" title={model.path}>
                        {model.path}
                      </div>
                    </td>
                    <td>{model.source === "store" ? "pulled" : "--model"}</td>
                    <td>{isLoaded ? <Badge tone="good">loaded</Badge> : <Badge>on disk</Badge>}</td>
                    <td className="number">{isLoaded ? formatBytes(loadedById.get(model.id)!.memory_bytes) : "-"}</td>
                    <td className="actions">
                      <button type="button" onClick={() => setPlanModel(planModel === model.id ? undefined : model.id)} data-testid="plan">
                        {planModel === model.id ? "Hide plan" : "MoE facts & plan"}
                      </button>
                      {isLoaded ? (
                        <button type="button" onClick={() => void act(model.id, "unloading")} disabled={busy[model.id] !== undefined}>
                          {busy[model.id] === "unloading" ? "Unloading…" : "Unload"}
                        </button>
                      ) : (
                        <button
                          type="button"
                          onClick={() => void act(model.id, "loading")}
                          disabled={busy[model.id] !== undefined}
                          data-testid="load"
                        >
                          {busy[model.id] === "loading" ? "Loading…" : "Load"}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Section>

      {planModel !== undefined && <PlanPanel model={planModel} />}

      <PullSection onPulled={refresh} />
    </div>
  );
}

const memoryColors = ["#3b4cca", "#009e73", "#e69f00", "#cc79a7", "#56b4e9", "#d55e00"];

/** The loaded models' memory as one stacked bar. */
function MemoryBar(props: { models: Array<{ id: string; bytes: number }> }): ReactNode {
  const total = props.models.reduce((sum, model) => sum + model.bytes, 0);
  if (total === 0) return null;
  return (
    <div className="memory-bar-wrap">
      <div className="memory-bar" aria-label={`Loaded models use ${formatBytes(total)}`}>
        {props.models.map((model, index) => (
          <div
            key={model.id}
            style={{ width: `${(model.bytes / total) * 100}%`, background: memoryColors[index % memoryColors.length] }}
            title={`${model.id}: ${formatBytes(model.bytes)}`}
          />
        ))}
      </div>
      <div className="muted small">
        {formatBytes(total)} in use by {props.models.length} model{props.models.length === 1 ? "" : "s"} (the scheduler's estimate: weights,
        KV cache and buffers)
      </div>
    </div>
  );
}

function PullSection(props: { onPulled: () => void }): ReactNode {
  const api = useConsoleApi();
  const [ref, setRef] = useState("");
  const [state, setState] = useState<PullState>({ phase: "idle" });
  const abortRef = useRef<AbortController | undefined>(undefined);
  if (!api.info.features.pull) {
    return (
      <Section title="Pull a model">
        <Notice kind="unavailable" title="Pulling is not available on this server.">
          This server has no model store to pull into.
        </Notice>
      </Section>
    );
  }
  const pull = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const model = ref.trim();
    if (model === "") return;
    const controller = new AbortController();
    abortRef.current = controller;
    setState({ phase: "pulling", model });
    let last: WirePullProgress | undefined;
    try {
      for await (const progress of api.console.pullModel(model, { signal: controller.signal })) {
        last = progress;
        setState({ phase: progress.status === "done" ? "done" : "pulling", model, progress } as PullState);
      }
      if (last?.status !== "done") setState({ phase: "failed", model, message: "The pull ended before it was done.", progress: last });
      props.onPulled();
    } catch (error) {
      setState({
        phase: "failed",
        model,
        message: controller.signal.aborted
          ? "Cancelled. The part downloaded so far is kept; pull again to resume."
          : describeError(error).message,
        progress: last,
      });
    }
  };
  const progress = state.phase === "idle" ? undefined : state.progress;
  const share =
    progress === undefined || progress.total_bytes === null || progress.total_bytes === 0
      ? undefined
      : progress.completed_bytes / progress.total_bytes;
  return (
    <Section title="Pull a model" testId="pull">
      <form className="row pull-form" onSubmit={(event) => void pull(event)}>
        <input
          aria-label="Model to pull"
          data-testid="pull-input"
          className="grow"
          value={ref}
          onChange={(event) => setRef(event.target.value)}
          placeholder="hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M, hf:owner/repo/file.gguf or an https URL"
        />
        {state.phase === "pulling" ? (
          <button type="button" onClick={() => abortRef.current?.abort()}>
            Cancel
          </button>
        ) : (
          <button type="submit" className="primary" disabled={ref.trim() === ""} data-testid="pull-button">
            Pull
          </button>
        )}
      </form>
      <p className="muted small">
        The files go to the server's model store; their size and SHA-256 are checked against the hub. A cancelled pull resumes where it
        stopped.
      </p>
      {state.phase !== "idle" && (
        <div className="pull-progress" data-testid="pull-progress" data-status={progress?.status ?? "starting"}>
          <div className="row">
            <strong>{state.model}</strong>
            <span className="grow" />
            <span data-testid="pull-percent">
              {share === undefined ? (progress?.status ?? "starting") : `${(share * 100).toFixed(share === 1 ? 0 : 1)}%`}
            </span>
          </div>
          <ProgressBar value={state.phase === "done" ? 1 : share} label={`Pulling ${state.model}`} testId="pull-bar" />
          <div className="muted small">
            {progress === undefined
              ? "Starting…"
              : `${progress.status}${progress.file === null ? "" : ` ${progress.file}`} · ${formatBytes(progress.completed_bytes)}${progress.total_bytes === null ? "" : ` of ${formatBytes(progress.total_bytes)}`}`}
          </div>
          {state.phase === "done" && <Notice kind="success">Pulled {state.progress.model}. It loads on its first request.</Notice>}
          {state.phase === "failed" && <Notice kind="error">{state.message}</Notice>}
        </div>
      )}
    </Section>
  );
}

function PlanPanel(props: { model: string }): ReactNode {
  const api = useConsoleApi();
  const plan = useAsync(() => api.console.planModel(props.model), [api, props.model]);
  if (!api.info.features.plan) {
    return (
      <Section title={`Plan: ${props.model}`}>
        <Notice kind="unavailable" title="Planning is not available on this server yet." />
      </Section>
    );
  }
  return (
    <Section title={`MoE facts and plan: ${props.model}`} testId="plan-panel">
      {plan.isLoading && plan.data === undefined && <div className="muted">Reading the GGUF header…</div>}
      {plan.error !== undefined && <ErrorNotice error={plan.error} what="The plan" />}
      {plan.data !== undefined && <PlanView plan={plan.data} />}
    </Section>
  );
}

function PlanView(props: { plan: WireModelPlan }): ReactNode {
  const { facts, memory, placement } = props.plan;
  const isMoe = facts.expert_count !== null;
  const parts = [
    { name: "weights", bytes: memory.weights_bytes, color: "#3b4cca" },
    { name: "KV cache", bytes: memory.kv_cache_bytes + memory.recurrent_state_bytes, color: "#009e73" },
    { name: "compute buffers", bytes: memory.compute_buffer_bytes, color: "#e69f00" },
    { name: "logits", bytes: memory.output_buffer_bytes, color: "#cc79a7" },
  ].filter((part) => part.bytes > 0);
  return (
    <div className="plan" data-testid="plan-view">
      <div className="stats">
        <Stat
          label="Architecture"
          value={facts.architecture}
          detail={`${facts.layer_count} layers${facts.file_type === null ? "" : ` · ${facts.file_type}`}`}
        />
        <Stat label="Parameters" value={formatCount(facts.total_parameters)} detail="total" testId="plan-total-parameters" />
        <Stat label="Active parameters" value={formatCount(facts.active_parameters)} detail="per token" testId="plan-active-parameters" />
        {isMoe ? (
          <Stat
            label="Experts"
            value={<span data-testid="plan-experts">{`${facts.expert_used_count} of ${facts.expert_count}`}</span>}
            detail={`used per token${facts.shared_expert_count ? ` · ${facts.shared_expert_count} shared` : ""}`}
          />
        ) : (
          <Stat label="Experts" value={<span data-testid="plan-experts">dense</span>} detail="not a Mixture of Experts" />
        )}
        <Stat
          label="Weights"
          value={formatBytes(facts.weights_bytes)}
          detail={isMoe ? `${formatBytes(facts.routed_expert_bytes)} in routed experts` : undefined}
        />
      </div>
      <h3>On this machine</h3>
      <p className="muted small">{props.plan.hardware.name}</p>
      <div className="plan-fit">
        {placement.fits ? <Badge tone="good">fits</Badge> : <Badge tone="bad">does not fit</Badge>}{" "}
        <span data-testid="plan-placement">{placement.description}</span>
        {placement.reason !== null && <div className="muted">{placement.reason}</div>}
      </div>
      <div className="memory-bar-wrap">
        <div className="memory-bar">
          {parts.map((part) => (
            <div
              key={part.name}
              style={{ width: `${(part.bytes / memory.total_bytes) * 100}%`, background: part.color }}
              title={`${part.name}: ${formatBytes(part.bytes)}`}
            />
          ))}
        </div>
        <div className="chart-legend">
          {parts.map((part) => (
            <span key={part.name} className="chart-legend-item">
              <span className="chart-swatch" style={{ background: part.color }} />
              {part.name} {formatBytes(part.bytes)}
            </span>
          ))}
          <span className="muted">
            = {formatBytes(memory.total_bytes)} for {memory.sequences} × {memory.context_tokens} tokens of context
          </span>
        </div>
      </div>
      <div className="stats">
        <Stat
          label="Decode"
          value={props.plan.decode_tokens_per_second === null ? "-" : `${formatRate(props.plan.decode_tokens_per_second)} tok/s`}
          detail="one sequence, predicted"
        />
        <Stat
          label="Prefill"
          value={props.plan.prefill_tokens_per_second === null ? "-" : `${formatRate(props.plan.prefill_tokens_per_second)} tok/s`}
          detail="predicted"
        />
        <Stat label="Read per token" value={formatBytes(facts.active_bytes_per_token)} detail="bounds decode speed" />
        {props.plan.cloud !== null && (
          <Stat
            label="Nearest cloud price"
            value={`${formatUsd(props.plan.cloud.output_micro_usd_per_million_tokens / 1e6)} / 1M out`}
            detail={props.plan.cloud.model}
          />
        )}
      </div>
      {placement.gpu !== null && (
        <p className="small">
          GPU {placement.gpu.name}: {formatBytes(placement.gpu.total_bytes)} of {formatBytes(placement.gpu.budget_bytes)} · host:{" "}
          {formatBytes(placement.host.total_bytes)} of {formatBytes(placement.host.budget_bytes)}
        </p>
      )}
      {props.plan.llama_server_args.length > 0 && (
        <p className="small">
          llama-server flags: <code>{props.plan.llama_server_args.join(" ")}</code>
        </p>
      )}
      <details className="small">
        <summary>Assumptions and sources</summary>
        <ul>
          {props.plan.assumptions.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </details>
    </div>
  );
}
