import type { ReactNode } from "react";
import type { WireLoadedModel, WirePlacement } from "../../../../src/wire/console.js";
import { StackedBar } from "../../charts.js";
import { formatBytes, formatRelative, formatTime } from "../../format.js";
import type { AsyncState } from "../../hooks.js";
import type { BusyModels } from "./model-kind.js";
import { ErrorNotice, Notice, Section } from "../../ui.js";
import { useConsoleApi } from "../../api.js";

/**
 * The memory bar's line: `103 MiB of the 17.7 GiB budget (--max-memory; 0.57%) in use by 1 model (…)`, or without the
 * budget when the server does not give it (`memory_budget_bytes` of `/v1/moestro/info`).
 */
function memoryUseText(usedBytes: number, budgetBytes: number | undefined, models: number): string {
  const ofBudget =
    budgetBytes === undefined || budgetBytes <= 0
      ? ""
      : ` of the ${formatBytes(budgetBytes)} budget (--max-memory; ${((usedBytes / budgetBytes) * 100).toPrecision(2)}%)`;
  return `${formatBytes(usedBytes)}${ofBudget} in use by ${models} model${models === 1 ? "" : "s"} (the scheduler's estimate: weights, KV cache and buffers)`;
}

/**
 * The loaded models: their memory as one bar, then a row each with its engine (and a worker's pid, restarts and
 * speculative decoding), where
 * its weights sit, its requests, sequences, expiry and Unload.
 */
export function LoadedSection(props: {
  loaded: AsyncState<WireLoadedModel[]>;
  /** The models being loaded or unloaded now. */
  busy: BusyModels;
  onUnload: (id: string) => void;
}): ReactNode {
  const { loaded, busy } = props;
  const loadedBytes = (loaded.data ?? []).reduce((sum, model) => sum + model.memory_bytes, 0);
  // The bar is use against the scheduler's budget (`--max-memory`), not each model's share of the use.
  const budgetBytes = useConsoleApi().info.memory_budget_bytes ?? undefined;
  return (
    <Section title="Loaded now" testId="loaded-models">
      {loaded.error !== undefined && <ErrorNotice error={loaded.error} what="The loaded models" />}
      {loaded.data !== undefined && loaded.data.length === 0 && (
        <Notice>No model is loaded. A model loads on its first request, or with Load below.</Notice>
      )}
      {loaded.data !== undefined && loaded.data.length > 0 && (
        <>
          <StackedBar
            parts={loaded.data.map((model) => ({ name: model.id, value: model.memory_bytes }))}
            format={formatBytes}
            whole={budgetBytes}
            testId="memory-bar"
            label={`Loaded models use ${formatBytes(loadedBytes)}${budgetBytes === undefined ? "" : ` of ${formatBytes(budgetBytes)}`}`}
            caption={<span data-testid="memory-use">{memoryUseText(loadedBytes, budgetBytes, loaded.data.length)}</span>}
          />
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>Model</th>
                  <th>Engine</th>
                  <th>Placement</th>
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
                    <td>
                      <span data-testid="loaded-engine">{model.engine ?? "unknown"}</span>
                      {model.worker != null && (
                        <div
                          className="muted small"
                          data-testid="loaded-worker"
                          title={[model.worker.binary, model.worker.version, ...model.worker.args].join(" ")}
                        >
                          {model.worker.pid === null ? "restarting" : `pid ${model.worker.pid}`} ·{" "}
                          {model.worker.restarts === 1 ? "1 restart" : `${model.worker.restarts} restarts`}
                        </div>
                      )}
                      {model.worker?.speculation != null && (
                        // `draft`, `ngram`, or `off (backed off: …)` once too few drafted tokens were accepted.
                        <div className="muted small" data-testid="loaded-speculation">
                          speculative: {model.worker.speculation}
                        </div>
                      )}
                    </td>
                    <td data-testid="loaded-placement">
                      {model.placement === undefined ? "unknown" : <Placement placement={model.placement} />}
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
                        onClick={() => props.onUnload(model.id)}
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
          </div>
        </>
      )}
    </Section>
  );
}

/** Where a model's weights sit: the engine's words, then llama.cpp's layer counts when not 0 (what is on the GPU, what in RAM). */
function Placement(props: { placement: WirePlacement }): ReactNode {
  const { description, gpu_layers: gpuLayers, cpu_moe_layers: cpuMoeLayers } = props.placement;
  const counts = [
    gpuLayers > 0 ? `${gpuLayers} layers on the GPU` : undefined,
    cpuMoeLayers > 0 ? `experts of ${cpuMoeLayers} layers in RAM` : undefined,
  ].filter((count) => count !== undefined);
  return (
    <>
      {description}
      {counts.length > 0 && (
        <div className="muted small" data-testid="loaded-layers">
          {counts.join(" · ")}
        </div>
      )}
    </>
  );
}
