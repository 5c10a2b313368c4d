import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { toChatHistory } from "./chat-prompt.js";

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
});
