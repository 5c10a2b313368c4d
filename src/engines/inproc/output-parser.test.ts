import type { Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import type { FinishReason, StreamPart, TokenLogprob, ToolCall, ToolDefinition } from "../../spec/index.js";
import { OutputParser, type OutputParserOptions, type ParserAction, type TokenDecoder } from "./output-parser.js";

// Model-free: a tiny vocabulary of our own. Ids 1-4 are the marker tokens (single tokens in Qwen vocabularies); every
// other piece of text gets the next free id the first time it is used.

const THINK = "<think>";
const END_THINK = "</think>";
const TOOL = "<tool_call>";
const END_TOOL = "</tool_call>";

class Vocabulary {
  readonly #ids = new Map<string, Token>();
  readonly #texts = new Map<Token, string>();

  constructor() {
    for (const marker of [THINK, END_THINK, TOOL, END_TOOL]) this.id(marker);
  }

  /** The token of `text`. */
  id(text: string): Token {
    let id = this.#ids.get(text);
    if (id === undefined) {
      id = (this.#ids.size + 1) as Token;
      this.#ids.set(text, id);
      this.#texts.set(id, text);
    }
    return id;
  }

  text(token: Token): string {
    return this.#texts.get(token) ?? "";
  }
}

/**
 * A decoder over the vocabulary. Pieces listed in `held` are held back until the next token or `flush`, as the
 * incremental detokenizer holds the first bytes of a split UTF-8 character.
 */
function fakeDecoder(vocabulary: Vocabulary, held: readonly string[] = []): TokenDecoder {
  let pending = "";
  return {
    push(token) {
      const text = pending + vocabulary.text(token);
      pending = "";
      if (held.includes(vocabulary.text(token))) {
        pending = text;
        return "";
      }
      return text;
    },
    flush() {
      const text = pending;
      pending = "";
      return text;
    },
  };
}

const weatherTool: ToolDefinition = {
  name: "get_weather",
  parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } },
};

interface Scenario {
  /** Options of the parser (the decoder, markers and ids are filled in). */
  options?: Partial<OutputParserOptions>;
  /** Pieces the model samples, in order; a piece may be a marker. */
  tokens: string[];
  /** Pieces whose text the decoder holds back until the next token. */
  held?: string[];
  /** A log-probability per sampled piece, when given. */
  logprobs?: boolean;
}

interface Outcome {
  parts: StreamPart[];
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  completionTokens: number;
  reasoningTokens: number;
  /** Tokens the parser asked to inject, in order. */
  injected: string[];
  malformed: string[];
}

function logprobOf(piece: string): TokenLogprob {
  return { token: piece, logprob: -1, bytes: [...Buffer.from(piece)], top: [] };
}

/**
 * Drives the parser as the engine's generation loop does: sampled tokens in order, injected tokens before the next
 * sampled one, stop at the first `stop` action, then `end()`. The natural end is the end of the sampled tokens.
 */
function run(scenario: Scenario): Outcome {
  const vocabulary = new Vocabulary();
  const malformed: string[] = [];
  let nextCallId = 0;
  const parser = new OutputParser({
    decoder: fakeDecoder(vocabulary, scenario.held),
    markers: {
      thinkStart: vocabulary.id(THINK),
      thinkEnd: vocabulary.id(END_THINK),
      toolCallStart: vocabulary.id(TOOL),
      toolCallEnd: vocabulary.id(END_TOOL),
    },
    stop: [],
    startsInReasoning: false,
    startsAfterThought: false,
    closeThoughtTokens: ["\n", END_THINK, "\n\n"].map((piece) => vocabulary.id(piece)),
    closeToolCallTokens: ["\n", END_TOOL].map((piece) => vocabulary.id(piece)),
    stopAfterFirstToolCall: false,
    answerIsJson: false,
    createToolCallId: () => `call_${nextCallId++}`,
    onMalformedToolCall: (text) => malformed.push(text),
    ...scenario.options,
  });
  const parts: StreamPart[] = [];
  const injected: string[] = [];
  const pending: Token[] = [];
  const sampled = [...scenario.tokens];
  let finishReason: FinishReason | undefined;
  while (finishReason === undefined) {
    const isInjected = pending.length > 0;
    const token = isInjected
      ? pending.shift()
      : (() => {
          const piece = sampled.shift();
          return piece === undefined ? undefined : vocabulary.id(piece);
        })();
    if (token === undefined) {
      finishReason = parser.naturalFinishReason;
      break;
    }
    const logprob = scenario.logprobs && !isInjected ? logprobOf(vocabulary.text(token)) : undefined;
    const { parts: newParts, action } = parser.push(token, logprob);
    parts.push(...newParts);
    if (action.type === "stop") finishReason = action.finishReason;
    if (action.type === "inject") {
      pending.push(...action.tokens);
      injected.push(...action.tokens.map((injectedToken) => vocabulary.text(injectedToken)));
    }
  }
  parts.push(...parser.end());
  const textOf = (type: "text-delta" | "reasoning-delta") => parts.map((part) => (part.type === type ? part.text : "")).join("");
  return {
    parts,
    text: textOf("text-delta"),
    reasoning: textOf("reasoning-delta"),
    toolCalls: parts.flatMap((part) => (part.type === "tool-call" ? [part.toolCall] : [])),
    finishReason: finishReason === "stop" && parser.toolCalls.length > 0 ? "tool_calls" : finishReason,
    completionTokens: parser.completionTokens,
    reasoningTokens: parser.reasoningTokens,
    injected,
    malformed,
  };
}

