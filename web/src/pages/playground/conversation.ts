/** The Playground's conversation: its turns as the page shows them, and as wire messages. */

/** A tool call the model made. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** Token counts and timings of one answer. */
export interface TurnStats {
  promptTokens?: number;
  completionTokens?: number;
  reasoningTokens?: number;
  cachedPromptTokens?: number;
  timeToFirstTokenMs?: number;
  durationMs?: number;
  /** Stream chunks that carried text, thought or a tool call. */
  chunks: number;
  finishReason?: string;
}

/** One answer of the model, streaming or finished. */
export interface AssistantTurnContent {
  role: "assistant";
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  stats: TurnStats;
  error?: string;
  isStreaming: boolean;
}

/** What one message of the conversation says. */
export type TurnContent =
  | { role: "user"; content: string }
  | { role: "tool"; toolCallId: string; name: string; content: string }
  | AssistantTurnContent;

/** One message of the conversation, with an id unique in its chat (the transcript's React key). */
export type Turn = TurnContent & { id: number };

/** One answer of the model in the conversation. */
export type AssistantTurn = AssistantTurnContent & { id: number };

/** The wire messages of the conversation (a thought is not sent back; tool calls and their results are). */
export function toWireMessages(system: string, turns: readonly TurnContent[]): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [];
  if (system.trim() !== "") messages.push({ role: "system", content: system });
  for (const [index, turn] of turns.entries()) {
    if (turn.role === "user") messages.push({ role: "user", content: turn.content });
    else if (turn.role === "tool") messages.push({ role: "tool", tool_call_id: turn.toolCallId, content: turn.content });
    else if (turn.error === undefined) {
      // Calls whose results were skipped are left out: a call must be followed by its results.
      const hasResults = turns[index + 1]?.role === "tool" && turn.toolCalls.length > 0;
      const message: Record<string, unknown> = { role: "assistant", content: hasResults && turn.content === "" ? null : turn.content };
      if (hasResults)
        message.tool_calls = turn.toolCalls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.arguments },
        }));
      messages.push(message);
    }
  }
  return messages;
}
