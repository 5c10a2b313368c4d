import type { ReactNode } from "react";
import type { WireLoadedModel } from "../../../../src/wire/console.js";
import { formatBytes, formatRelative, formatTime } from "../../format.js";
import type { AsyncState } from "../../hooks.js";
import { ErrorNotice, Notice, Section } from "../../ui.js";

/** The loaded models: their memory as one bar, then a row each with its requests, sequences, expiry and Unload. */
export function LoadedSection(props: {
  loaded: AsyncState<WireLoadedModel[]>;
  /** The models being loaded or unloaded now. */
  busy: Readonly<Record<string, "loading" | "unloading">>;
  onUnload: (id: string) => void;
}): ReactNode {
  const { loaded, busy } = props;
  return (
    <Section title="Loaded now" testId="loaded-models">
      {loaded.error !== undefined && <ErrorNotice error={loaded.error} what="The loaded models" />}
      {loaded.data !== undefined && loaded.data.length === 0 && (
        <Notice>No model is loaded. A model loads on its first request, or with Load below.</Notice>
      )}
      {loaded.data !== undefined && loaded.data.length > 0 && (
        <>
          <MemoryBar models={loaded.data.map((model) => ({ id: model.id, bytes: model.memory_bytes }))} />
          <div className="table-scroll">
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

const memoryColors = ["#3b4cca", "#009e73", "#e69f00", "#cc79a7", "#56b4e9", "#d55e00"];

/** The loaded models' memory as one stacked bar. */
function MemoryBar(props: { models: Array<{ id: string; bytes: number }> }): ReactNode {
  const total = props.models.reduce((sum, model) => sum + model.bytes, 0);
  if (total === 0) return null;
  return (
    <div className="memory-bar-wrap">
      <div className="memory-bar" role="img" aria-label={`Loaded models use ${formatBytes(total)}`}>
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
