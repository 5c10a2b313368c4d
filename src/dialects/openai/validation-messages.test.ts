import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { parseChatCompletionRequest, parseCompletionRequest, parseEmbeddingRequest } from "./convert-request.js";

const chat = { model: "m", messages: [{ role: "user", content: "Hi" }] };

/** The 400 a parser throws for `body`: its `param` and message. */
function refusal(parse: (body: unknown) => unknown, body: unknown): { param: string | null; message: string } {
  try {
    parse(body);
  } catch (error) {
    expect(error).toBeInstanceOf(MoestroError);
    const moestroError = error as MoestroError;
    expect(moestroError.status).toBe(400);
    return { param: moestroError.param ?? null, message: moestroError.message };
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe("validation messages name what was expected", () => {
  const cases: Array<[string, (body: unknown) => unknown, unknown, string, string]> = [
    [
      "completions without prompt",
      parseCompletionRequest,
      { model: "m" },
      "prompt",
      "Invalid 'prompt': is required; expected a string, or an array of one string (token-id prompts are not supported).",
    ],
    [
      "a token-id prompt",
      parseCompletionRequest,
      { model: "m", prompt: [1, 2] },
      "prompt",
      "Invalid 'prompt': expected a string, or an array of one string (token-id prompts are not supported).",
    ],
    [
      "two prompts",
      parseCompletionRequest,
      { model: "m", prompt: ["a", "b"] },
      "prompt",
      "Invalid 'prompt': only one prompt per request is supported.",
    ],
    ["no model", parseCompletionRequest, { prompt: "x" }, "model", "Invalid 'model': is required; expected a string."],
    [
      "max_tokens as text",
      parseChatCompletionRequest,
      { ...chat, max_tokens: "8" },
      "max_tokens",
      "Invalid 'max_tokens': expected a number, got a string.",
    ],
    ["n as a fraction", parseChatCompletionRequest, { ...chat, n: 1.5 }, "n", "Invalid 'n': expected an integer, got a float."],
    [
      "stop as a number",
      parseChatCompletionRequest,
      { ...chat, stop: 3 },
      "stop",
      "Invalid 'stop': expected a string or an array of at most 16 strings.",
    ],
    [
      "content as a number",
      parseChatCompletionRequest,
      { model: "m", messages: [{ role: "user", content: 5 }] },
      "messages[0].content",
      "Invalid 'messages[0].content': expected a string, an array of content parts, or null.",
    ],
    [
      "an unknown tool_choice",
      parseChatCompletionRequest,
      { ...chat, tool_choice: "sometimes" },
      "tool_choice",
      `Invalid 'tool_choice': expected 'auto', 'none', 'required', or {"type": "function", "function": {"name": …}}.`,
    ],
    [
      "keep_alive as a boolean",
      parseChatCompletionRequest,
      { ...chat, keep_alive: true },
      "keep_alive",
      `Invalid 'keep_alive': expected a number of seconds or a duration such as "5m".`,
    ],
    [
      "a message without a role",
      parseChatCompletionRequest,
      { model: "m", messages: [{ content: "Hi" }] },
      "messages[0].role",
      "Invalid 'messages[0].role': is required; expected one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'.",
    ],
    ["messages missing", parseChatCompletionRequest, { model: "m" }, "messages", "Invalid 'messages': is required; expected an array."],
    [
      "embeddings without input",
      parseEmbeddingRequest,
      { model: "m" },
      "input",
      "Invalid 'input': is required; expected a string, an array of strings, an array of token ids, or an array of arrays of token ids.",
    ],
    [
      "embeddings of mixed input",
      parseEmbeddingRequest,
      { model: "m", input: ["a", 1] },
      "input",
      "Invalid 'input': expected a string, an array of strings, an array of token ids, or an array of arrays of token ids.",
    ],
    [
      "an unknown encoding_format",
      parseEmbeddingRequest,
      { model: "m", input: "a", encoding_format: "hex" },
      "encoding_format",
      "Invalid 'encoding_format': Invalid enum value. Expected 'float' | 'base64', received 'hex'.",
    ],
  ];

  it.each(cases)("%s", (_name, parse, body, param, message) => {
    expect(refusal(parse, body)).toEqual({ param, message });
  });

  it("a body that is not an object is refused as a whole", () => {
    for (const parse of [parseChatCompletionRequest, parseCompletionRequest, parseEmbeddingRequest]) {
      expect(refusal(parse, [1]).message).toBe("The request body must be a JSON object.");
    }
  });
});
