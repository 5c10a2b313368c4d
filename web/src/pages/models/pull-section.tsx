import { type FormEvent, type ReactNode, useRef, useState } from "react";
import type { WirePullProgress } from "../../../../src/wire/console.js";
import { useConsoleApi } from "../../api.js";
import { formatBytes } from "../../format.js";
import { describeError, Notice, ProgressBar, Section } from "../../ui.js";

/** The state of the pull form. */
type PullState =
  | { phase: "idle" }
  | { phase: "pulling"; model: string; progress?: WirePullProgress }
  | { phase: "done"; model: string; progress: WirePullProgress }
  | { phase: "failed"; model: string; message: string; progress?: WirePullProgress };

/** Pull a model from the hub into the server's store, with live progress; cancel keeps the part downloaded. */
export function PullSection(props: { onPulled: () => void }): ReactNode {
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
