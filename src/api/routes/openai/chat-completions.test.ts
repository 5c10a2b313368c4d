import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp } from "../../../../test/helpers/fake-app.js";
import {
  createFakeBackend,
  type FakeBackendOptions,
  type FakePart,
  fakePromptTokens,
  textParts,
} from "../../../../test/helpers/fake-backend.js";
import { parseSseStrict } from "../../../../test/helpers/sse.js";
import type { TokenLogprob } from "../../../spec/index.js";

// `POST /v1/chat/completions` through `app.request()` on a fake backend: the wire shape of answers, thoughts, tool calls,
// logprobs and `n` choices, streamed and not. Stream mechanics (framing, aborts, failures) are in serving/respond.test.ts.

const nowMs = 1_750_000_000_123;
const messages = [{ role: "user", content: "Say hello" }];
const promptTokens = fakePromptTokens({ input: { kind: "chat", messages: [{ role: "user", text: "Say hello" }] }, sampling: {}, stop: [] });

let app: FakeApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(options: FakeBackendOptions = {}) {
  const backend = createFakeBackend(options);
  app = await createFakeApp([backend], { deps: { now: () => nowMs } });
  return { backend, app };
}

/** The `data:` payloads of a streamed response, `[DONE]` included. */
async function events(response: Response): Promise<any[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return parseSseStrict(await response.text()).data as any[];
}

const logprob = (token: string): TokenLogprob => ({
  token,
  logprob: -0.5,
  bytes: [...Buffer.from(token)],
  top: [{ token, logprob: -0.5, bytes: [...Buffer.from(token)] }],
});
const thought: FakePart[] = [
  { type: "reasoning-delta", text: "The user " },
  { type: "reasoning-delta", text: "wants hello." },
  ...textParts("Hello!"),
];
const weatherCall: FakePart = { type: "tool-call", toolCall: { id: "call_abc", name: "get_weather", arguments: '{"city":"Paris"}' } };
const tools = [
  { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } },
];

