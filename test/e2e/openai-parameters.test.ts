import Anthropic from "@anthropic-ai/sdk";
import { Ollama } from "ollama";
import OpenAI, { type APIError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { answerAsAsked, chunkEvent, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

/** The error an SDK call rejects with; fails the test when it resolves. */
async function rejectionOf<Error>(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

// stories260K's tokens after the prompt "Once" (tokenized with node-llama-cpp): greedy decoding writes 407 ("upon")
// first, then " a time, there".
const upon = "407";
const onceGreedy = " upon a time, there";

const weatherTool: OpenAI.ChatCompletionTool = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

/**
 * OpenAI's request parameters that moestro promises never to drop silently (docs/api.md, "Request options"), the
 * context window in each dialect's words, and a tool call cut by max_tokens, through the official clients.
 */
describe.skipIf(!hasTestModels).each(testEngines)("OpenAI parameters never dropped silently (%s engine)", (engine) => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("tiny-qwen3moe.gguf") }],
        // A small window, so that a num_predict capped at it is generated quickly.
        engine: { contextTokens: 512 },
      },
      { engine },
    );
  });
  afterAll(async () => {
    await test?.close();
  });

  const once = (fields: Partial<OpenAI.CompletionCreateParamsNonStreaming> = {}) =>
    test.client.completions.create({ model: "stories260K", prompt: "Once", max_tokens: 5, temperature: 0, ...fields });

  it("logit_bias 100 forces a token and -100 bans it, on completions and chat; 0 changes nothing", async () => {
    expect((await once()).choices[0]!.text).toBe(onceGreedy);
    expect((await once({ logit_bias: { [upon]: 100 } })).choices[0]!.text).toBe(" upon upon upon upon upon");
    const banned = (await once({ logit_bias: { [upon]: -100 } })).choices[0]!.text;
    expect(banned).not.toContain("upon");
    expect((await once({ logit_bias: { [upon]: 0 } })).choices[0]!.text).toBe(onceGreedy);
    // On chat, a forced token fills the (thinking) output of tiny-qwen3moe: every token the same.
    const chat = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
      temperature: 0,
      logit_bias: { "50": 100 },
    });
    const message = chat.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    const output = message.reasoning_content ?? message.content;
    expect(output).toMatch(/^(.+)\1{3}$/);
  });

  it.each<[string, unknown, string]>([
    ["a key that is no token id", { abc: 1 }, "invalid_request"],
    ["a bias that is no number", { [upon]: "x" }, "invalid_request"],
    ["a bias above 100", { [upon]: 101 }, "invalid_request"],
    ["a token outside the vocabulary", { "100000": 5 }, "invalid_request"],
    ["an end-of-generation token", { "2": -5 }, "unsupported_parameter"],
  ])("refuses logit_bias with %s: 400 naming logit_bias", async (_name, logitBias, code) => {
    const error = await rejectionOf<APIError>(once({ logit_bias: logitBias as Record<string, number> }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect({ code: error.code, param: error.param }).toEqual({ code, param: "logit_bias" });
  });

  it.each<[string, Record<string, unknown>]>([
    ["functions", { functions: [{ name: "get_weather", parameters: { type: "object" } }], function_call: { name: "get_weather" } }],
    ["function_call", { function_call: "auto" }],
    ["modalities", { modalities: ["text", "audio"], audio: { voice: "alloy", format: "wav" } }],
    ["audio", { audio: { voice: "alloy", format: "wav" } }],
    ["web_search_options", { web_search_options: {} }],
  ])("refuses %s with 400 unsupported_parameter naming it", async (param, fields) => {
    const error = await rejectionOf<APIError>(
      test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 2,
        ...(fields as object),
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect({ code: error.code, param: error.param }).toEqual({ code: "unsupported_parameter", param });
    expect(error.message).toContain(param);
  });

  it("accepts the documented no-ops and the neutral values", async () => {
    const completion = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
      // Greedy: sampled at the default temperature, the random-weight model ends its answer within 2 tokens now and then.
      temperature: 0,
      modalities: ["text"],
      store: false,
      metadata: { team: "a" },
      service_tier: "auto",
      verbosity: "low",
      prompt_cache_key: "k",
      safety_identifier: "s",
    });
    expect(completion.choices[0]!.finish_reason).toBe("length");
  });

  it.each<[string, OpenAI.ChatCompletionMessageParam]>([
    ["without content", { role: "user" } as OpenAI.ChatCompletionMessageParam],
    ["with content null", { role: "user", content: null } as unknown as OpenAI.ChatCompletionMessageParam],
    ["(system) without content", { role: "system" } as OpenAI.ChatCompletionMessageParam],
  ])("refuses a message %s: 400 naming messages[1].content", async (_name, message) => {
    const error = await rejectionOf<APIError>(
      test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        messages: [{ role: "user", content: "hi" }, message],
        max_tokens: 2,
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect({ code: error.code, param: error.param }).toEqual({ code: "invalid_request", param: "messages[1].content" });
  });

  it("returns a tool call cut by max_tokens as its markup in content, finish_reason length, streamed and not", async () => {
    const request = {
      model: "tiny-qwen3moe",
      messages: [{ role: "user" as const, content: "Weather in Paris?" }],
      max_tokens: 12,
      temperature: 0,
      tools: [weatherTool],
      tool_choice: "required" as const,
    };
    const whole = await test.client.chat.completions.create(request);
    const choice = whole.choices[0]!;
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.tool_calls ?? []).toEqual([]);
    expect(choice.message.content).toMatch(/^<tool_call>\s*\{/);
    let streamed = "";
    const finishReasons: string[] = [];
    for await (const chunk of await test.client.chat.completions.create({ ...request, stream: true })) {
      for (const delta of chunk.choices) {
        streamed += delta.delta.content ?? "";
        expect(delta.delta.tool_calls).toBeUndefined();
        if (delta.finish_reason) finishReasons.push(delta.finish_reason);
      }
    }
    expect(streamed).toBe(choice.message.content);
    expect(finishReasons).toEqual(["length"]);
  });

  it("Ollama: a num_predict past the context is capped at it, not refused", async () => {
    const ollama = new Ollama({ host: test.url });
    const response = await ollama.generate({
      model: "stories260K",
      prompt: "Once",
      raw: true,
      options: { num_predict: 100_000_000, temperature: 0 },
    });
    expect(response.done_reason).toBe("length");
    // The window (512) less the prompt's tokens.
    expect(response.prompt_eval_count + response.eval_count).toBe(512);
  });

  it("Responses: a max_output_tokens past the context is refused in the Responses API's words", async () => {
    const error = await rejectionOf<APIError>(
      test.client.responses.create({ model: "stories260K", input: "Once", max_output_tokens: 100_000_000 }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect({ code: error.code, param: error.param }).toEqual({ code: "context_length_exceeded", param: "max_output_tokens" });
    expect(error.message).toContain("max_output_tokens");
    expect(error.message).not.toContain("max_tokens.");
  });

  it("answers a model that is not served in Anthropic's error shape to Anthropic's client", async () => {
    const anthropic = new Anthropic({ baseURL: test.url, apiKey: "unused", maxRetries: 0 });
    const error = await rejectionOf<InstanceType<typeof Anthropic.APIError>>(anthropic.models.retrieve("nope"));
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect(error.error).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    // OpenAI's client still gets OpenAI's shape.
    const openAiError = await rejectionOf<APIError>(test.client.models.retrieve("nope"));
    expect(openAiError).toBeInstanceOf(OpenAI.NotFoundError);
    expect(openAiError.code).toBe("model_not_found");
  });
});

/**
 * The same parameters in front of an upstream (docs/gateway.md, "What is forwarded"): what a local engine refuses, an
 * upstream gets as the client sent it, and logit_bias reaches it.
 */
describe("OpenAI parameters reach an upstream", () => {
  let upstream: StandInUpstream;
  let gateway: TestServer;

  beforeAll(async () => {
    upstream = await startStandInUpstream(["remote"], ({ path, body }, response) => {
      if (path === "/v1/completions") {
        // The gateway asks for a whole answer for a client that does not stream.
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            id: "cmpl-standin",
            object: "text_completion",
            choices: [{ index: 0, text: "ok", finish_reason: "stop" }],
            usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
          }),
        );
        return;
      }
      answerAsAsked(
        body,
        response,
        chunkEvent({ role: "assistant", content: "" }) +
          chunkEvent({ content: "ok" }) +
          chunkEvent({}, "stop") +
          usageEvent(3, 1) +
          "data: [DONE]\n\n",
      );
    });
    gateway = await startTestServer({ upstreams: [{ name: "stand-in", url: upstream.url, kind: "openai" }] });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("forwards logit_bias, audio, prediction, functions and the no-ops as the client sent them", async () => {
    const fields = {
      logit_bias: { "50": 100, "7": -100 },
      modalities: ["text", "audio"],
      audio: { voice: "alloy", format: "wav" },
      prediction: { type: "content", content: "Hello" },
      functions: [{ name: "get_weather", parameters: { type: "object" } }],
      function_call: "auto",
      metadata: { team: "a" },
      service_tier: "auto",
      store: true,
    };
    const completion = await gateway.client.chat.completions.create({
      model: "remote",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
      ...(fields as object),
    });
    expect(completion.choices[0]!.message.content).toBe("ok");
    expect(upstream.posts.at(-1)!.body).toMatchObject(fields);
    const completion2 = await gateway.client.completions.create({ model: "remote", prompt: "Once", max_tokens: 3, logit_bias: { "5": 1 } });
    expect(completion2.choices[0]!.text).toBe("ok");
    expect(upstream.posts.at(-1)).toMatchObject({ path: "/v1/completions", body: { logit_bias: { "5": 1 } } });
  });
});
