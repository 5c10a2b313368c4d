import { type ReactNode, useCallback, useState } from "react";
import { useConsoleApi } from "../api.js";
import { useAsync } from "../hooks.js";
import { describeError, Notice, PageHeader } from "../ui.js";
import { AvailableSection } from "./models/available-section.js";
import { LoadedSection } from "./models/loaded-section.js";
import type { BusyModels, ModelAction } from "./models/model-kind.js";
import { PlanPanel } from "./models/plan-panel.js";
import { PullSection } from "./models/pull-section.js";

/** Models: what can be served and what is loaded, memory per model, MoE facts and the plan, pull, load and unload. */
export function ModelsPage(): ReactNode {
  const api = useConsoleApi();
  const models = useAsync(useCallback(() => api.console.listModels(), [api]));
  const loaded = useAsync(
    useCallback(() => api.console.listLoaded(), [api]),
    { refreshMs: 5000 },
  );
  const [busy, setBusy] = useState<BusyModels>({});
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [planModel, setPlanModel] = useState<string | undefined>(undefined);

  const refresh = (): void => {
    models.reload();
    loaded.reload();
  };
  const act = async (id: string, action: ModelAction): Promise<void> => {
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
      <LoadedSection loaded={loaded} busy={busy} onUnload={(id) => void act(id, "unloading")} />
      <AvailableSection
        models={models}
        loaded={loaded.data ?? []}
        busy={busy}
        onLoad={(id) => void act(id, "loading")}
        onUnload={(id) => void act(id, "unloading")}
        planModel={planModel}
        onPlanModelChange={setPlanModel}
      />
      {planModel !== undefined && (
        // A panel per model (the key): another model's plan is not shown under this one's title while it loads.
        <PlanPanel key={planModel} model={planModel} listFacts={models.data?.find((model) => model.id === planModel)?.facts} />
      )}
      <PullSection onPulled={refresh} />
    </div>
  );
}
