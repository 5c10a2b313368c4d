import type OpenAI from "openai";
import { APIError, BadRequestError, InternalServerError, NotFoundError } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp, waitFor } from "../helpers/fake-app.js";
import { createFakeBackend, endlessScript, type FakeBackendOptions, type FakePart, textParts } from "../helpers/fake-backend.js";

// Conformance: the official `openai` client, its `fetch` routed into `app.request()`, parses our
// responses, streams and usage, and maps our errors to its error classes by status. 401, 403 and 429 are covered with
// the same client in src/api/middleware/access-control.test.ts.

let app: FakeApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(options: FakeBackendOptions = {}, deps: Parameters<typeof createFakeApp>[1] = {}) {
  const backend = createFakeBackend({ id: "tiny", ...options });
  app = await createFakeApp([backend], deps);
  return { backend, app, client: app.client };
}

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "user", content: "Hello" }];
const leases = (target: FakeApp): number => target.models.listLoaded().reduce((total, model) => total + model.activeRequests, 0);

/** The error a promise rejects with (or an iteration throws). */
async function caught(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error, none was thrown");
}

describe("the official openai client on moestro's responses", () => {
  it("parses a chat completion and its usage", async () => {
    const { client } = await start({ script: "Hi there!" });
    const completion = await client.chat.completions.create({ model: "tiny", messages });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]?.message.content).toBe("Hi there!");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage).toMatchObject({ completion_tokens: 2, completion_tokens_details: { reasoning_tokens: 0 } });
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + 2);
  });

  it("iterates a chat stream to its end, with the usage chunk last", async () => {
    const { client } = await start({ script: "one two three" });
    const stream = await client.chat.completions.create({ model: "tiny", messages, stream: true, stream_options: { include_usage: true } });
    let text = "";
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe("one two three");
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: 3 });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it("accumulates streamed tool calls and thoughts with the stream helper", async () => {
    const script: FakePart[] = [
      { type: "reasoning-delta", text: "Need the weather." },
      ...textParts("Checking."),
      { type: "tool-call", toolCall: { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' } },
      { type: "tool-call", toolCall: { id: "call_2", name: "get_weather", arguments: '{"city":"Rome"}' } },
    ];
    const { client } = await start({ script });
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } },
    ];
    const runner = client.chat.completions.stream({ model: "tiny", messages, tools });
    let reasoning = "";
    runner.on("chunk", (chunk) => {
      reasoning += (chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? "";
    });
    const completion = await runner.finalChatCompletion();
    expect(reasoning).toBe("Need the weather.");
    expect(completion.choices[0]?.finish_reason).toBe("tool_calls");
    expect(completion.choices[0]?.message.content).toBe("Checking.");
    expect(completion.choices[0]?.message.tool_calls).toEqual([
      { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
      { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
    ]);
  });

  it("parses completions, streamed and not", async () => {
    const { client } = await start({ script: ", there was a fox." });
    const completion = await client.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 3 });
    expect(completion.choices[0]).toMatchObject({ text: ", there was ", finish_reason: "length" });
    expect(completion.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });

    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of await client.completions.create({
      model: "tiny",
      prompt: "Once",
      stream: true,
      stream_options: { include_usage: true },
    })) {
      text += chunk.choices[0]?.text ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(", there was a fox.");
    expect(usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 5 });
  });

  it("breaking out of a stream stops the generation and frees the sequence and the lease", async () => {
    const { client, backend, app } = await start({ script: () => endlessScript() });
    const stream = await client.chat.completions.create({ model: "tiny", messages, stream: true });
    let chunks = 0;
    for await (const _chunk of stream) if (++chunks === 3) break;
    await waitFor(() => backend.stats().activeGenerations === 0 && backend.stats().sequencesInUse === 0 && leases(app) === 0);
    await waitFor(() => app.events.length === 1);
    expect(app.events[0]).toMatchObject({ status: "aborted", stream: true });
  });
});

describe("the official openai client on moestro's errors", () => {
  it("404 model_not_found → NotFoundError with code and param", async () => {
    const { client } = await start();
    const error = await caught(() => client.chat.completions.create({ model: "nope", messages }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, code: "model_not_found", param: "model", type: "invalid_request_error" });
  });

  it("400 invalid_request → BadRequestError naming the param", async () => {
    const { client } = await start();
    const error = await caught(() => client.chat.completions.create({ model: "tiny", messages, temperature: 7 }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: "invalid_request", param: "temperature" });
  });

  it("400 context_length_exceeded → BadRequestError, on a stream too", async () => {
    const { client } = await start({ contextTokens: 8 });
    const error = await caught(() => client.chat.completions.create({ model: "tiny", messages, max_tokens: 50, stream: true }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: "context_length_exceeded", param: "messages" });
  });

  it("400 unsupported_parameter → BadRequestError", async () => {
    const { client } = await start();
    const error = await caught(() => client.completions.create({ model: "tiny", prompt: "x", echo: true }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: "unsupported_parameter", param: "echo" });
  });

  it("413 request_too_large → APIError with status 413", async () => {
    const { client } = await start({}, { deps: { bodyLimitBytes: 200 } });
    const error = await caught(() =>
      client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x".repeat(500) }] }),
    );
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 413, code: "request_too_large" });
  });

  it("503 server_busy → InternalServerError carrying Retry-After", async () => {
    const { client, app } = await start({ script: () => endlessScript(), parallelSequences: 1, maxQueuedRequests: 0 });
    const running = await client.chat.completions.create({ model: "tiny", messages, stream: true });
    const iterator = running[Symbol.asyncIterator]();
    await iterator.next();
    const error = await caught(() => client.chat.completions.create({ model: "tiny", messages }));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error).toMatchObject({ status: 503, code: "server_busy", type: "server_error" });
    expect((error as APIError).headers?.get("retry-after")).toBe("1");
    await iterator.return?.();
    await waitFor(() => leases(app) === 0);
  });

  it("500 internal_error → InternalServerError with a generic message", async () => {
    const { client } = await start({
      admit: () => {
        throw new TypeError("the engine's secret");
      },
    });
    const error = await caught(() => client.chat.completions.create({ model: "tiny", messages }));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error).toMatchObject({ status: 500, code: "internal_error" });
    expect((error as Error).message).not.toContain("secret");
  });

  it("an error event after the first chunk → APIError thrown from the iteration, with its code", async () => {
    const { client, backend, app } = await start({ script: "a b c d", failAfterParts: 2 });
    const stream = await client.chat.completions.create({ model: "tiny", messages, stream: true });
    const seen: string[] = [];
    const error = await caught(async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "");
    });
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ code: "internal_error", type: "server_error" });
    expect(seen.join("")).toBe("a b ");
    await waitFor(() => backend.stats().sequencesInUse === 0 && leases(app) === 0);
  });
});