describe("OutputParser: answer text and stop sequences", () => {
  it.each<[string, Scenario, Partial<Outcome>]>([
    [
      "plain text, one part per token",
      { tokens: ["Hel", "lo", " world"] },
      { text: "Hello world", finishReason: "stop", completionTokens: 3 },
    ],
    [
      "a stop sequence in one token ends the answer before it",
      { options: { stop: ["\n\n"] }, tokens: ["Hi", "\n\n", "more"] },
      { text: "Hi", finishReason: "stop", completionTokens: 2 },
    ],
    [
      "a stop sequence split over tokens never leaks, even in part",
      { options: { stop: ["END"] }, tokens: ["Go", "E", "N", "D", "x"] },
      { text: "Go", finishReason: "stop", completionTokens: 4 },
    ],
    [
      "a stop sequence inside a token: the text before it is kept",
      { options: { stop: ["END"] }, tokens: ["Go", "aENDb"] },
      { text: "Goa", finishReason: "stop", completionTokens: 2 },
    ],
    [
      "held-back text that does not become a stop sequence is released",
      { options: { stop: ["END"] }, tokens: ["E", "x"] },
      { text: "Ex", finishReason: "stop", completionTokens: 2 },
    ],
    [
      "held-back text at the end of generation is released by end()",
      { options: { stop: ["END"] }, tokens: ["Go", "EN"] },
      { text: "GoEN", finishReason: "stop" },
    ],
    [
      "the first of several stop sequences wins",
      { options: { stop: ["b", "a"] }, tokens: ["xa", "b"] },
      { text: "x", completionTokens: 1 },
    ],
    [
      "a structured answer stops once its JSON value is complete",
      { options: { answerIsJson: true }, tokens: ['{"a": ', "[1, ", '"}"]', "}", " trailing"] },
      { text: '{"a": [1, "}"]}', finishReason: "stop", completionTokens: 4 },
    ],
  ])("%s", (_name, scenario, expected) => {
    expect(run(scenario)).toMatchObject(expected);
  });

  it("emits one text-delta per decoded piece and never an empty one", () => {
    const { parts } = run({ options: { stop: ["END"] }, tokens: ["a", "E", "b"] });
    expect(parts).toEqual([
      { type: "text-delta", text: "a" },
      { type: "text-delta", text: "Eb" },
    ]);
  });
});

describe("OutputParser: thoughts", () => {
  it.each<[string, Scenario, Partial<Outcome>]>([
    [
      "a prompt that ends inside a thought: thought, then answer without the separator newlines",
      { options: { startsInReasoning: true }, tokens: ["Let", " me", END_THINK, "\n\n", "Paris"] },
      { reasoning: "Let me", text: "Paris", reasoningTokens: 3, completionTokens: 5, finishReason: "stop" },
    ],
    [
      "<think> as the first token opens a thought; the tags count as reasoning tokens",
      { tokens: [THINK, "hmm", END_THINK, "\n", "Ok"] },
      { reasoning: "hmm", text: "Ok", reasoningTokens: 3, completionTokens: 5 },
    ],
    [
      "<think> after the first token is plain text",
      { tokens: ["a", THINK, "b"] },
      { reasoning: "", text: "a<think>b", reasoningTokens: 0 },
    ],
    [
      "stop sequences apply inside a thought too (as in llama-server and vLLM), and end the generation there",
      { options: { startsInReasoning: true, stop: ["x"] }, tokens: ["ax", END_THINK, "yxz"] },
      { reasoning: "a", text: "", finishReason: "stop" },
    ],
    [
      "a closed thought in the prompt: leading newlines of the answer are dropped, later ones kept",
      { options: { startsAfterThought: true }, tokens: ["\n", "\n", "Hi\n", "\nthere"] },
      { text: "Hi\n\nthere", reasoningTokens: 0 },
    ],
    [
      "a thought that never closes is all reasoning",
      { options: { startsInReasoning: true }, tokens: ["a", "b"] },
      { reasoning: "ab", text: "", reasoningTokens: 2, finishReason: "stop" },
    ],
    [
      "a thinking budget closes the thought by injecting the closing tokens",
      { options: { startsInReasoning: true, thinkingBudgetTokens: 2 }, tokens: ["a", "b", "Answer"] },
      { reasoning: "ab\n", text: "Answer", injected: ["\n", END_THINK, "\n\n"], reasoningTokens: 4, completionTokens: 6 },
    ],
    [
      "text the decoder holds at </think> goes to the thought",
      { options: { startsInReasoning: true }, tokens: ["a", "é", END_THINK, "b"], held: ["é"] },
      { reasoning: "aé", text: "b" },
    ],
  ])("%s", (_name, scenario, expected) => {
    expect(run(scenario)).toMatchObject(expected);
  });

  it("sends every reasoning part before the first text part", () => {
    const { parts } = run({ tokens: [THINK, "x", "y", END_THINK, "z"] });
    expect(parts.map((part) => part.type)).toEqual(["reasoning-delta", "reasoning-delta", "text-delta"]);
  });
});

