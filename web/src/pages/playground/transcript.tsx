import { type ReactNode, useEffect, useRef } from "react";
import { formatDurationMs, formatFixed, formatInteger } from "../../format.js";
import { Notice } from "../../ui.js";
import type { Turn } from "./conversation.js";

/** The conversation as a scrolling log that follows the newest text, each answer with its thought, tool calls and figures. */
export function Transcript(props: { turns: readonly Turn[] }): ReactNode {
  const scrollRef = useRef<HTMLDivElement>(null);
  const { turns } = props;
  // Follows the newest text as it streams in (each delta is a new turns array); a new chat has nothing to follow.
  useEffect(() => {
    const element = scrollRef.current;
    if (element !== null && turns.length > 0) element.scrollTop = element.scrollHeight;
  }, [turns]);
  return (
    <div className="chat-log" ref={scrollRef} data-testid="chat-log">
      {turns.length === 0 && (
        // The settings sit beside the chat on a wide page and below it on a narrow one (styles.css says which).
        <div className="chat-empty muted" data-testid="chat-hint">
          Pick a model <span className="hint-wide">on the right</span>
          <span className="hint-narrow">under Request options below</span>, write a message and press Enter.
        </div>
      )}
      {turns.map((turn) => (
        <TurnView key={turn.id} turn={turn} />
      ))}
    </div>
  );
}

function TurnView(props: { turn: Turn }): ReactNode {
  const { turn } = props;
  if (turn.role === "user") {
    return (
      <div className="turn turn-user" data-testid="user-message">
        <div className="turn-role">You</div>
        <div className="turn-text">{turn.content}</div>
      </div>
    );
  }
  if (turn.role === "tool") {
    return (
      <div className="turn turn-tool">
        <div className="turn-role">Tool result · {turn.name}</div>
        <pre className="turn-text mono">{turn.content}</pre>
      </div>
    );
  }
  const { stats } = turn;
  const isThinking = turn.isStreaming && turn.content === "" && turn.toolCalls.length === 0;
  const generatedTokens = stats.completionTokens;
  const decodeSeconds =
    stats.durationMs !== undefined && stats.timeToFirstTokenMs !== undefined
      ? (stats.durationMs - stats.timeToFirstTokenMs) / 1000
      : undefined;
  // A decode rate only when the answer streamed token by token (a tool call arrives whole, after it was generated).
  const isStreamedByToken = generatedTokens !== undefined && stats.chunks >= Math.max(4, generatedTokens / 2);
  const tokensPerSecond =
    isStreamedByToken && generatedTokens !== undefined && generatedTokens > 1 && decodeSeconds !== undefined && decodeSeconds > 0
      ? (generatedTokens - 1) / decodeSeconds
      : undefined;
  return (
    <div className="turn turn-assistant" data-testid="assistant-message" data-streaming={turn.isStreaming ? "true" : "false"}>
      <div className="turn-role">Assistant</div>
      {turn.reasoning !== "" && (
        <details className="thinking" open={isThinking} data-testid="thinking">
          <summary>
            {isThinking ? "Thinking…" : "Thought"} ·{" "}
            <span data-testid="thinking-tokens">
              {stats.reasoningTokens !== undefined
                ? `${formatInteger(stats.reasoningTokens)} tokens`
                : `${turn.reasoning.length > 0 ? "counting" : "0"} tokens`}
            </span>
          </summary>
          <div className="thinking-text">{turn.reasoning}</div>
        </details>
      )}
      {(turn.content !== "" || (turn.isStreaming && !isThinking)) && (
        <div className="turn-text" data-testid="assistant-text">
          {turn.content}
          {turn.isStreaming && <span className="cursor" aria-hidden="true" />}
        </div>
      )}
      {turn.isStreaming && turn.content === "" && turn.reasoning === "" && <div className="muted small">Waiting for the first token…</div>}
      {turn.toolCalls.map((call) => (
        <div key={call.id} className="tool-call" data-testid="tool-call">
          <span className="muted small">Tool call</span> <code>{call.name}</code>
          <pre className="mono">{call.arguments}</pre>
        </div>
      ))}
      {turn.error !== undefined && <Notice kind={turn.error === "Stopped." ? "info" : "error"}>{turn.error}</Notice>}
      {!turn.isStreaming &&
        turn.error === undefined &&
        turn.content === "" &&
        turn.toolCalls.length === 0 &&
        stats.finishReason === "length" && (
          <Notice>
            The model reached max tokens before it wrote anything to show{turn.reasoning === "" ? "" : " after its thought"}. Raise Max
            tokens.
          </Notice>
        )}
      {!turn.isStreaming && (
        <div className="turn-stats muted small" data-testid="turn-usage">
          {stats.promptTokens !== undefined && <span data-testid="prompt-tokens">{formatInteger(stats.promptTokens)} prompt</span>}
          {stats.completionTokens !== undefined && (
            <span data-testid="completion-tokens">{formatInteger(stats.completionTokens)} completion</span>
          )}
          {stats.reasoningTokens !== undefined && stats.reasoningTokens > 0 && <span>{formatInteger(stats.reasoningTokens)} thinking</span>}
          {stats.cachedPromptTokens !== undefined && stats.cachedPromptTokens > 0 && (
            <span>{formatInteger(stats.cachedPromptTokens)} cached</span>
          )}
          {stats.timeToFirstTokenMs !== undefined && <span>first chunk {formatDurationMs(stats.timeToFirstTokenMs)}</span>}
          {tokensPerSecond !== undefined && <span>{formatFixed(tokensPerSecond, 1)} tokens/s</span>}
          <span>{formatInteger(stats.chunks)} chunks</span>
          {stats.finishReason !== undefined && <span>finish: {stats.finishReason}</span>}
        </div>
      )}
    </div>
  );
}
