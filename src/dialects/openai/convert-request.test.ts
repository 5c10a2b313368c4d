import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest } from "../../spec/index.js";
import {
  chatOptionRefusedLocally,
  parseChatCompletionRequest,
  parseCompletionRequest,
  parseKeepAliveMs,
  toChatGenerateRequest,
  toCompletionGenerateRequest,
} from "./convert-request.js";

// Assertions on errors check status, code, type and param, and that the message names the param; they stay loose on the
// rest of the wording so that clearer messages do not break them.

/** The error `run` throws; fails the test when it throws none or something else. */
function errorOf(run: () => unknown): MoestroError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MoestroError);
    return error as MoestroError;
  }
  throw new Error("expected a MoestroError, nothing was thrown");
}

/** Checks a refusal's status, code, type and param, and that its message names the param. */
function expectClientError(error: MoestroError, code: string, param: string | null): void {
  expect({ status: error.status, code: error.code, type: error.type, param: error.param }).toEqual({
    status: 400,
    code,
    type: "invalid_request_error",
    param,
  });
  if (param !== null) expect(error.message).toContain(param);
}

const user = (content: unknown) => ({ role: "user", content });
const chat = (fields: Record<string, unknown> = {}) => ({ model: "m", messages: [user("Hi")], ...fields });
const toChat = (fields: Record<string, unknown> = {}): GenerateRequest => toChatGenerateRequest(parseChatCompletionRequest(chat(fields)));
const toCompletion = (fields: Record<string, unknown> = {}): GenerateRequest =>
  toCompletionGenerateRequest(parseCompletionRequest({ model: "m", prompt: "Once", ...fields }));

describe("parseChatCompletionRequest: invalid bodies get 400 naming the field", () => {
  it.each([
    ["no model", { messages: [user("Hi")] }, "model"],
    ["an empty model", chat({ model: "" }), "model"],
    ["no messages", { model: "m" }, "messages"],
    ["empty messages", chat({ messages: [] }), "messages"],
    ["an unknown role", chat({ messages: [{ role: "robot", content: "Hi" }] }), "messages[0].role"],
    ["a numeric content", chat({ messages: [user("Hi"), user(5)] }), "messages[1].content"],
    ["max_tokens 0", chat({ max_tokens: 0 }), "max_tokens"],
    ["a fractional max_tokens", chat({ max_tokens: 1.5 }), "max_tokens"],
    ["max_completion_tokens 0", chat({ max_completion_tokens: 0 }), "max_completion_tokens"],
    ["temperature above 2", chat({ temperature: 2.5 }), "temperature"],
    ["top_p above 1", chat({ top_p: 1.5 }), "top_p"],
    ["a negative top_k", chat({ top_k: -1 }), "top_k"],
    ["min_p above 1", chat({ min_p: 2 }), "min_p"],
    ["presence_penalty below -2", chat({ presence_penalty: -3 }), "presence_penalty"],
    ["frequency_penalty above 2", chat({ frequency_penalty: 3 }), "frequency_penalty"],
    ["n above 16", chat({ n: 17 }), "n"],
    ["a logit_bias key that is no token id", chat({ logit_bias: { abc: 1 } }), "logit_bias"],
    ["a logit_bias value that is no number", chat({ logit_bias: { "50": "x" } }), "logit_bias"],
    ["a logit_bias value above 100", chat({ logit_bias: { "50": 101 } }), "logit_bias"],
    ["a logit_bias that is a list", chat({ logit_bias: [1, 2] }), "logit_bias"],
    ["n 0", chat({ n: 0 }), "n"],
    ["a seed that is not an integer", chat({ seed: 1.5 }), "seed"],
    ["17 stop sequences", chat({ stop: Array.from({ length: 17 }, (_, index) => `s${index}`) }), "stop"],
    ["a numeric stop", chat({ stop: 5 }), "stop"],
    ["top_logprobs above 20", chat({ logprobs: true, top_logprobs: 21 }), "top_logprobs"],
    ["a stream that is not a boolean", chat({ stream: "yes" }), "stream"],
    ["a tool name with a space", chat({ tools: [{ type: "function", function: { name: "get weather" } }] }), "tools[0].function.name"],
    ["a tool of another type", chat({ tools: [{ type: "retrieval", function: { name: "f" } }] }), "tools[0].type"],
    ["an unknown tool_choice", chat({ tool_choice: "sometimes" }), "tool_choice"],
    ["an unknown response_format type", chat({ response_format: { type: "xml" } }), "response_format.type"],
    [
      "a json_schema without a name",
      chat({ response_format: { type: "json_schema", json_schema: {} } }),
      "response_format.json_schema.name",
    ],
    ["an unknown reasoning_effort", chat({ reasoning_effort: "max" }), "reasoning_effort"],
    ["a negative thinking_budget", chat({ thinking_budget: -1 }), "thinking_budget"],
    [
      "a tool call without an id",
      chat({ messages: [{ role: "assistant", tool_calls: [{ function: { name: "f", arguments: "{}" } }] }] }),
      "messages[0].tool_calls[0].id",
    ],
  ])("%s → param %s", (_name, body, param) => {
    expectClientError(
      errorOf(() => parseChatCompletionRequest(body)),
      "invalid_request",
      param,
    );
  });

  it.each([
    ["an array", []],
    ["a string", "hello"],
    ["null", null],
    ["a number", 42],
  ])("a body that is %s is not a JSON object", (_name, body) => {
    expectClientError(
      errorOf(() => parseChatCompletionRequest(body)),
      "invalid_request",
      null,
    );
  });

  it("drops unknown top-level fields and accepts null for optional ones", () => {
    const parsed = parseChatCompletionRequest(
      chat({ vendor_extension: { x: 1 }, max_tokens: null, temperature: null, stop: null, tools: null, n: null, stream_options: null }),
    );
    expect(parsed).not.toHaveProperty("vendor_extension");
    expect(toChatGenerateRequest(parsed)).toMatchObject({ maxTokens: undefined, stop: [], sampling: { temperature: undefined } });
  });
});