describe("OutputParser: tool calls", () => {
  const tools = [weatherTool];
  const jsonCall = ['{"name": "get_weather", ', '"arguments": {"city": "Paris"}}'];

  it.each<[string, Scenario, Partial<Outcome>]>([
    [
      "the JSON form: complete JSON gets the closing tokens injected, then one tool-call part",
      { options: { tools }, tokens: ["Let me check.", TOOL, "\n", ...jsonCall] },
      {
        text: "Let me check.",
        toolCalls: [{ id: "call_0", name: "get_weather", arguments: '{"city":"Paris"}' }],
        injected: ["\n", END_TOOL],
        finishReason: "tool_calls",
      },
    ],
    [
      "the XML form ends at </function>; values are typed by the tool's schema",
      {
        options: { tools },
        tokens: [
          TOOL,
          "\n<function=get_weather>\n",
          "<parameter=city>\nParis\n</parameter>\n",
          "<parameter=days>\n3\n</parameter>\n",
          "</function>",
        ],
      },
      { toolCalls: [{ id: "call_0", name: "get_weather", arguments: '{"city":"Paris","days":3}' }], injected: ["\n", END_TOOL] },
    ],
    [
      "parallel calls: one part each, ids in order",
      {
        options: { tools },
        tokens: [TOOL, ...jsonCall, "\n", END_TOOL, "\n", TOOL, '{"name": "get_weather", "arguments": {"city": "Rome"}}'],
      },
      {
        toolCalls: [
          { id: "call_0", name: "get_weather", arguments: '{"city":"Paris"}' },
          { id: "call_1", name: "get_weather", arguments: '{"city":"Rome"}' },
        ],
        finishReason: "tool_calls",
      },
    ],
    [
      "stopAfterFirstToolCall ends generation after the first call",
      {
        options: { tools, stopAfterFirstToolCall: true },
        tokens: [TOOL, ...jsonCall, "\n", TOOL, '{"name": "get_weather", "arguments": {}}'],
      },
      { toolCalls: [{ id: "call_0", name: "get_weather", arguments: '{"city":"Paris"}' }], finishReason: "tool_calls" },
    ],
    [
      "a block that does not parse is returned as answer text, and reported",
      { options: { tools }, tokens: [TOOL, "not a call", END_TOOL, " done"] },
      { text: "<tool_call>not a call</tool_call> done", toolCalls: [], malformed: ["not a call"], finishReason: "stop" },
    ],
    [
      "a call cut before it closed (max_tokens) comes back as answer text, markup and all, not dropped",
      { options: { tools }, tokens: ["Let me check.", TOOL, "\n", '{"name": "get_weather", '] },
      { text: 'Let me check.<tool_call>\n{"name": "get_weather", ', toolCalls: [], malformed: [] },
    ],
    [
      "without tools, the markers are plain text",
      { tokens: [TOOL, '{"name": "f"}', END_TOOL] },
      { text: '<tool_call>{"name": "f"}</tool_call>', toolCalls: [], finishReason: "stop" },
    ],
    [
      "text the decoder holds at <tool_call> goes to the answer, before the call",
      { options: { tools }, tokens: ["a", "é", TOOL, ...jsonCall], held: ["é"] },
      { text: "aé", toolCalls: [{ id: "call_0", name: "get_weather", arguments: '{"city":"Paris"}' }] },
    ],
    [
      "answer text held by a stop sequence's prefix is flushed before the call",
      { options: { tools, stop: ["END"] }, tokens: ["Go E", TOOL, ...jsonCall] },
      { text: "Go E", toolCalls: [{ id: "call_0", name: "get_weather", arguments: '{"city":"Paris"}' }] },
    ],
  ])("%s", (_name, scenario, expected) => {
    expect(run(scenario)).toMatchObject(expected);
  });

  it("a thought, then a call: reasoning, then the tool-call part", () => {
    const outcome = run({ options: { tools, startsInReasoning: true }, tokens: ["plan", END_THINK, "\n\n", TOOL, ...jsonCall] });
    expect(outcome.parts.map((part) => part.type)).toEqual(["reasoning-delta", "tool-call"]);
    expect(outcome.finishReason).toBe("tool_calls");
  });
});

