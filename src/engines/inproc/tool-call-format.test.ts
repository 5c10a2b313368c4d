import { describe, expect, it } from "vitest";
import { JsonCompletionTracker, parseToolCallBody } from "./tool-call-format.js";

const tools = [
  { name: "square_the_number", parameters: { type: "object", properties: { input_num: { type: "number" } } } },
  {
    name: "search",
    parameters: {
      type: "object",
      properties: { query: { type: "string" }, limit: { type: "integer" }, exact: { type: "boolean" }, filters: { type: "object" } },
    },
  },
];

// Case ids in test names (C08…) are the compatibility cases listed in docs/compat-cases.md.
describe("parseToolCallBody", () => {
  it("parses the JSON (Hermes) form, empty arguments included (C08)", () => {
    expect(parseToolCallBody('\n{"name": "get_current_time", "arguments": {}}\n', tools)).toEqual({
      name: "get_current_time",
      arguments: {},
    });
    expect(parseToolCallBody('{"name": "f", "arguments": "{\\"a\\": 1}"}', tools)).toEqual({ name: "f", arguments: { a: 1 } });
  });

  it("parses the XML form of Qwen3-Coder and Qwen3.5, typing values by the tool's schema (C09)", () => {
    expect(parseToolCallBody("\n<function=square_the_number>\n<parameter=input_num>\n1024\n</parameter>\n</function>\n", tools)).toEqual({
      name: "square_the_number",
      arguments: { input_num: 1024 },
    });
    const body =
      '<function=search>\n<parameter=query>\nred  shoes\n</parameter>\n<parameter=limit>\n5\n</parameter>\n<parameter=exact>\ntrue\n</parameter>\n<parameter=filters>\n{"size": 42}\n</parameter>\n</function>';
    expect(parseToolCallBody(body, tools)).toEqual({
      name: "search",
      arguments: { query: "red  shoes", limit: 5, exact: true, filters: { size: 42 } },
    });
  });

  it("keeps multi-line string values whole", () => {
    const body = "<function=search>\n<parameter=query>\nline one\nline two\n</parameter>\n</function>";
    expect(parseToolCallBody(body, tools)?.arguments).toEqual({ query: "line one\nline two" });
  });

  it("rejects text that is neither form", () => {
    expect(parseToolCallBody("call get_weather please", tools)).toBeUndefined();
    expect(parseToolCallBody('{"arguments": {}}', tools)).toBeUndefined();
    expect(parseToolCallBody("{broken", tools)).toBeUndefined();
  });
});

describe("JsonCompletionTracker", () => {
  it("completes when the first object closes, ignoring braces inside strings", () => {
    const tracker = new JsonCompletionTracker();
    expect(tracker.push('{"a": "}{\\"", "b": [1, {')).toBe(false);
    expect(tracker.push("}]")).toBe(false);
    expect(tracker.push("}")).toBe(true);
  });

  it("says where a value ends: containers and strings at their last character, literals too, numbers at the next one", () => {
    const end = (...pieces: string[]) => {
      const tracker = new JsonCompletionTracker();
      return pieces.map((piece) => tracker.valueEnd(piece));
    };
    expect(end('{"a": 1}\n\n')).toEqual([8]);
    expect(end("[1, [2]", "]\n")).toEqual([-1, 1]);
    expect(end(' "a\\"b"', "\n")).toEqual([7, -1]);
    expect(end("nu", "ll\n")).toEqual([-1, 2]);
    expect(end("fals", "e")).toEqual([-1, 1]);
    expect(end("-12", ".5e", "+3", "\n\n")).toEqual([-1, -1, -1, 0]);
  });
});
