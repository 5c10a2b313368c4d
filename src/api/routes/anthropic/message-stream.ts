import { toWireStop, toWireToolUseId, toWireUsage } from "../../../dialects/anthropic/convert-response.js";
import type { WireContentBlock, WireMessage, WireStopReason, WireStreamEvent } from "../../../dialects/anthropic/wire.js";
import type { Usage } from "../../../spec/index.js";
import type { StreamEncoder } from "../../serving/respond.js";

/** What every event of one streamed answer shares. */
export interface MessageStreamOptions {
  /** The message id (`msg_…`). */
  id: string;
  /** The model's id. */
  model: string;
  /** The request's `stop_sequences`, to tell them from the template's stop texts. */
  stopSequences: readonly string[];
  /** Signs a finished thought (`ThinkingSigner.sign`). */
  sign(thinking: string): string;
  /** Whether thoughts are sent without their text (`thinking.display: "omitted"`): only the signature. */
  omitThinking: boolean;
  /** The prompt's tokens, known at admission (`StartedGeneration.parts.promptTokens`), for `message_start`. */
  promptTokens: number;
  /** Whether `max_tokens` was lowered to what the context window leaves (see `toWireStop`). */
  clampedToContext: boolean;
}

/**
 * The encoder of a streamed Messages answer (Streaming Messages reference, "Event types" and "Basic streaming
 * request"): `message_start` (with `content: []`, `stop_reason` and `stop_sequence` null, the prompt's usage with its
 * cached part, as `message_delta` gives it, for the in-process engine; written with the first part) and a `ping` first; then per content block, in the order the model writes them, `content_block_start`, its deltas
 * (`thinking_delta` then one `signature_delta` just before the thinking block's stop, `text_delta`, or one
 * `input_json_delta` with a tool call's whole input) and `content_block_stop`; last `message_delta` (with both
 * `stop_reason` and `stop_sequence`, case D05, and the final usage) and `message_stop`. Empty text deltas are not sent.
 */
export function createMessageStreamEncoder(options: MessageStreamOptions): StreamEncoder {
  /** The open block: its index and kind, and the thought so far (for its signature). */
  let open: { index: number; type: WireContentBlock["type"]; thinking: string } | undefined;
  let nextIndex = 0;
  let stop: { stop_reason: WireStopReason; stop_sequence: string | null } = { stop_reason: "end_turn", stop_sequence: null };

  const close = (events: WireStreamEvent[]): void => {
    if (open === undefined) return;
    if (open.type === "thinking")
      events.push({
        type: "content_block_delta",
        index: open.index,
        delta: { type: "signature_delta", signature: options.sign(open.thinking) },
      });
    events.push({ type: "content_block_stop", index: open.index });
    open = undefined;
  };
  const start = (events: WireStreamEvent[], block: WireContentBlock): number => {
    close(events);
    const index = nextIndex++;
    events.push({ type: "content_block_start", index, content_block: block });
    open = { index, type: block.type, thinking: "" };
    return index;
  };

  return {
    // message_start waits for the first part: by then the in-process engine knows the prompt's cached tokens, so its
    // usage has the split message_delta repeats (Anthropic's own message_start carries it too).
    startAfterFirstPart: true,
    // The meter's usage at admission has no prompt tokens yet (it counts from the parts): the admission's count is used.
    start: (usage: Usage): WireStreamEvent[] => {
      const message: WireMessage = {
        id: options.id,
        type: "message",
        role: "assistant",
        model: options.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...toWireUsage({ ...usage, promptTokens: Math.max(usage.promptTokens, options.promptTokens) }), output_tokens: 0 },
      };
      return [{ type: "message_start", message }, { type: "ping" }];
    },
    encode: (part) => {
      const events: WireStreamEvent[] = [];
      switch (part.type) {
        case "reasoning-delta": {
          if (part.text.length === 0) break;
          if (open?.type !== "thinking") start(events, { type: "thinking", thinking: "", signature: "" });
          open!.thinking += part.text;
          if (!options.omitThinking)
            events.push({ type: "content_block_delta", index: open!.index, delta: { type: "thinking_delta", thinking: part.text } });
          break;
        }
        case "text-delta": {
          if (part.text.length === 0) break;
          if (open?.type !== "text") start(events, { type: "text", text: "" });
          events.push({ type: "content_block_delta", index: open!.index, delta: { type: "text_delta", text: part.text } });
          break;
        }
        case "tool-call": {
          const { toolCall } = part;
          const index = start(events, { type: "tool_use", id: toWireToolUseId(toolCall.id), name: toolCall.name, input: {} });
          events.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: toolCall.arguments } });
          close(events);
          break;
        }
        case "finish":
          close(events);
          stop = toWireStop(part.finishReason, part.stopSequence, options.stopSequences, options.clampedToContext);
          break;
        default:
          part satisfies never;
      }
      return events;
    },
    end: (usage: Usage): WireStreamEvent[] => [{ type: "message_delta", delta: stop, usage: toWireUsage(usage) }, { type: "message_stop" }],
  };
}