describe("OutputParser: log-probabilities", () => {
  it("puts each answer token's logprob on the part that carries its text", () => {
    const { parts } = run({ tokens: ["Hi", " there"], logprobs: true });
    expect(parts).toEqual([
      { type: "text-delta", text: "Hi", logprobs: [logprobOf("Hi")] },
      { type: "text-delta", text: " there", logprobs: [logprobOf(" there")] },
    ]);
  });

  it("holds the logprobs of held-back text until that text is sent", () => {
    const { parts } = run({ options: { stop: ["END"] }, tokens: ["Hi", "E", "x"], logprobs: true });
    expect(parts).toEqual([
      { type: "text-delta", text: "Hi", logprobs: [logprobOf("Hi")] },
      { type: "text-delta", text: "Ex", logprobs: [logprobOf("E"), logprobOf("x")] },
    ]);
  });

  // A client asking for logprobs must not get the tokens of a stop sequence whose text was cut (an extra empty
  // text-delta from `end()` used to carry them).
  it("drops the logprobs of a stop sequence with its text", () => {
    const { parts } = run({ options: { stop: ["END"] }, tokens: ["Hi", "E", "N", "D"], logprobs: true });
    expect(parts).toEqual([{ type: "text-delta", text: "Hi", logprobs: [logprobOf("Hi")] }]);
  });

  it("sends the logprobs of tokens held at the end, even when they decode to nothing", () => {
    const { parts } = run({ tokens: ["Hi", "é"], held: ["é", "\u0000"], logprobs: true });
    expect(parts.flatMap((part) => (part.type === "text-delta" ? (part.logprobs ?? []) : []))).toEqual([logprobOf("Hi"), logprobOf("é")]);
  });

  it("gives no logprobs for thought tokens", () => {
    const { parts } = run({ options: { startsInReasoning: true }, tokens: ["a", END_THINK, "b"], logprobs: true });
    expect(parts).toEqual([
      { type: "reasoning-delta", text: "a" },
      { type: "text-delta", text: "b", logprobs: [logprobOf("b")] },
    ]);
  });
});

// The stop-sequence cases below use a vocabulary of plain pieces: token i is pieces[i]; 1000 and 1001 are the thought markers.
const thinkStart = 1000 as Token;
const thinkEnd = 1001 as Token;

/** A parser whose vocabulary is `pieces`: token i is the text pieces[i]; 1000 and 1001 are `<think>` and `</think>`. */
function parseStops(pieces: readonly string[], options: Partial<OutputParserOptions>, tokens: readonly number[] = pieces.map((_, i) => i)) {
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
    const result = parseStops(['{"a"', ": {}", "}\n\n", "\n"], { answerIsJson: true, stop: ["{", '"'] });
    expect(result).toEqual({ content: '{"a": {}}', reasoning: "", action: { type: "stop", finishReason: "stop" } });
  });

  it("a JSON answer that is a number ends at the newline after it; a literal at its last letter", () => {
    expect(parseStops(["-1", "2.5", "\n\n"], { answerIsJson: true }).content).toBe("-12.5");
    expect(parseStops(["nu", "ll", "\n\n\n\n"], { answerIsJson: true }).content).toBe("null");
  });

  it("stop sequences end the thought too, and never leak", () => {
    const result = parseStops(["I think", " STO", "P here", "answer"], { startsInReasoning: true, stop: ["STOP"] });
    expect(result).toEqual({ content: "", reasoning: "I think ", action: { type: "stop", finishReason: "stop" } });
  });

  it("the thought and the answer are matched apart, and free text still stops", () => {
    const pieces = ["ab", "", "cd", " x"];
    const result = parseStops(pieces, { startsInReasoning: true, stop: ["bc", "d x"] }, [0, thinkEnd, 2, 3]);
    expect(result).toEqual({ content: "c", reasoning: "ab", action: { type: "stop", finishReason: "stop" } });
  });
});
