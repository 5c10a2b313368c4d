import { useEffect, useRef, useState } from "react";
import { streamChatCompletion } from "../../../../src/client/chat-stream.js";
import { describeError } from "../../ui.js";
import { type AssistantTurn, type ToolCall, type Turn, type TurnContent, toWireMessages } from "./conversation.js";
import { buildBody, type Settings } from "./request-body.js";

/** Options of {@link useChatSession}. */
export interface ChatSessionOptions {
  /** The model to ask; `""` while none is picked. */
  model: string;
  settings: Settings;
  /** The key sent as `Authorization: Bearer`; `undefined` when the server checks no keys. */
  apiKey: string | undefined;
}

/** A Playground conversation and what can be done with it. */
export interface ChatSession {
  turns: Turn[];
  /** Whether an answer is streaming now. */
  isStreaming: boolean;
  /** The last answer's tool calls while they wait for results (none once skipped or answered). */
  pendingToolCalls: ToolCall[];
  /** Why the last send was refused (a field out of range, no model), for people. */
  formError: string | undefined;
  /** The body of the last request sent; `undefined` in a new chat. */
  lastBody: Record<string, unknown> | undefined;
  /**
   * Sends the conversation plus `newTurns` and streams the answer into `turns`. Returns whether the request started:
   * `false` when the body could not be built (`formError` then says why).
   */
  send: (newTurns: TurnContent[]) => boolean;
  /** Stops the streaming answer; what arrived stays, marked "Stopped.". */
  stop: () => void;
  /** Starts a new chat. */
  reset: () => void;
  /** Leaves the pending tool calls unanswered, so that the user can write a message instead. */
  skipToolCalls: () => void;
}

/**
 * The Playground's chat session: the turns, the request sent for each answer (streamed with `streamChatCompletion`),
 * the stream's text, thought, tool calls and usage folded into the last turn, stop and new chat. A streaming answer is
 * aborted when the page unmounts.
 */
export function useChatSession(options: ChatSessionOptions): ChatSession {
  const { model, settings, apiKey } = options;
  const [turns, setTurns] = useState<Turn[]>([]);
  const [formError, setFormError] = useState<string | undefined>(undefined);
  // The id of an assistant turn whose tool calls the user chose not to answer (ids are never reused, even by a new chat).
  const [skippedToolTurnId, setSkippedToolTurnId] = useState<number | undefined>(undefined);
  const [lastBody, setLastBody] = useState<Record<string, unknown> | undefined>(undefined);
  const abortRef = useRef<AbortController | undefined>(undefined);
  const nextIdRef = useRef(0);
  const isStreaming = turns.some((turn) => turn.role === "assistant" && turn.isStreaming);

  useEffect(() => () => abortRef.current?.abort(), []);

  const lastTurn = turns.at(-1);
  const pendingToolCalls =
    lastTurn?.role === "assistant" && !lastTurn.isStreaming && lastTurn.error === undefined && skippedToolTurnId !== lastTurn.id
      ? lastTurn.toolCalls
      : [];

  const stream = async (body: Record<string, unknown>): Promise<void> => {
    const update = (change: (turn: AssistantTurn) => AssistantTurn): void =>
      setTurns((previous) => {
        const last = previous.at(-1);
        if (last?.role !== "assistant") return previous;
        return [...previous.slice(0, -1), change(last)];
      });
    const controller = new AbortController();
    abortRef.current = controller;
    const startedAt = performance.now();
    let firstAt: number | undefined;
    try {
      for await (const part of streamChatCompletion({ baseUrl: "", apiKey, body, signal: controller.signal })) {
        if (part.type === "usage") {
          update((turn) => ({
            ...turn,
            stats: {
              ...turn.stats,
              promptTokens: part.promptTokens,
              completionTokens: part.completionTokens,
              reasoningTokens: part.reasoningTokens,
              cachedPromptTokens: part.cachedPromptTokens,
            },
          }));
          continue;
        }
        if (part.type === "finish") {
          update((turn) => ({ ...turn, stats: { ...turn.stats, finishReason: part.finishReason } }));
          continue;
        }
        firstAt ??= performance.now();
        const timeToFirstTokenMs = firstAt - startedAt;
        update((turn) => {
          const stats = { ...turn.stats, chunks: turn.stats.chunks + 1, timeToFirstTokenMs };
          if (part.type === "reasoning-delta") return { ...turn, reasoning: turn.reasoning + part.text, stats };
          if (part.type === "text-delta") return { ...turn, content: turn.content + part.text, stats };
          const toolCalls = [...turn.toolCalls];
          const existing = toolCalls[part.index];
          toolCalls[part.index] = {
            id: part.id ?? existing?.id ?? `call_${part.index}`,
            name: part.name ?? existing?.name ?? "",
            arguments: (existing?.arguments ?? "") + part.argumentsDelta,
          };
          return { ...turn, toolCalls, stats };
        });
      }
      update((turn) => ({ ...turn, isStreaming: false, stats: { ...turn.stats, durationMs: performance.now() - startedAt } }));
    } catch (error) {
      const message = controller.signal.aborted ? "Stopped." : describeError(error).message;
      update((turn) => ({
        ...turn,
        isStreaming: false,
        error: message,
        stats: { ...turn.stats, durationMs: performance.now() - startedAt },
      }));
    } finally {
      if (abortRef.current === controller) abortRef.current = undefined;
    }
  };

  const send = (newTurns: TurnContent[]): boolean => {
    let body: Record<string, unknown>;
    const history: Turn[] = [...turns, ...newTurns.map((turn) => ({ ...turn, id: nextIdRef.current++ }))];
    try {
      if (model === "") throw new Error("Pick a model first.");
      body = buildBody(model, settings, toWireMessages(settings.system, history));
    } catch (error) {
      setFormError((error as Error).message);
      return false;
    }
    setFormError(undefined);
    setLastBody(body);
    const assistant: AssistantTurn = {
      id: nextIdRef.current++,
      role: "assistant",
      content: "",
      reasoning: "",
      toolCalls: [],
      stats: { chunks: 0 },
      isStreaming: true,
    };
    setTurns([...history, assistant]);
    void stream(body);
    return true;
  };

  return {
    turns,
    isStreaming,
    pendingToolCalls,
    formError,
    lastBody,
    send,
    stop: () => abortRef.current?.abort(),
    reset: () => {
      setTurns([]);
      setLastBody(undefined);
    },
    skipToolCalls: () => setSkippedToolTurnId(lastTurn?.id),
  };
}