describe("POST /v1/chat/completions, not streamed", () => {
  it("answers a chat.completion with the text, the finish reason and the usage", async () => {
    const { app } = await start({ id: "tiny", script: "Hello from the fake model." });
    const response = await app.post("/v1/chat/completions", { model: "tiny", messages });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const body = (await response.json()) as any;
    expect(body).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: "chat.completion",
      created: Math.floor(nowMs / 1000),
      model: "tiny",
      system_fingerprint: expect.any(String),
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello from the fake model.", refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: 5,
        total_tokens: promptTokens + 5,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
  });

  it("tells the usage sinks which engine served the request, read from the model it held", async () => {
    const { app } = await start({ id: "tiny" });
    await app.post("/v1/chat/completions", { model: "tiny", messages });
    const worker = { pid: 7, binary: "llama-server", version: "version: 1 (x)", args: [], restarts: 0, startedAtMs: nowMs };
    const placement = { description: "all on the GPU", gpuLayers: 99, cpuMoeLayers: 0 };
    const served = await createFakeApp([createFakeBackend({ id: "big", engine: { kind: "llama-server", placement, worker } })]);
    await served.post("/v1/chat/completions", { model: "big", messages, stream: true }).then((response) => response.text());
    expect([app.events[0]?.engine, served.events[0]?.engine]).toEqual(["inproc", "llama-server"]);
    await served.close();
  });

  it("hands the backend the translated request", async () => {
    const { app, backend } = await start();
    await app.post("/v1/chat/completions", {
      model: "fake",
      messages: [{ role: "system", content: "Be brief." }, ...messages],
      max_tokens: 20,
      temperature: 0.2,
      stop: "END",
      enable_thinking: false,
    });
    expect(backend.requests).toHaveLength(1);
    expect(backend.requests[0]).toMatchObject({
      input: {
        kind: "chat",
        messages: [
          { role: "system", text: "Be brief." },
          { role: "user", text: "Say hello" },
        ],
      },
      maxTokens: 20,
      sampling: { temperature: 0.2 },
      stop: ["END"],
      thinking: { enabled: false },
    });
  });

  it("returns the thought apart from the answer, as reasoning_content and reasoning", async () => {
    const { app } = await start({ script: thought });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages })).json()) as any;
    expect(body.choices[0].message).toEqual({
      role: "assistant",
      content: "Hello!",
      refusal: null,
      reasoning_content: "The user wants hello.",
      reasoning: "The user wants hello.",
    });
    expect(body.usage.completion_tokens_details).toEqual({ reasoning_tokens: 2 });
    expect(body.usage.completion_tokens).toBe(3);
  });

  it("returns tool calls with null content and finish_reason tool_calls", async () => {
    const { app } = await start({ script: [weatherCall] });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages, tools })).json()) as any;
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [{ id: "call_abc", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    });
  });

  it("keeps the text said before a tool call as content", async () => {
    const { app } = await start({ script: [...textParts("Let me check."), weatherCall] });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages, tools })).json()) as any;
    expect(body.choices[0].message.content).toBe("Let me check.");
    expect(body.choices[0].message.tool_calls).toHaveLength(1);
  });

  it("answers finish_reason length when max_tokens is reached", async () => {
    const { app } = await start({ script: "one two three four five" });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages, max_tokens: 2 })).json()) as any;
    expect(body.choices[0]).toMatchObject({ message: { content: "one two " }, finish_reason: "length" });
    expect(body.usage.completion_tokens).toBe(2);
  });

  it("returns logprobs.content when asked", async () => {
    const { app } = await start({
      script: [
        { type: "text-delta", text: "Hi", logprobs: [logprob("Hi")] },
        { type: "text-delta", text: "!", logprobs: [logprob("!")] },
      ],
    });
    const body = (await (
      await app.post("/v1/chat/completions", { model: "fake", messages, logprobs: true, top_logprobs: 1 })
    ).json()) as any;
    expect(body.choices[0].logprobs).toEqual({
      content: [
        { token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: "Hi", logprob: -0.5, bytes: [72, 105] }] },
        { token: "!", logprob: -0.5, bytes: [33], top_logprobs: [{ token: "!", logprob: -0.5, bytes: [33] }] },
      ],
      refusal: null,
    });
  });

  it("returns an empty logprobs.content when asked and no token came with one", async () => {
    const { app } = await start({ script: "Hi" });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages, logprobs: true })).json()) as any;
    expect(body.choices[0].logprobs).toEqual({ content: [], refusal: null });
  });

  it("n = 3: three choices, seeds seed, seed+1, seed+2, the prompt counted once", async () => {
    const { app, backend } = await start({ script: (_request, call) => textParts(`answer ${call}`) });
    const body = (await (await app.post("/v1/chat/completions", { model: "fake", messages, n: 3, seed: 7 })).json()) as any;
    expect(body.choices.map((choice: any) => [choice.index, choice.message.content])).toEqual([
      [0, "answer 0"],
      [1, "answer 1"],
      [2, "answer 2"],
    ]);
    expect(backend.requests.map((request) => request.sampling.seed)).toEqual([7, 8, 9]);
    expect(body.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: 6, total_tokens: promptTokens + 6 });
  });

  it("n = 2 without a seed leaves every choice unseeded", async () => {
    const { app, backend } = await start();
    await app.post("/v1/chat/completions", { model: "fake", messages, n: 2 });
    expect(backend.requests.map((request) => request.sampling.seed)).toEqual([undefined, undefined]);
  });
});

