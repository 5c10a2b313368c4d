import { type KeyboardEvent, type ReactNode, useState } from "react";
import type { ToolCall } from "./conversation.js";

/** The message box: Enter sends, Shift+Enter starts a new line; Stop while an answer streams. */
export function Composer(props: {
  draft: string;
  onDraftChange: (draft: string) => void;
  isStreaming: boolean;
  /** Whether a model is picked. */
  hasModel: boolean;
  onSend: (text: string) => void;
  onStop: () => void;
}): ReactNode {
  const { draft, isStreaming } = props;
  const onKey = (event: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      if (!isStreaming && draft.trim() !== "") props.onSend(draft);
    }
  };
  return (
    <div className="composer">
      <textarea
        aria-label="Message"
        data-testid="composer"
        rows={3}
        placeholder="Message (Enter sends, Shift+Enter for a new line)"
        value={draft}
        onChange={(event) => props.onDraftChange(event.target.value)}
        onKeyDown={onKey}
      />
      {isStreaming ? (
        <button type="button" onClick={props.onStop} data-testid="stop">
          Stop
        </button>
      ) : (
        <button
          type="button"
          className="primary"
          disabled={draft.trim() === "" || !props.hasModel}
          onClick={() => props.onSend(draft)}
          data-testid="send"
        >
          Send
        </button>
      )}
    </div>
  );
}

/** The form that answers the model's tool calls by hand (the Playground runs no tool), or skips them. */
export function ToolResultsForm(props: {
  calls: readonly ToolCall[];
  /** Sends one result per call, in the calls' order. */
  onSend: (results: Array<{ call: ToolCall; content: string }>) => void;
  onSkip: () => void;
}): ReactNode {
  const [results, setResults] = useState<Record<string, string>>({});
  return (
    <div className="composer composer-tools">
      <p className="muted small">The model called tools. The Playground runs none: write each result, then send them back.</p>
      {props.calls.map((call) => (
        <label key={call.id}>
          <span>
            Result of <code>{call.name}</code> ({call.id})
          </span>
          <textarea
            rows={2}
            value={results[call.id] ?? ""}
            onChange={(event) => setResults((previous) => ({ ...previous, [call.id]: event.target.value }))}
            placeholder='{"temperature_c": 21}'
          />
        </label>
      ))}
      <div className="row">
        <button
          type="button"
          className="primary"
          onClick={() => props.onSend(props.calls.map((call) => ({ call, content: results[call.id] ?? "" })))}
        >
          Send results
        </button>
        <button type="button" onClick={props.onSkip}>
          Skip
        </button>
      </div>
    </div>
  );
}