describe("toChatGenerateRequest", () => {
  it("maps a minimal request to defaults: no limit, no stop, the model's thinking default, no tools", () => {
    expect(toChat()).toEqual({
      input: { kind: "chat", messages: [{ role: "user", text: "Hi" }] },
      maxTokens: undefined,
      sampling: {},
      stop: [],
      thinking: { enabled: undefined, budgetTokens: undefined },
    });
  });

  it("maps every sampling option, in moestro's names", () => {
    const request = toChat({ temperature: 0.5, top_p: 0.9, top_k: 20, min_p: 0.05, seed: 7, presence_penalty: 1, frequency_penalty: -1 });
    expect(request.sampling).toEqual({
      temperature: 0.5,
      topP: 0.9,
      topK: 20,
      minP: 0.05,
      seed: 7,
      presencePenalty: 1,
      frequencyPenalty: -1,
    });
  });

  it.each([
    ["max_tokens alone", { max_tokens: 10 }, 10],
    ["max_completion_tokens alone", { max_completion_tokens: 12 }, 12],
    ["max_completion_tokens over max_tokens", { max_tokens: 10, max_completion_tokens: 12 }, 12],
  ])("maxTokens from %s", (_name, fields, maxTokens) => {
    expect(toChat(fields).maxTokens).toBe(maxTokens);
  });

  it.each([
    ["one string", "END", ["END"]],
    ["a list", ["a", "b"], ["a", "b"]],
    ["a list with empty strings, which are dropped", ["", "x", ""], ["x"]],
    ["an empty string", "", []],
  ])("stop as %s", (_name, stop, expected) => {
    expect(toChat({ stop }).stop).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, boolean | undefined]>([
    ["nothing said: the model's default", {}, undefined],
    ["enable_thinking true", { enable_thinking: true }, true],
    ["enable_thinking false", { enable_thinking: false }, false],
    ["chat_template_kwargs.enable_thinking false", { chat_template_kwargs: { enable_thinking: false } }, false],
    ["enable_thinking over chat_template_kwargs", { enable_thinking: true, chat_template_kwargs: { enable_thinking: false } }, true],
    ["reasoning_effort none", { reasoning_effort: "none" }, false],
    ["reasoning_effort low", { reasoning_effort: "low" }, true],
    ["enable_thinking over reasoning_effort", { enable_thinking: false, reasoning_effort: "high" }, false],
    ["/no_think in the last user message", { messages: [user("Hi /no_think")] }, false],
    ["/think in the last user message", { messages: [user("/think Hi")] }, true],
    ["the last switch of a message wins", { messages: [user("/think then /no_think")] }, false],
    ["the most recent message wins", { messages: [user("/no_think"), { role: "assistant", content: "ok" }, user("/think go")] }, true],
    ["a switch in the system message", { messages: [{ role: "system", content: "/no_think" }, user("Hi")] }, false],
    ["a switch in an assistant message is ignored", { messages: [user("Hi"), { role: "assistant", content: "/no_think" }] }, undefined],
    ["/thinking is not a switch", { messages: [user("/thinking about it")] }, undefined],
    ["an explicit switch over a soft switch", { enable_thinking: true, messages: [user("/no_think")] }, true],
  ])("thinking: %s", (_name, fields, enabled) => {
    expect(toChat(fields).thinking?.enabled).toBe(enabled);
  });

  it("passes thinking_budget as budgetTokens", () => {
    expect(toChat({ thinking_budget: 64 }).thinking).toEqual({ enabled: undefined, budgetTokens: 64 });
  });

  it.each<[string, Record<string, unknown>, { top: number } | undefined]>([
    ["no logprobs", {}, undefined],
    ["logprobs false", { logprobs: false }, undefined],
    ["logprobs true", { logprobs: true }, { top: 0 }],
    ["logprobs with top_logprobs", { logprobs: true, top_logprobs: 3 }, { top: 3 }],
  ])("logprobs: %s", (_name, fields, logprobs) => {
    expect(toChat(fields).logprobs).toEqual(logprobs);
  });

  it("refuses top_logprobs without logprobs", () => {
    expectClientError(
      errorOf(() => toChat({ top_logprobs: 2 })),
      "invalid_request",
      "top_logprobs",
    );
  });

  const weather = { type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object" } } };

  it.each<[string, unknown, unknown]>([
    ["absent", undefined, { type: "auto" }],
    ["auto", "auto", { type: "auto" }],
    ["none", "none", { type: "none" }],
    ["required", "required", { type: "required" }],
    ["a named function", { type: "function", function: { name: "get_weather" } }, { type: "function", name: "get_weather" }],
  ])("tool_choice %s", (_name, toolChoice, choice) => {
    expect(toChat({ tools: [weather], tool_choice: toolChoice }).tools).toEqual({
      definitions: [{ name: "get_weather", description: "Weather", parameters: { type: "object" } }],
      choice,
      parallel: true,
    });
  });

  it("passes parallel_tool_calls: false", () => {
    expect(toChat({ tools: [weather], parallel_tool_calls: false }).tools?.parallel).toBe(false);
  });

  it.each([
    ["required", "required"],
    ["a named function", { type: "function", function: { name: "f" } }],
  ])("refuses tool_choice %s without tools", (_name, toolChoice) => {
    expectClientError(
      errorOf(() => toChat({ tool_choice: toolChoice })),
      "invalid_request",
      "tool_choice",
    );
  });

  it.each([
    ["auto", "auto"],
    ["none", "none"],
  ])("accepts tool_choice %s without tools (nothing to call)", (_name, toolChoice) => {
    expect(toChat({ tool_choice: toolChoice }).tools).toBeUndefined();
    expect(toChat({ tools: [], tool_choice: toolChoice }).tools).toBeUndefined();
  });

  it.each<[string, unknown, unknown]>([
    ["text", { type: "text" }, undefined],
    ["json_object", { type: "json_object" }, { type: "json_object" }],
    [
      "json_schema",
      { type: "json_schema", json_schema: { name: "answer", schema: { type: "object", required: ["x"] }, strict: true } },
      { type: "json_schema", name: "answer", schema: { type: "object", required: ["x"] } },
    ],
    [
      "json_schema without a schema: any object",
      { type: "json_schema", json_schema: { name: "any" } },
      { type: "json_schema", name: "any", schema: { type: "object" } },
    ],
  ])("response_format %s", (_name, responseFormat, expected) => {
    expect(toChat({ response_format: responseFormat }).responseFormat).toEqual(expected);
  });
});

describe("message normalisation (through toChatGenerateRequest)", () => {
  const messagesOf = (messages: unknown[]) => {
    const request = toChat({ messages });
    return request.input.kind === "chat" ? request.input.messages : [];
  };

  it("merges system and developer messages, wherever they are, into one leading system message", () => {
    expect(
      messagesOf([
        user("Hi"),
        { role: "system", content: "Be brief." },
        { role: "assistant", content: "Hello" },
        { role: "developer", content: "Be kind." },
      ]),
    ).toEqual([
      { role: "system", text: "Be brief.\n\nBe kind." },
      { role: "user", text: "Hi" },
      { role: "assistant", text: "Hello", toolCalls: undefined },
    ]);
  });

  it("joins text parts in order and reads null content as empty", () => {
    expect(
      messagesOf([
        user([
          { type: "text", text: "Hello, " },
          { type: "text", text: "world" },
        ]),
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "42" },
        { role: "assistant", content: [{ type: "refusal", refusal: "No." }] },
      ]),
    ).toEqual([
      { role: "user", text: "Hello, world" },
      { role: "assistant", text: "", toolCalls: [{ id: "call_1", name: "f", arguments: '{"a":1}' }] },
      { role: "tool", toolCallId: "call_1", text: "42" },
      { role: "assistant", text: "No.", toolCalls: undefined },
    ]);
  });

  it.each<[string, unknown[], string, string, string]>([
    [
      "an image part",
      [
        user([
          { type: "text", text: "What is this?" },
          { type: "image_url", image_url: { url: "data:," } },
        ]),
      ],
      "unsupported_parameter",
      "messages[0].content[1]",
      "type 'image_url'",
    ],
    [
      "a refusal part in a user message",
      [user("Hi"), user([{ type: "refusal", refusal: "x" }])],
      "unsupported_parameter",
      "messages[1].content[0]",
      "'refusal' part in a message with role 'user'",
    ],
    [
      "a tool message without tool_call_id",
      [user("Hi"), { role: "tool", content: "42" }],
      "invalid_request",
      "messages[1].tool_call_id",
      "role 'tool'",
    ],
    [
      "a message with role function",
      [user("Hi"), { role: "function", name: "f", content: "42" }],
      "unsupported_parameter",
      "messages[1].role",
      "'function'",
    ],
  ])("refuses %s, naming it and what it is in the message", (_name, messages, code, param, what) => {
    const error = errorOf(() => messagesOf(messages));
    expectClientError(error, code, param);
    expect(error.message).toContain(what);
  });
});

describe("completion requests", () => {
  it("maps a prompt given as a string or a one-element list", () => {
    const expected = { input: { kind: "completion", prompt: "Once" }, maxTokens: 5, sampling: { temperature: 0 }, stop: ["."] };
    expect(toCompletion({ max_tokens: 5, temperature: 0, stop: "." })).toEqual(expected);
    expect(toCompletion({ prompt: ["Once"], max_tokens: 5, temperature: 0, stop: ["."] })).toEqual(expected);
  });

  it.each([
    ["no prompt", { model: "m" }, "prompt"],
    ["two prompts", { model: "m", prompt: ["a", "b"] }, "prompt"],
    ["no model", { prompt: "a" }, "model"],
    ["logprobs above 5", { model: "m", prompt: "a", logprobs: 6 }, "logprobs"],
    ["best_of 0", { model: "m", prompt: "a", best_of: 0 }, "best_of"],
  ])("refuses %s at parsing", (_name, body, param) => {
    expectClientError(
      errorOf(() => parseCompletionRequest(body)),
      "invalid_request",
      param,
    );
  });

  it.each([
    ["echo", { echo: true }],
    ["suffix", { suffix: "end" }],
    ["best_of", { best_of: 2 }],
    ["logprobs", { logprobs: 0 }],
  ])("refuses %s as unsupported, naming it in param and message", (param, fields) => {
    expectClientError(
      errorOf(() => toCompletion(fields)),
      "unsupported_parameter",
      param,
    );
  });

  it("accepts the unsupported options at their neutral values", () => {
    expect(toCompletion({ echo: false, suffix: "", best_of: 1, logprobs: null }).input).toEqual({ kind: "completion", prompt: "Once" });
  });
});

describe("parseKeepAliveMs (Ollama's keep_alive)", () => {
  it.each<[unknown, number | undefined]>([
    [undefined, undefined],
    [null, undefined],
    [0, 0],
    [300, 300_000],
    [1.5, 1500],
    [-1, -1],
    [-0.5, -1],
    ["300", 300_000],
    [" 30 ", 30_000],
    ["-1", -1],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["90s", 90_000],
    ["250ms", 250],
    ["-5m", -1],
  ])("%j → %j ms", (value, ms) => {
    expect(parseKeepAliveMs(value as number | string | undefined)).toBe(ms);
  });

  it.each(["soon", "5 minutes", "m5", ""])("refuses %j, naming keep_alive", (value) => {
    expectClientError(
      errorOf(() => parseKeepAliveMs(value)),
      "invalid_request",
      "keep_alive",
    );
  });
});

describe("logit_bias, content-less messages and the options only an upstream can honour", () => {
  it("maps logit_bias to [token, bias] pairs on chat and completions; an empty map is none", () => {
    expect(toChat({ logit_bias: { "50": 100, "7": -100, "3": 0.5 } }).logitBias).toEqual([
      [3, 0.5],
      [7, -100],
      [50, 100],
    ]);
    expect(toCompletion({ logit_bias: { "9": -5 } }).logitBias).toEqual([[9, -5]]);
    expect(toChat({ logit_bias: {} }).logitBias).toBeUndefined();
    expect(toChat({ logit_bias: null }).logitBias).toBeUndefined();
  });

  it("refuses more than 2,048 logit_bias entries", () => {
    const bias = Object.fromEntries(Array.from({ length: 2049 }, (_, token) => [String(token), 1]));
    expectClientError(
      errorOf(() => parseChatCompletionRequest(chat({ logit_bias: bias }))),
      "invalid_request",
      "logit_bias",
    );
  });

  it.each(["user", "system", "developer", "tool"])("refuses a %s message without content, or with content null", (role) => {
    const message = role === "tool" ? { role, tool_call_id: "call_1" } : { role };
    for (const content of [undefined, null]) {
      const messages = [user("Hi"), { ...message, ...(content === undefined ? {} : { content }) }];
      expectClientError(
        errorOf(() => toChat({ messages })),
        "invalid_request",
        "messages[1].content",
      );
    }
  });

  it.each<[string, Record<string, unknown>]>([
    ["functions", { functions: [{ name: "get_weather" }] }],
    ["function_call", { function_call: { name: "get_weather" } }],
    ["modalities", { modalities: ["text", "audio"] }],
    ["audio", { audio: { voice: "alloy", format: "wav" } }],
    ["web_search_options", { web_search_options: {} }],
  ])("names %s as an option a local engine cannot honour", (param, fields) => {
    expect(chatOptionRefusedLocally(chat(fields))?.param).toBe(param);
  });

  it("lets the options through at their neutral values, and the documented no-ops", () => {
    const neutral = {
      modalities: ["text"],
      store: true,
      prediction: { type: "content", content: "x" },
      metadata: { a: "b" },
      service_tier: "auto",
      verbosity: "low",
      prompt_cache_key: "k",
      safety_identifier: "s",
      audio: null,
    };
    expect(chatOptionRefusedLocally(chat(neutral))).toBeUndefined();
  });
});
