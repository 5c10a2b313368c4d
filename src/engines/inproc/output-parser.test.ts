import { describe, expect, it } from "vitest";
import type { Token } from "node-llama-cpp";
import type { StreamPart } from "../../spec/index.js";
import { OutputParser, type OutputParserOptions, type ParserAction } from "./output-parser.js";

const thinkStart = 1000 as Token;
const thinkEnd = 1001 as Token;

/** A parser whose vocabulary is `pieces`: token i is the text pieces[i]; 1000 and 1001 are `<think>` and `</think>`. */
function parse(pieces: readonly string[], options: Partial<OutputParserOptions>, tokens: readonly number[] = pieces.map((_, i) => i)) {
  const parser = new OutputParser({
    decoder: { push: (token) => pieces[token] ?? "", flush: () => "" },
    markers: { thinkStart, thinkEnd },
    stop: [],
    startsInReasoning: false,
    startsAfterThought: false,
    closeThoughtTokens: [],
    closeToolCallTokens: [],
    stopAfterFirstToolCall: false,
    answerIsJson: false,
    createToolCallId: () => "call_1",
    ...options,
  });
  const parts: StreamPart[] = [];
  let action: ParserAction = { type: "continue" };
  for (const token of tokens) {
    const result = parser.push(token as Token);
    parts.push(...result.parts);
    action = result.action;
    if (action.type === "stop") break;
  }
  parts.push(...parser.end());
  const text = (type: string) =>
    parts
      .filter((part) => part.type === type)
      .map((part) => (part as { text: string }).text)
      .join("");
  return { content: text("text-delta"), reasoning: text("reasoning-delta"), action };
}

describe("OutputParser: stop sequences and structured answers", () => {
  it("a JSON answer ignores stop sequences and ends at its value's last character, dropping what follows", () => {
    const result = parse(['{"a"', ": {}", "}\n\n", "\n"], { answerIsJson: true, stop: ["{", '"'] });
    expect(result).toEqual({ content: '{"a": {}}', reasoning: "", action: { type: "stop", finishReason: "stop" } });
  });

  it("a JSON answer that is a number ends at the newline after it; a literal at its last letter", () => {
    expect(parse(["-1", "2.5", "\n\n"], { answerIsJson: true }).content).toBe("-12.5");
    expect(parse(["nu", "ll", "\n\n\n\n"], { answerIsJson: true }).content).toBe("null");
  });

  it("stop sequences end the thought too, and never leak", () => {
    const result = parse(["I think", " STO", "P here", "answer"], { startsInReasoning: true, stop: ["STOP"] });
    expect(result).toEqual({ content: "", reasoning: "I think ", action: { type: "stop", finishReason: "stop" } });
  });

  it("the thought and the answer are matched apart, and free text still stops", () => {
    const pieces = ["ab", "", "cd", " x"];
    const result = parse(pieces, { startsInReasoning: true, stop: ["bc", "d x"] }, [0, thinkEnd, 2, 3]);
    expect(result).toEqual({ content: "c", reasoning: "ab", action: { type: "stop", finishReason: "stop" } });
  });
});
