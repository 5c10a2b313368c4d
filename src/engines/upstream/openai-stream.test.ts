import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import type { StreamPart } from "../../spec/index.js";
import { UpstreamChunkParser, UpstreamStreamReader, type WireUpstreamChunk } from "./openai-stream.js";

function readAll(chunks: WireUpstreamChunk[], estimatedPromptTokens = 5): StreamPart[] {
  const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens });
  return [...chunks.flatMap((chunk) => reader.read(chunk)), ...reader.end()];
}

describe("UpstreamStreamReader", () => {
  it("turns reasoning, text and the usage chunk into parts and one finish", () => {
    const parts = readAll([
      { choices: [{ index: 0, delta: { role: "assistant", content: "" } } as never] },
      { choices: [{ index: 0, delta: { reasoning_content: "Let me think." } }] },
      { choices: [{ index: 0, delta: { content: "Hello" } }] },
      { choices: [{ index: 0, delta: { content: " world" }, finish_reason: "stop", stop_reason: "\n" }] },
      { choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, completion_tokens_details: { reasoning_tokens: 2 } } },
    ]);
    expect(parts).toEqual([
      { type: "reasoning-delta", text: "Let me think." },
      { type: "text-delta", text: "Hello" },
      { type: "text-delta", text: " world" },
      { type: "finish", finishReason: "stop", stopSequence: "\n", usage: { promptTokens: 9, completionTokens: 4, reasoningTokens: 2 } },
    ]);
  });

  it("reads newer vLLM's `reasoning` and a completion's `text`", () => {
    const parts = readAll([{ choices: [{ delta: { reasoning: "hm" } }] }, { choices: [{ text: "Once", finish_reason: "length" }] }]);
    expect(parts.slice(0, 2)).toEqual([
      { type: "reasoning-delta", text: "hm" },
      { type: "text-delta", text: "Once" },
    ]);
    expect(parts[2]).toMatchObject({ type: "finish", finishReason: "length" });
  });

  it("assembles tool calls streamed in pieces, one part per call, in index order", () => {
    const parts = readAll([
      { choices: [{ delta: { tool_calls: [{ index: 0, id: "call_a", function: { name: "weather", arguments: "" } }] } }] },
      { choices: [{ delta: { tool_calls: [{ index: 1, id: "call_b", function: { name: "time", arguments: '{"tz"' } }] } }] },
      { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] } }] },
      { choices: [{ delta: { tool_calls: [{ index: 1, function: { arguments: ':"UTC"}' } }] }, finish_reason: "tool_calls" }] },
      { choices: [], usage: { prompt_tokens: 3, completion_tokens: 12 } },
    ]);
    expect(parts).toEqual([
      { type: "tool-call", toolCall: { id: "call_a", name: "weather", arguments: '{"city":"Paris"}' } },
      { type: "tool-call", toolCall: { id: "call_b", name: "time", arguments: '{"tz":"UTC"}' } },
      { type: "finish", finishReason: "tool_calls", usage: { promptTokens: 3, completionTokens: 12 } },
    ]);
  });

  it("finishes a choice that made tool calls with tool_calls, whatever later chunk says stop (C05)", () => {
    const call = { index: 0, id: "call_a", function: { name: "weather", arguments: '{"city":"Paris"}' } };
    const expected: StreamPart[] = [
      { type: "tool-call", toolCall: { id: "call_a", name: "weather", arguments: '{"city":"Paris"}' } },
      { type: "finish", finishReason: "tool_calls", usage: { promptTokens: 3, completionTokens: 12 } },
    ];
    const usage = { choices: [], usage: { prompt_tokens: 3, completion_tokens: 12 } };
    // Ollama's style: the whole call in one chunk, `stop` in a later chunk that carries none.
    expect(readAll([{ choices: [{ delta: { tool_calls: [call] } }] }, { choices: [{ delta: {}, finish_reason: "stop" }] }, usage])).toEqual(
      expected,
    );
    // A `stop` sent again after a first `tool_calls` (the calls already given) does not undo it.
    expect(
      readAll([
        { choices: [{ delta: { tool_calls: [call] }, finish_reason: "tool_calls" }] },
        { choices: [{ delta: {}, finish_reason: "stop" }] },
        usage,
      ]),
    ).toEqual(expected);
    // Not streamed: a message with calls and `stop`.
    const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5 });
    expect(
      reader.readWhole({
        choices: [{ message: { tool_calls: [{ id: "call_a", function: call.function }] }, finish_reason: "stop" }],
        usage: usage.usage,
      }),
    ).toEqual(expected);
    // `length` stays `length`: the calls may have been cut short.
    expect(readAll([{ choices: [{ delta: { tool_calls: [call] }, finish_reason: "length" }] }]).at(-1)).toMatchObject({
      finishReason: "length",
    });
  });

  it("counts one token per chunk and estimates the prompt when the upstream sends no usage, marked estimated", () => {
    const parts = readAll(
      [
        { choices: [{ delta: { reasoning_content: "a" } }] },
        { choices: [{ delta: { content: "b" } }] },
        { choices: [{ delta: {}, finish_reason: "stop" }] },
      ],
      11,
    );
    expect(parts.at(-1)).toEqual({
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 11, completionTokens: 2, reasoningTokens: 1, estimated: true },
    });
  });

  it("keeps the generated text for a local tokenizer only when asked (keepText)", () => {
    const chunks = [
      { choices: [{ delta: { reasoning_content: "th" } }] },
      { choices: [{ delta: { reasoning_content: "ink" } }] },
      { choices: [{ delta: { content: "Hé" } }] },
      { choices: [{ delta: { tool_calls: [{ index: 0, id: "c", function: { name: "f", arguments: '{"a":1}' } }] } }] },
      { choices: [{ delta: {}, finish_reason: "tool_calls" }] },
    ];
    const keeping = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 1, keepText: true });
    const plain = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 1 });
    for (const chunk of chunks) {
      keeping.read(chunk);
      plain.read(chunk);
    }
    keeping.end();
    expect(keeping.generatedText).toEqual({ reasoning: "think", answer: 'Héf{"a":1}' });
    expect(plain.generatedText).toEqual({ reasoning: "", answer: "" });
  });

  it("refuses a stream that ended without a finish_reason, and an error event inside the stream", () => {
    const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 1 });
    reader.read({ choices: [{ delta: { content: "half" } }] });
    expect(() => reader.end()).toThrow(MoestroError);
    const failure = (() => {
      try {
        reader.read({ error: { message: "engine died" } });
      } catch (error) {
        return error as MoestroError;
      }
    })();
    expect(failure).toMatchObject({ code: "upstream_failed", message: "The upstream 'u' sent an error during the stream." });
    expect((failure?.cause as Error | undefined)?.message).toBe("engine died");
  });

  it("keeps token log-probabilities", () => {
    const parts = readAll([
      {
        choices: [
          {
            delta: { content: "Hi" },
            logprobs: { content: [{ token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: "Hi", logprob: -0.5 }] }] },
            finish_reason: "stop",
          },
        ],
      },
    ]);
    expect(parts[0]).toEqual({
      type: "text-delta",
      text: "Hi",
      logprobs: [{ token: "Hi", logprob: -0.5, bytes: [72, 105], top: [{ token: "Hi", logprob: -0.5, bytes: [72, 105] }] }],
    });
  });

  it("reads a whole answer as the parts of one chunk, then its finish: reasoning, text, tool calls and usage", () => {
    const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5 });
    const parts = reader.readWhole({
      choices: [
        {
          index: 0,
          message: {
            reasoning_content: "Let me think.",
            content: "Calling.",
            tool_calls: [
              { id: "call_a", function: { name: "weather", arguments: '{"city":"Paris"}' } },
              { id: "call_b", function: { name: "time", arguments: "{}" } },
            ],
          },
          finish_reason: "tool_calls",
        },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 4 } },
    });
    expect(parts).toEqual([
      { type: "reasoning-delta", text: "Let me think." },
      { type: "text-delta", text: "Calling." },
      { type: "tool-call", toolCall: { id: "call_a", name: "weather", arguments: '{"city":"Paris"}' } },
      { type: "tool-call", toolCall: { id: "call_b", name: "time", arguments: "{}" } },
      { type: "finish", finishReason: "tool_calls", usage: { promptTokens: 9, completionTokens: 12, cachedPromptTokens: 4 } },
    ]);
  });

  it("reads a whole completion's text, logprobs and vLLM's stop string", () => {
    const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5 });
    const parts = reader.readWhole({
      choices: [
        {
          text: "Once",
          finish_reason: "stop",
          stop_reason: "\n",
          logprobs: { content: [{ token: "Once", logprob: -0.5, bytes: [79, 110, 99, 101], top_logprobs: [] }] },
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 1 },
    });
    expect(parts).toEqual([
      { type: "text-delta", text: "Once", logprobs: [{ token: "Once", logprob: -0.5, bytes: [79, 110, 99, 101], top: [] }] },
      { type: "finish", finishReason: "stop", stopSequence: "\n", usage: { promptTokens: 3, completionTokens: 1 } },
    ]);
  });

  it("estimates a whole answer without usage at a quarter of its bytes, marked estimated", () => {
    const reader = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5 });
    const parts = reader.readWhole({
      choices: [{ message: { reasoning_content: "12345678", content: "héllo" }, finish_reason: "stop" }],
    });
    // "héllo" is 6 bytes (2 tokens), the thought 8 (2 tokens).
    expect(parts.at(-1)).toEqual({
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 5, completionTokens: 4, reasoningTokens: 2, estimated: true },
    });
  });

  it("refuses a whole answer that is an error, or that has no finish_reason, as upstream_failed", () => {
    const read = (completion: Parameters<UpstreamStreamReader["readWhole"]>[0]) =>
      new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5 }).readWhole(completion);
    expect(() => read({ error: { message: "boom" } })).toThrow(MoestroError);
    expect(() => read({ error: { message: "boom" } })).toThrow(/sent an error/);
    expect(() => read({ choices: [{ message: { content: "half" } }] })).toThrow(/no finish_reason/);
    expect(() => read({})).toThrow(/no finish_reason/);
  });
});

