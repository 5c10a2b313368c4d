import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import {
  parseOllamaChatRequest,
  parseOllamaGenerateRequest,
  parseOllamaKeepAliveMs,
  toOllamaChatGenerateRequest,
  toOllamaGenerateRequest,
} from "./convert-request.js";

describe("parseOllamaKeepAliveMs (case D17)", () => {
  it.each([
    [3600, 3_600_000],
    [0, 0],
    [-1, -1],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["-1m", -1],
    ["0", 0],
    [1e12, -1],
    [null, undefined],
    [undefined, undefined],
  ])("reads %j as %j ms", (value, expected) => {
    expect(parseOllamaKeepAliveMs(value)).toBe(expected);
  });

  it.each(["-1", "300", "ten minutes"])("refuses %j with a 400 naming keep_alive", (value) => {
    const error = (() => {
      try {
        parseOllamaKeepAliveMs(value);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(MoestroError);
    expect(error).toMatchObject({ status: 400, param: "keep_alive" });
    if (/^-?\d+$/.test(value)) expect((error as Error).message).toContain("missing unit in duration");
  });
});

describe("toOllamaChatGenerateRequest", () => {
  it("maps options, think levels and format; ignores unknown options and num_ctx", () => {
    const request = toOllamaChatGenerateRequest(
      parseOllamaChatRequest({
        model: "m",
        messages: [
          { role: "system", content: "a" },
          { role: "user", content: "hi" },
          { role: "system", content: "b" },
        ],
        think: "high",
        format: "json",
        options: {
          temperature: 0.5,
          top_k: 10,
          top_p: 0.9,
          min_p: 0.1,
          seed: 7,
          stop: "x",
          num_predict: 12,
          num_ctx: 99_999,
          num_thread: 8,
          repeat_penalty: 1.1,
        },
      }),
    );
    expect(request).toMatchObject({
      input: {
        kind: "chat",
        messages: [
          { role: "system", text: "a\n\nb" },
          { role: "user", text: "hi" },
        ],
      },
      maxTokens: 12,
      sampling: { temperature: 0.5, topK: 10, topP: 0.9, minP: 0.1, seed: 7 },
      stop: ["x"],
      thinking: { enabled: true },
      responseFormat: { type: "json_object" },
    });
    expect(
      toOllamaChatGenerateRequest(parseOllamaChatRequest({ model: "m", messages: [{ role: "user", content: "x" }], think: false }))
        .thinking,
    ).toEqual({ enabled: false });
    expect(
      toOllamaChatGenerateRequest(
        parseOllamaChatRequest({ model: "m", messages: [{ role: "user", content: "x" }], options: { num_predict: -1 } }),
      ).maxTokens,
    ).toBeUndefined();
  });

  it("D12: links tool messages to the calls they answer, by tool_name, with object arguments", () => {
    const request = toOllamaChatGenerateRequest(
      parseOllamaChatRequest({
        model: "m",
        messages: [
          { role: "user", content: "weather?" },
          {
            role: "assistant",
            content: "",
            tool_calls: [{ function: { name: "a", arguments: { x: 1 } } }, { function: { name: "b", arguments: { y: 2 } } }],
          },
          { role: "tool", tool_name: "b", content: "B" },
          { role: "tool", content: "A" },
        ],
      }),
    );
    expect(request.input).toEqual({
      kind: "chat",
      messages: [
        { role: "user", text: "weather?" },
        {
          role: "assistant",
          text: "",
          toolCalls: [
            { id: "call_1_0", name: "a", arguments: '{"x":1}' },
            { id: "call_1_1", name: "b", arguments: '{"y":2}' },
          ],
        },
        { role: "tool", toolCallId: "call_1_1", text: "B" },
        { role: "tool", toolCallId: "call_1_0", text: "A" },
      ],
    });
  });

  it("refuses images and a tool message that answers no call", () => {
    expect(() =>
      toOllamaChatGenerateRequest(parseOllamaChatRequest({ model: "m", messages: [{ role: "user", content: "x", images: ["aGk="] }] })),
    ).toThrow(expect.objectContaining({ param: "messages[0].images", status: 400 }));
    expect(() => toOllamaChatGenerateRequest(parseOllamaChatRequest({ model: "m", messages: [{ role: "tool", content: "x" }] }))).toThrow(
      expect.objectContaining({ param: "messages[0]", status: 400 }),
    );
  });
});

describe("toOllamaGenerateRequest", () => {
  it("templates the prompt after system, or completes it raw", () => {
    expect(toOllamaGenerateRequest(parseOllamaGenerateRequest({ model: "m", prompt: "p", system: "s" })).input).toEqual({
      kind: "chat",
      messages: [
        { role: "system", text: "s" },
        { role: "user", text: "p" },
      ],
    });
    const raw = toOllamaGenerateRequest(parseOllamaGenerateRequest({ model: "m", prompt: "p", raw: true, think: true }));
    expect(raw.input).toEqual({ kind: "completion", prompt: "p" });
    expect(raw.thinking).toBeUndefined();
  });

  it.each([
    ["suffix", { suffix: "end" }],
    ["images", { images: ["aGk="] }],
    ["template", { template: "{{ .Prompt }}" }],
    ["context", { context: [1, 2] }],
    ["format", { raw: true, format: "json" }],
  ])("refuses %s with a 400 naming it", (param, extra) => {
    expect(() => toOllamaGenerateRequest(parseOllamaGenerateRequest({ model: "m", prompt: "p", ...extra }))).toThrow(
      expect.objectContaining({ param, status: 400 }),
    );
  });
});
