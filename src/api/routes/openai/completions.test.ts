import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp } from "../../../../test/helpers/fake-app.js";
import { createFakeBackend, type FakeBackendOptions, textParts } from "../../../../test/helpers/fake-backend.js";
import { parseSseStrict } from "../../../../test/helpers/sse.js";

// `POST /v1/completions` (legacy text completion) through `app.request()` on a fake backend.

const nowMs = 1_750_000_000_999;
const prompt = "Once upon a time";

let app: FakeApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(options: FakeBackendOptions = {}) {
  const backend = createFakeBackend({ script: ", there was a fox.", ...options });
  app = await createFakeApp([backend], { deps: { now: () => nowMs } });
  return { backend, app };
}

async function events(response: Response): Promise<any[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return parseSseStrict(await response.text()).data as any[];
}

describe("POST /v1/completions", () => {
  it("answers a text_completion with the text, the finish reason and the usage", async () => {
    const { app, backend } = await start();
    const response = await app.post("/v1/completions", { model: "fake", prompt, max_tokens: 16, stop: ["\n"] });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      id: expect.stringMatching(/^cmpl-/),
      object: "text_completion",
      created: Math.floor(nowMs / 1000),
      model: "fake",
      system_fingerprint: expect.any(String),
      choices: [{ index: 0, text: ", there was a fox.", logprobs: null, finish_reason: "stop" }],
      usage: {
        prompt_tokens: 4,
        completion_tokens: 5,
        total_tokens: 9,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(backend.requests[0]).toMatchObject({ input: { kind: "completion", prompt }, maxTokens: 16, stop: ["\n"] });
  });

  it("accepts the prompt as a one-element list", async () => {
    const { app, backend } = await start();
    expect((await app.post("/v1/completions", { model: "fake", prompt: [prompt] })).status).toBe(200);
    expect(backend.requests[0]?.input).toEqual({ kind: "completion", prompt });
  });

  it("answers finish_reason length at max_tokens, and n choices with the prompt counted once", async () => {
    const { app, backend } = await start({ script: (_request, call) => textParts(`a b c ${call}`) });
    const body = (await (await app.post("/v1/completions", { model: "fake", prompt, max_tokens: 2, n: 2, seed: 1 })).json()) as any;
    expect(body.choices).toEqual([
      { index: 0, text: "a b ", logprobs: null, finish_reason: "length" },
      { index: 1, text: "a b ", logprobs: null, finish_reason: "length" },
    ]);
    expect(body.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    expect(backend.requests.map((request) => request.sampling.seed)).toEqual([1, 2]);
  });

  it("drops thoughts and tool calls, which completions cannot carry", async () => {
    const { app } = await start({
      script: [
        { type: "reasoning-delta", text: "hmm" },
        { type: "tool-call", toolCall: { id: "call_1", name: "f", arguments: "{}" } },
        ...textParts("text"),
      ],
    });
    const data = await events(await app.post("/v1/completions", { model: "fake", prompt, stream: true }));
    expect(data.slice(0, -1).map((chunk) => chunk.choices[0].text)).toEqual(["text", ""]);
  });

  it("streams text_completion chunks, a finish chunk and [DONE], with no usage field unless asked", async () => {
    const { app } = await start();
    const data = await events(await app.post("/v1/completions", { model: "fake", prompt, stream: true }));
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ id: chunks[0].id, object: "text_completion", created: Math.floor(nowMs / 1000), model: "fake" });
      expect(chunk).not.toHaveProperty("usage");
    }
    expect(chunks.map((chunk) => chunk.choices)).toEqual([
      [{ index: 0, text: ", ", logprobs: null, finish_reason: null }],
      [{ index: 0, text: "there ", logprobs: null, finish_reason: null }],
      [{ index: 0, text: "was ", logprobs: null, finish_reason: null }],
      [{ index: 0, text: "a ", logprobs: null, finish_reason: null }],
      [{ index: 0, text: "fox.", logprobs: null, finish_reason: null }],
      [{ index: 0, text: "", logprobs: null, finish_reason: "stop" }],
    ]);
  });

  it("with stream_options.include_usage: usage null on every chunk, then one usage chunk with no choices before [DONE]", async () => {
    const { app } = await start({ script: "one two" });
    const data = await events(
      await app.post("/v1/completions", { model: "fake", prompt, stream: true, n: 2, stream_options: { include_usage: true } }),
    );
    expect(data.at(-1)).toBe("[DONE]");
    expect(data.at(-2)).toMatchObject({
      object: "text_completion",
      choices: [],
      usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 },
    });
    for (const chunk of data.slice(0, -2)) expect(chunk.usage).toBeNull();
    expect(data.slice(0, -2).map((chunk) => [chunk.choices[0].index, chunk.choices[0].text])).toEqual([
      [0, "one "],
      [0, "two"],
      [0, ""],
      [1, "one "],
      [1, "two"],
      [1, ""],
    ]);
  });

  it.each([
    ["echo", { echo: true }],
    ["suffix", { suffix: "The end." }],
    ["best_of", { best_of: 3 }],
    ["logprobs", { logprobs: 2 }],
  ])("refuses %s with 400 unsupported_parameter before any byte, even when streamed", async (param, fields) => {
    const { app, backend } = await start();
    const response = await app.post("/v1/completions", { model: "fake", prompt, stream: true, ...fields });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await response.json()) as any).error).toMatchObject({ type: "invalid_request_error", code: "unsupported_parameter", param });
    expect(backend.requests).toHaveLength(0);
  });

  it("refuses a prompt that does not fit with 400 context_length_exceeded naming the prompt", async () => {
    const { app, backend } = await start({ contextTokens: 8 });
    const response = await app.post("/v1/completions", { model: "fake", prompt, max_tokens: 10, stream: true });
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error).toMatchObject({
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "prompt",
    });
    expect(backend.stats().sequencesInUse).toBe(0);
  });

  it("refuses an unreadable keep_alive with 400 naming it", async () => {
    const { app } = await start();
    const response = await app.post("/v1/completions", { model: "fake", prompt, keep_alive: "a while" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error).toMatchObject({ code: "invalid_request", param: "keep_alive" });
  });
});
