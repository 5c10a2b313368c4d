import { describe, expect, it } from "vitest";
import { ApiError, CompletionApiError, parseErrorBody } from "./api-error.js";
import { streamChatCompletion } from "./chat-stream.js";
import { streamCompletion } from "./completion-stream.js";

/** A `fetch` that answers every request with `body` (SSE events when given an array), `status` and an `x-request-id`. */
function answering(body: string | string[], status = 200): typeof fetch {
  const text = Array.isArray(body) ? body.map((data) => `data: ${data}\n\n`).join("") : body;
  return async () => new Response(text, { status, headers: { "x-request-id": "req_1" } });
}

const chat = (fetchFn: typeof fetch) =>
  streamChatCompletion({ baseUrl: "http://127.0.0.1:1", body: { model: "m", messages: [] }, fetch: fetchFn });

async function collect<T>(parts: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const part of parts) all.push(part);
  return all;
}

describe("ApiError, the one error class of the clients", () => {
  it("reads an OpenAI error body leniently: a numeric code as a string, other types left out", () => {
    expect(parseErrorBody('{"error":{"message":"m","code":429,"type":"rate_limit_error","param":null}}')).toEqual({
      message: "m",
      code: "429",
      type: "rate_limit_error",
      param: undefined,
    });
    expect(parseErrorBody("<html>")).toBeUndefined();
    expect(parseErrorBody('{"error":"text"}')).toBeUndefined();
  });

  it("carries status, code, type, param and the request id of a failed streaming request", async () => {
    const body = '{"error":{"message":"bad temperature","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}';
    const error = await collect(chat(answering(body, 400))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CompletionApiError);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      name: "CompletionApiError",
      message: "bad temperature",
      status: 400,
      code: "invalid_value",
      type: "invalid_request_error",
      param: "temperature",
      requestId: "req_1",
    });
    await expect(collect(chat(answering("upstream down", 502)))).rejects.toMatchObject({ status: 502, code: "http_502" });
    await expect(collect(chat(answering(['{"error":{"message":"boom","type":"server_error"}}'])))).rejects.toMatchObject({
      status: 200,
      code: "server_error",
      requestId: "req_1",
    });
  });

  it("says connection_error with status 0 when the server cannot be reached", async () => {
    const refusing: typeof fetch = async () => {
      throw new TypeError("fetch failed");
    };
    await expect(collect(chat(refusing))).rejects.toMatchObject({ status: 0, code: "connection_error", requestId: null });
  });

  it("says connection_error with the response's status and request id when the stream breaks after it began", async () => {
    const breaking: typeof fetch = async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'));
          controller.error(new TypeError("terminated"));
        },
      });
      return new Response(body, { status: 200, headers: { "x-request-id": "req_1" } });
    };
    const error = await collect(chat(breaking)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CompletionApiError);
    expect(error).toMatchObject({ status: 200, code: "connection_error", requestId: "req_1" });
    expect((error as Error).message).toMatch(/^The stream from http:\/\/127\.0\.0\.1:1\/v1\/chat\/completions broke: terminated$/);
  });
});

describe("streamChatCompletion on streamCompletion", () => {
  it("passes reasoning, text, tool call pieces, finish and usage on, without timestamps", async () => {
    const parts = await collect(
      chat(
        answering([
          '{"choices":[{"index":0,"delta":{"reasoning_content":"hm","content":"Hi"}}]}',
          '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{"}}]}}]}',
          '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]},"finish_reason":"tool_calls"}]}',
          '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}',
          "[DONE]",
        ]),
      ),
    );
    expect(parts).toEqual([
      { type: "reasoning-delta", text: "hm" },
      { type: "text-delta", text: "Hi" },
      { type: "tool-call-delta", index: 0, id: "call_1", name: "f", argumentsDelta: "{" },
      { type: "tool-call-delta", index: 0, id: undefined, name: undefined, argumentsDelta: "}" },
      { type: "finish", finishReason: "tool_calls" },
      { type: "usage", promptTokens: 3, completionTokens: 4, reasoningTokens: undefined, cachedPromptTokens: undefined },
    ]);
  });

  it("raises incomplete_stream when the stream ends with neither [DONE] nor a finish_reason", async () => {
    const parts = streamCompletion({
      baseUrl: "http://127.0.0.1:1/v1",
      endpoint: "completions",
      body: { model: "m", prompt: "x" },
      fetch: answering(['{"choices":[{"index":0,"text":"a"}]}']),
    });
    await expect(collect(parts)).rejects.toMatchObject({ code: "incomplete_stream", status: 200 });
  });
});
