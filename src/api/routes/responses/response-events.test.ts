import { describe, expect, it } from "vitest";
import { parseResponseRequest } from "../../../dialects/responses/convert-request.js";
import { MoestroError } from "../../../errors/index.js";
import type { StreamPart } from "../../../spec/index.js";
import { ResponseEventEncoder } from "./response-events.js";

const usage = { promptTokens: 5, completionTokens: 7, reasoningTokens: 2, cachedPromptTokens: 1 };

function encoderFor(stored: unknown[] = []) {
  return new ResponseEventEncoder(
    { id: "resp_1", createdAtSeconds: 100, model: "m", request: parseResponseRequest({ model: "m", input: "Hi" }), store: true },
    {
      onFinished: async (response) => {
        stored.push(response);
      },
      nowSeconds: () => 101,
    },
  );
}

async function run(parts: StreamPart[], stored: unknown[] = []) {
  const encoder = encoderFor(stored);
  const events = [...encoder.start(), ...parts.flatMap((part) => encoder.encode({ ...part, index: 0 }))];
  events.push(...(await encoder.end(usage)));
  expect(events.map((event) => event.sequence_number)).toEqual(events.map((_event, index) => index));
  return events;
}

describe("the Responses stream encoder", () => {
  it("streams reasoning, then text, then a call, each as its own item, and completes with the same items", async () => {
    const stored: unknown[] = [];
    const events = await run(
      [
        { type: "reasoning-delta", text: "Think" },
        { type: "reasoning-delta", text: "ing." },
        { type: "text-delta", text: "Hel" },
        { type: "text-delta", text: "" },
        { type: "text-delta", text: "lo" },
        { type: "tool-call", toolCall: { id: "call_1", name: "f", arguments: '{"a":1}' } },
        { type: "finish", finishReason: "tool_calls", usage },
      ],
      stored,
    );
    expect(events.map((event) => event.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.reasoning_text.delta",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const completed = events.at(-1)!.response as { output: Array<Record<string, unknown>>; usage: unknown; completed_at: number };
    expect(completed.output).toEqual([
      expect.objectContaining({ type: "reasoning", content: [{ type: "reasoning_text", text: "Thinking." }], status: "completed" }),
      expect.objectContaining({ type: "message", content: [expect.objectContaining({ text: "Hello" })], status: "completed" }),
      expect.objectContaining({ type: "function_call", call_id: "call_1", name: "f", arguments: '{"a":1}' }),
    ]);
    expect(completed.output.map((item) => item.id)).toEqual(
      events.filter((event) => event.type === "response.output_item.done").map((event) => (event.item as { id: string }).id),
    );
    expect(completed.usage).toEqual({
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 1 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 2 },
      total_tokens: 12,
    });
    expect(completed.completed_at).toBe(101);
    expect(stored).toEqual([completed]);
  });

  it("ends a cut response with response.incomplete and an incomplete item; an empty finished turn gets an empty message", async () => {
    const cut = await run([
      { type: "reasoning-delta", text: "Hmm" },
      { type: "finish", finishReason: "length", usage },
    ]);
    expect(cut.at(-1)!.type).toBe("response.incomplete");
    expect(cut.at(-1)!.response).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      completed_at: null,
    });
    expect(cut.at(-2)!.item).toMatchObject({ type: "reasoning", status: "incomplete" });
    const empty = await run([{ type: "finish", finishReason: "stop", usage }]);
    expect(empty.at(-1)!.response).toMatchObject({ status: "completed", output: [{ type: "message", content: [{ text: "" }] }] });
  });

  it("reports a failure as error then response.failed, numbered after the events sent", () => {
    const encoder = encoderFor();
    const sent = [...encoder.start(), ...encoder.encode({ type: "text-delta", text: "x", index: 0 })];
    const failure = encoder.failure(new MoestroError("server_busy", "Busy."), "req-1");
    expect(failure.map((event) => [event.type, event.sequence_number])).toEqual([
      ["error", sent.length],
      ["response.failed", sent.length + 1],
    ]);
    expect(failure[0]).toMatchObject({ code: "server_busy", message: "Busy." });
    expect(failure[1]!.response).toMatchObject({ status: "failed", error: { code: "server_busy" } });
    const internal = encoder.failure(new Error("secret cause"), "req-1");
    expect(JSON.stringify(internal)).not.toContain("secret cause");
  });
});