describe("POST /v1/chat/completions, streamed", () => {
  it("opens each choice with a role chunk, sends content deltas, a finish chunk, then [DONE]", async () => {
    const { app } = await start({ script: "Hello there" });
    const data = await events(await app.post("/v1/chat/completions", { model: "fake", messages, stream: true }));
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ id: chunks[0].id, object: "chat.completion.chunk", created: Math.floor(nowMs / 1000), model: "fake" });
      expect(chunk).not.toHaveProperty("usage");
    }
    expect(chunks[0].id).toMatch(/^chatcmpl-/);
    expect(chunks.map((chunk) => chunk.choices[0])).toEqual([
      { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: "Hello " }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: "there" }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: "stop" },
    ]);
  });

  it("with stream_options.include_usage: usage null on every chunk, then a usage chunk with no choices before [DONE]", async () => {
    const { app } = await start({ script: "Hello there" });
    const data = await events(
      await app.post("/v1/chat/completions", { model: "fake", messages, stream: true, stream_options: { include_usage: true } }),
    );
    expect(data.at(-1)).toBe("[DONE]");
    const usageChunk = data.at(-2);
    expect(usageChunk).toMatchObject({ object: "chat.completion.chunk", choices: [] });
    expect(usageChunk.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: 2,
      total_tokens: promptTokens + 2,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    for (const chunk of data.slice(0, -2)) expect(chunk.usage).toBeNull();
  });

  it("streams thoughts as reasoning_content and reasoning deltas, before the answer", async () => {
    const { app } = await start({ script: thought });
    const data = await events(await app.post("/v1/chat/completions", { model: "fake", messages, stream: true }));
    expect(data.slice(1, -2).map((chunk) => chunk.choices[0].delta)).toEqual([
      { reasoning_content: "The user ", reasoning: "The user " },
      { reasoning_content: "wants hello.", reasoning: "wants hello." },
      { content: "Hello!" },
    ]);
  });

  it("streams each tool call as a header delta (id, type, name) and an arguments delta, indexed per call", async () => {
    const second: FakePart = { type: "tool-call", toolCall: { id: "call_def", name: "get_weather", arguments: '{"city":"Rome"}' } };
    const { app } = await start({ script: [weatherCall, second] });
    const data = await events(await app.post("/v1/chat/completions", { model: "fake", messages, tools, stream: true }));
    expect(data.slice(1, -1).map((chunk) => chunk.choices[0])).toEqual([
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, id: "call_abc", type: "function", function: { name: "get_weather", arguments: "" } }] },
        logprobs: null,
        finish_reason: null,
      },
      { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] }, logprobs: null, finish_reason: null },
      {
        index: 0,
        delta: { tool_calls: [{ index: 1, id: "call_def", type: "function", function: { name: "get_weather", arguments: "" } }] },
        logprobs: null,
        finish_reason: null,
      },
      { index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: "tool_calls" },
    ]);
  });

  it("streams logprobs on the content chunk they belong to", async () => {
    const { app } = await start({ script: [{ type: "text-delta", text: "Hi", logprobs: [logprob("Hi")] }] });
    const data = await events(await app.post("/v1/chat/completions", { model: "fake", messages, logprobs: true, stream: true }));
    expect(data[1].choices[0].logprobs).toEqual({
      content: [{ token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: "Hi", logprob: -0.5, bytes: [72, 105] }] }],
      refusal: null,
    });
  });

  it("n = 2: each choice opens with its role chunk, one [DONE] at the end, one usage for both", async () => {
    const { app } = await start({ script: (_request, call) => textParts(`answer ${call}`) });
    const data = await events(
      await app.post("/v1/chat/completions", { model: "fake", messages, n: 2, stream: true, stream_options: { include_usage: true } }),
    );
    expect(data.filter((item) => item === "[DONE]")).toHaveLength(1);
    const content = (index: number) =>
      data
        .filter((chunk) => chunk !== "[DONE]" && chunk.choices[0]?.index === index)
        .map((chunk) => chunk.choices[0].delta.content ?? "")
        .join("");
    expect([content(0), content(1)]).toEqual(["answer 0", "answer 1"]);
    const roles = data.filter((chunk) => chunk !== "[DONE]" && chunk.choices[0]?.delta.role === "assistant");
    expect(roles.map((chunk) => chunk.choices[0].index)).toEqual([0, 1]);
    const finishes = data.filter((chunk) => chunk !== "[DONE]" && chunk.choices[0]?.finish_reason);
    expect(finishes.map((chunk) => [chunk.choices[0].index, chunk.choices[0].finish_reason])).toEqual([
      [0, "stop"],
      [1, "stop"],
    ]);
    expect(data.at(-2).usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: 4 });
  });
});