describe("UpstreamChunkParser", () => {
  /** vLLM's chunk (its envelope, `stop_reason`, `usage: null` with include_usage) holding `delta`. */
  const vllmChunk = (delta: object, finishReason: string | null = null): string =>
    JSON.stringify({
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1765000000,
      model: "m",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason, stop_reason: null }],
      usage: null,
    });
  /** The parts of each chunk, parsed by the parser and by JSON.parse, read by two readers. */
  const readBoth = (events: string[]) => {
    const parser = new UpstreamChunkParser();
    const fast = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5, keepText: true });
    const slow = new UpstreamStreamReader({ upstream: "u", estimatedPromptTokens: 5, keepText: true });
    const parsed = events.map((event) => parser.parse(event));
    return {
      parsed,
      fast: [...parsed.flatMap((chunk) => fast.read(chunk)), ...fast.end()],
      slow: [...events.flatMap((event) => slow.read(JSON.parse(event) as WireUpstreamChunk)), ...slow.end()],
    };
  };

  it("reads a text delta that differs from the last one only in its text as JSON.parse would, whatever the text", () => {
    const texts = ['say "hi"', "back\\slash\\", 'a "content":"x" inside', "é 무엇을 \u2028 😀", " ", '}],"usage":1}'];
    const events = [
      vllmChunk({ role: "assistant", content: "" }),
      ...texts.map((content) => vllmChunk({ content })),
      // Escaped differently from JSON.stringify (as some servers write non-ASCII): still one string literal.
      vllmChunk({ content: "x" }).replace('"x"', '"\\u00e9\\""'),
      vllmChunk({ content: "!" }, "stop"),
      JSON.stringify({ id: "chatcmpl-1", choices: [], usage: { prompt_tokens: 3, completion_tokens: 9 } }),
    ];
    const { parsed, fast, slow } = readBoth(events);
    expect(fast).toEqual(slow);
    expect(fast.filter((part) => part.type === "text-delta").map((part) => (part as { text: string }).text)).toEqual([...texts, 'é"', "!"]);
    // After the first plain delta (the template), the others took the short path: the smallest equivalent chunk.
    expect(parsed[2]).toEqual({ choices: [{ index: 0, delta: { content: texts[1] } }] });
  });

  it("parses whole what is not the template's text delta: another value there, thoughts, tool calls, errors (C04, C05)", () => {
    const events = [
      vllmChunk({ content: "a" }),
      // Where the template has its text, something that is not one string literal.
      vllmChunk({ content: "b" }).replace('"b"', '"b","reasoning":"r"'),
      vllmChunk({ content: "c" }).replace('"c"', "null"),
      vllmChunk({ reasoning_content: "hm" }),
      vllmChunk({ tool_calls: [{ id: "call_1", function: { name: "f", arguments: '{"x":' } }] }),
      vllmChunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }),
      vllmChunk({}, "stop"),
    ];
    const { parsed, fast, slow } = readBoth(events);
    expect(fast).toEqual(slow);
    expect(parsed.slice(1)).toEqual(events.slice(1).map((event) => JSON.parse(event)));
    expect(fast.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
    expect(() => new UpstreamChunkParser().parse('{"choices": [')).toThrow(SyntaxError);
    expect(() => readBoth([vllmChunk({ content: "a" }), JSON.stringify({ error: { message: "boom" } })])).toThrow(MoestroError);
  });
});
