import type Anthropic from "@anthropic-ai/sdk";
import { expect } from "vitest";

/** One event of an Anthropic stream, `ping` and `error` included. */
export type AnthropicEvent =
  | Anthropic.RawMessageStreamEvent
  | { type: "ping" }
  | { type: "error"; error: { type: string; message: string } };

/** Parses an Anthropic event stream strictly: every block is `event: NAME` then one `data:` line whose `type` is NAME. */
export function parseEvents(body: string): AnthropicEvent[] {
  expect(body.endsWith("\n\n")).toBe(true);
  return body
    .split("\n\n")
    .slice(0, -1)
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split("\n");
      expect(rest).toEqual([]);
      expect(eventLine).toMatch(/^event: \w+$/);
      expect(dataLine).toMatch(/^data: \{/);
      const payload = JSON.parse(dataLine!.slice("data: ".length)) as AnthropicEvent;
      expect(payload.type).toBe(eventLine!.slice("event: ".length));
      return payload;
    });
}

/**
 * Checks the order Anthropic documents (Streaming Messages): message_start, then for each block a start, deltas and a
 * stop with increasing indexes, then one message_delta and message_stop last; pings anywhere after message_start.
 */
export function checkSequence(events: AnthropicEvent[]): void {
  const types = events.filter((event) => event.type !== "ping").map((event) => event.type);
  expect(types[0]).toBe("message_start");
  expect(types.slice(-2)).toEqual(["message_delta", "message_stop"]);
  let open: number | undefined;
  let next = 0;
  for (const event of events.slice(1, -2)) {
    if (event.type === "content_block_start") {
      expect(open).toBeUndefined();
      expect(event.index).toBe(next++);
      open = event.index;
    } else if (event.type === "content_block_delta") expect(event.index).toBe(open);
    else if (event.type === "content_block_stop") {
      expect(event.index).toBe(open);
      open = undefined;
    } else expect(event.type).toBe("ping");
  }
  expect(open).toBeUndefined();
  const delta = events.find((event) => event.type === "message_delta") as Anthropic.RawMessageDeltaEvent;
  // D05: both keys, always.
  expect(Object.keys(delta.delta).sort()).toEqual(["stop_reason", "stop_sequence"]);
}

/** Greedy decoding: `temperature` is a Messages API field the SDK's current types no longer list. */
export const greedy = { temperature: 0 } as {};

/** The headers Anthropic's clients send. */
export const anthropicHeaders = { "x-api-key": "unused", "anthropic-version": "2023-06-01" };