describe("POST /v1/chat/completions: errors before the first byte are JSON with the right status, streamed or not", () => {
  const leases = (target: FakeApp): number => target.models.listLoaded().reduce((total, model) => total + model.activeRequests, 0);

  async function expectError(response: Response, status: number, error: { code: string; type: string; param: string | null }) {
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await response.json()) as any;
    expect(body.error).toMatchObject(error);
    expect(typeof body.error.message).toBe("string");
    return body.error as { message: string };
  }

  it.each([false, true])("404 model_not_found for an unknown model (stream %s)", async (stream) => {
    const { app } = await start({ id: "tiny" });
    const error = await expectError(await app.post("/v1/chat/completions", { model: "huge", messages, stream }), 404, {
      code: "model_not_found",
      type: "invalid_request_error",
      param: "model",
    });
    expect(error.message).toContain("huge");
  });

  it.each([false, true])("400 context_length_exceeded when the prompt and max_tokens do not fit (stream %s)", async (stream) => {
    const { app, backend } = await start({ contextTokens: 16 });
    await expectError(await app.post("/v1/chat/completions", { model: "fake", messages, max_tokens: 100, stream }), 400, {
      code: "context_length_exceeded",
      type: "invalid_request_error",
      param: "messages",
    });
    expect(backend.stats().sequencesInUse).toBe(0);
    expect(leases(app)).toBe(0);
  });

  it.each([false, true])("503 server_busy with Retry-After when the wait queue is full (stream %s)", async (stream) => {
    const { app, backend } = await start({
      parallelSequences: 1,
      maxQueuedRequests: 0,
      script: async function* () {
        for (;;) yield { type: "text-delta", text: "x" };
      },
    });
    const controller = new AbortController();
    const running = app.post(
      "/v1/chat/completions",
      { model: "fake", messages, stream: true },
      { signal: controller.signal, headers: { "content-type": "application/json" } },
    );
    const runningBody = (await running).body!;
    expect(backend.stats().sequencesInUse).toBe(1);
    const refused = await app.post("/v1/chat/completions", { model: "fake", messages, stream });
    expect(refused.headers.get("retry-after")).toBe("1");
    await expectError(refused, 503, { code: "server_busy", type: "server_error", param: null });
    expect(leases(app)).toBe(1);
    controller.abort();
    await runningBody.cancel().catch(() => undefined);
  });

  it.each([false, true])("500 internal_error with a generic message for an unexpected failure (stream %s)", async (stream) => {
    const { app } = await start({
      admit: () => {
        throw new Error("secret detail from the engine");
      },
    });
    const response = await app.post(
      "/v1/chat/completions",
      { model: "fake", messages, stream },
      { headers: { "content-type": "application/json", "x-request-id": "req-500" } },
    );
    const error = await expectError(response, 500, { code: "internal_error", type: "server_error", param: null });
    expect(error.message).toContain("req-500");
    expect(error.message).not.toContain("secret");
    expect(leases(app)).toBe(0);
  });

  it.each<[string, string | Record<string, unknown>, string, string | null]>([
    ["a body that is not JSON", "{not json", "invalid_json", null],
    ["a missing model", { messages }, "invalid_request", "model"],
    ["temperature out of range", { model: "fake", messages, temperature: 9 }, "invalid_request", "temperature"],
    ["tool_choice without tools", { model: "fake", messages, tool_choice: "required" }, "invalid_request", "tool_choice"],
    [
      "an image content part",
      { model: "fake", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
      "unsupported_parameter",
      "messages[0].content[0]",
    ],
  ])("400 for %s, naming the field", async (_name, body, code, param) => {
    const { app, backend } = await start();
    const response =
      typeof body === "string"
        ? await app.fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body })
        : await app.post("/v1/chat/completions", { stream: true, ...body });
    const error = await expectError(response, 400, { code, type: "invalid_request_error", param });
    if (param !== null && code === "invalid_request") expect(error.message).toContain(param);
    expect(backend.requests).toHaveLength(0);
  });
});
