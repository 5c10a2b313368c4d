import type { ReactNode } from "react";
import type { WireLoadedModel, WireModelEntry } from "../../../../src/wire/console.js";
import { formatBytes } from "../../format.js";
import type { AsyncState } from "../../hooks.js";
import { type BusyModels, isMoe } from "./model-kind.js";
import { Badge, ErrorNotice, Notice, Section } from "../../ui.js";

/** Every model the server can serve: where it comes from, whether it is loaded, the plan button, Load and Unload. */
export function AvailableSection(props: {
  models: AsyncState<WireModelEntry[]>;
  loaded: readonly WireLoadedModel[];
  /** The models being loaded or unloaded now. */
  busy: BusyModels;
  onLoad: (id: string) => void;
  onUnload: (id: string) => void;
  /** The model whose plan is shown. */
  planModel: string | undefined;
  onPlanModelChange: (model: string | undefined) => void;
}): ReactNode {
  const { models, busy, planModel } = props;
  const loadedById = new Map(props.loaded.map((model) => [model.id, model]));
  return (
    <Section title="Available" testId="available-models">
      {models.error !== undefined && <ErrorNotice error={models.error} what="The model list" />}
      {models.data !== undefined && models.data.length === 0 && (
        <Notice>No models yet: pull one below, or start the server with --model.</Notice>
      )}
      {models.data !== undefined && models.data.length > 0 && (
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>Model</th>
                <th>Kind</th>
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
                    <td>
                      <ModelKind facts={model.facts} />
                    </td>
                    <td>{model.source === "store" ? "pulled" : "--model"}</td>
                    <td>{isLoaded ? <Badge tone="good">loaded</Badge> : <Badge>on disk</Badge>}</td>
                    <td className="number">{isLoaded ? formatBytes(loadedById.get(model.id)!.memory_bytes) : "-"}</td>
                    <td className="actions">
                      <button
                        type="button"
                        onClick={() => props.onPlanModelChange(planModel === model.id ? undefined : model.id)}
                        data-testid="plan"
                      >
                        {planModel === model.id ? "Hide plan" : isMoe(model.facts) ? "MoE facts & plan" : "Facts & plan"}
                      </button>
                      {isLoaded ? (
                        <button type="button" onClick={() => props.onUnload(model.id)} disabled={busy[model.id] !== undefined}>
                          {busy[model.id] === "unloading" ? "Unloading…" : "Unload"}
                        </button>
                      ) : (
                        <button
                          type="button"
                          onClick={() => props.onLoad(model.id)}
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
        </div>
      )}
    </Section>
  );
}

/** Dense or Mixture of Experts (experts used of all), and whether the model can think; `-` when the server did not say. */
function ModelKind(props: { facts: WireModelEntry["facts"] }): ReactNode {
  const { facts } = props;
  if (facts === undefined || facts === null) return <span className="muted">-</span>;
  return (
    <span className="model-kind" data-testid="model-kind">
      {facts.expert_count === null ? "dense" : `MoE · ${facts.expert_used_count ?? "?"} of ${facts.expert_count} experts`}
      {facts.can_think && (
        <>
          {" "}
          <Badge tone="accent">thinks</Badge>
        </>
      )}
    </span>
  );
}
