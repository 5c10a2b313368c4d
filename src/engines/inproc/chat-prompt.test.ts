import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { maxJsonRenderedChars, renderedTextLength, toChatHistory } from "./chat-prompt.js";

describe("toChatHistory", () => {
  it("puts tool calls and their results in one model turn, continued by the next assistant text", () => {
    const history = toChatHistory([
      { role: "user", text: "Weather in Paris?" },
      { role: "assistant", text: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"location":"Paris"}' }] },
      { role: "tool", toolCallId: "call_1", text: '{"temp":20}' },
    ]);
    expect(history).toEqual([
      { type: "user", text: "Weather in Paris?" },
      {
        type: "model",
        response: [
          { type: "functionCall", name: "get_weather", params: { location: "Paris" }, result: { temp: 20 }, startsNewChunk: true },
        ],
      },
    ]);
  });

  it("opens an empty assistant turn after a user message, and continues a trailing assistant message", () => {
    expect(toChatHistory([{ role: "user", text: "Hi" }]).at(-1)).toEqual({ type: "model", response: [] });
    expect(
      toChatHistory([
        { role: "user", text: "Hi" },
        { role: "assistant", text: "Once" },
      ]).at(-1),
    ).toEqual({ type: "model", response: ["Once"] });
  });

  it("refuses a tool result for an unknown call", () => {
    expect(() =>
      toChatHistory([
        { role: "user", text: "Hi" },
        { role: "tool", toolCallId: "nope", text: "1" },
      ]),
    ).toThrow(MoestroError);
  });

  it("keeps tool arguments and results longer than 1 MiB as text: parsing and re-serializing them would stall the server", () => {
    const long = JSON.stringify({ rows: "x".repeat(maxJsonRenderedChars) });
    const history = toChatHistory([
      { role: "user", text: "Hi" },
      { role: "assistant", text: "", toolCalls: [{ id: "call_1", name: "f", arguments: long }] },
      { role: "tool", toolCallId: "call_1", text: long },
    ]);
    expect(history[1]).toMatchObject({ response: [{ type: "functionCall", params: long, result: long }] });
  });
});

describe("renderedTextLength", () => {
  it("counts every message's text, and the tool arguments and results rendered as text", () => {
    const long = "y".repeat(maxJsonRenderedChars + 1);
    const messages = [
      { role: "system" as const, text: "abc" },
      { role: "user" as const, text: "de" },
      {
        role: "assistant" as const,
        text: "f",
        toolCalls: [
          { id: "1", name: "g", arguments: '{"short":1}' },
          { id: "2", name: "g", arguments: long },
        ],
      },
      { role: "tool" as const, toolCallId: "1", text: '{"short":2}' },
      { role: "tool" as const, toolCallId: "2", text: long },
    ];
    expect(renderedTextLength(messages)).toBe(3 + 2 + 1 + 2 * long.length);
  });
});
