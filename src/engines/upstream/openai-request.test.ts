import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GenerateRequest } from "../../spec/index.js";
import { estimatePromptTokens, promptTokenBound, toUpstreamRequest } from "./openai-request.js";
import { asksWhole } from "./upstream-whole.js";

const chat = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
  input: {
    kind: "chat",
    messages: [
      { role: "system", text: "Be brief." },
      { role: "user", text: "Weather in Paris?" },
      { role: "assistant", text: "", toolCalls: [{ id: "call_1", name: "weather", arguments: '{"city":"Paris"}' }] },
      { role: "tool", toolCallId: "call_1", text: "sunny" },
    ],
  },
  sampling: {},
  stop: [],
  ...overrides,
});

describe("toUpstreamRequest", () => {
  it("translates a chat request with tools, a schema, sampling, stops and thinking into OpenAI's Chat Completions request", () => {
    const { path, body } = toUpstreamRequest(
      chat({
        maxTokens: 50,
        stop: ["\n\n"],
        sampling: { temperature: 0.2, topP: 0.9, topK: 20, minP: 0.05, seed: 7, presencePenalty: 1, frequencyPenalty: -1 },
        tools: {
          definitions: [
            { name: "weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
          ],
          choice: { type: "function", name: "weather" },
          parallel: false,
        },
        responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
        thinking: { enabled: false },
        logprobs: { top: 2 },
      }),
      { model: "qwen3", kind: "vllm" },
    );
    expect(path).toBe("/v1/chat/completions");
    expect(body).toEqual({
      model: "qwen3",
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      top_p: 0.9,
      top_k: 20,
      min_p: 0.05,
      seed: 7,
      presence_penalty: 1,
      frequency_penalty: -1,
      max_tokens: 50,
      stop: ["\n\n"],
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
      tools: [
        {
          type: "function",
          function: {
            name: "weather",
            description: "Weather of a city",
            parameters: { type: "object", properties: { city: { type: "string" } } },
          },
        },
      ],
      tool_choice: { type: "function", function: { name: "weather" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" }, strict: true } },
      chat_template_kwargs: { enable_thinking: false },
      logprobs: true,
      top_logprobs: 2,
    });
  });

  it("speaks each kind's dialect: DashScope's enable_thinking, OpenAI's max_completion_tokens and no top_k", () => {
    const request = chat({ maxTokens: 10, sampling: { topK: 5 }, thinking: { enabled: true, budgetTokens: 100 } });
    const dashscope = toUpstreamRequest(request, { model: "qwen-plus", kind: "dashscope" }).body;
    expect(dashscope).toMatchObject({ enable_thinking: true, thinking_budget: 100, max_tokens: 10 });
    expect(dashscope).not.toHaveProperty("top_k");
    expect(dashscope).not.toHaveProperty("chat_template_kwargs");
    const openai = toUpstreamRequest(request, { model: "gpt-4.1-mini", kind: "openai" }).body;
    expect(openai).toMatchObject({ max_completion_tokens: 10 });
    expect(openai).not.toHaveProperty("max_tokens");
    expect(openai).not.toHaveProperty("top_k");
    expect(openai).not.toHaveProperty("enable_thinking");
    expect(openai).not.toHaveProperty("chat_template_kwargs");
    // The model's default when the request does not say: nothing is sent.
    expect(toUpstreamRequest(chat(), { model: "m", kind: "vllm" }).body).not.toHaveProperty("chat_template_kwargs");
  });

  it("sends logit_bias as OpenAI's map of token-id strings", () => {
    const { body } = toUpstreamRequest(
      chat({
        logitBias: [
          [50, 100],
          [7, -100],
        ],
      }),
      { model: "m", kind: "openai" },
    );
    expect(body.logit_bias).toEqual({ "50": 100, "7": -100 });
  });

  it("adds the client's fields moestro does not read, where moestro sets none of that name", () => {
    const { body } = toUpstreamRequest(chat({ maxTokens: 4, passthrough: { repetition_penalty: 1.1, user: "u", max_tokens: 99 } }), {
      model: "m",
      kind: "vllm",
    });
    expect(body).toMatchObject({ repetition_penalty: 1.1, user: "u", max_tokens: 4 });
  });

  it("asks for a whole answer, without streaming, when the request's answer is collected whole", () => {
    const { body } = toUpstreamRequest(chat({ whole: true, maxTokens: 5 }), { model: "m", kind: "vllm" });
    expect(body).not.toHaveProperty("stream");
    expect(body).not.toHaveProperty("stream_options");
    expect(body).toMatchObject({ model: "m", max_tokens: 5 });
    expect(toUpstreamRequest(chat({ whole: false }), { model: "m", kind: "vllm" }).body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("asks every kind but llama-server for a whole answer when the request's answer is collected whole", () => {
    expect(asksWhole({ kind: "vllm" }, { whole: true })).toBe(true);
    expect(asksWhole({ kind: "openai-compatible" }, { whole: true })).toBe(true);
    expect(asksWhole({ kind: "llama-server" }, { whole: true })).toBe(false);
    expect(asksWhole({ kind: "vllm" }, { whole: false })).toBe(false);
    expect(asksWhole({ kind: "vllm" }, {})).toBe(false);
  });

  it("sends a raw prompt to /v1/completions", () => {
    const { path, body } = toUpstreamRequest(
      { input: { kind: "completion", prompt: "Once" }, sampling: {}, stop: [], maxTokens: 3 },
      { model: "m", kind: "llama-server" },
    );
    expect(path).toBe("/v1/completions");
    expect(body).toEqual({ model: "m", stream: true, stream_options: { include_usage: true }, max_tokens: 3, prompt: "Once" });
  });

  it("bounds the prompt's tokens by its bytes, and estimates them at a quarter of that", () => {
    const request = chat();
    const bound = promptTokenBound(request);
    const textBytes = "Be brief.".length + "Weather in Paris?".length + "sunny".length;
    expect(bound).toBeGreaterThan(textBytes);
    expect(estimatePromptTokens(request)).toBe(Math.ceil(bound / 4));
    expect(promptTokenBound({ input: { kind: "completion", prompt: "é" }, sampling: {}, stop: [] })).toBe(2 + 8);
  });

  it("is never below the UTF-8 bytes of the prompt's texts (a token holds at least one byte), and grows with each message", () => {
    const message = fc.record({ role: fc.constantFrom("system" as const, "user" as const), text: fc.string({ unit: "grapheme" }) });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.string({ unit: "grapheme" }), (messages, extra) => {
        const request = chat({ input: { kind: "chat", messages } });
        const bytes = messages.reduce((total, { text }) => total + Buffer.byteLength(text, "utf8"), 0);
        expect(promptTokenBound(request)).toBeGreaterThanOrEqual(bytes + 8 * messages.length);
        const longer = chat({ input: { kind: "chat", messages: [...messages, { role: "user", text: extra }] } });
        expect(promptTokenBound(longer)).toBe(promptTokenBound(request) + Buffer.byteLength(extra, "utf8") + 8);
        const completion = { input: { kind: "completion" as const, prompt: extra }, sampling: {}, stop: [] };
        expect(promptTokenBound(completion)).toBeGreaterThanOrEqual(Buffer.byteLength(extra, "utf8"));
      }),
    );
  });
});
