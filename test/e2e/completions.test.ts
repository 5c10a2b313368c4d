import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI, { type APIError } from "openai";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, storiesGreedy40, storiesGreedy60, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)("POST /v1/completions on trained stories260K models (%s engine)", (engine) => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer(
      {
        models: [
          { path: testModelPath("stories260K.gguf") },
          { path: testModelPath("stories260K-moe.gguf") },
          { path: testModelPath("stories260K-q8_0.gguf") },
        ],
      },
      { engine },
    );
  });
  afterAll(async () => {
    await test?.close();
  });

  it("reproduces the greedy text recorded for stories260K (docs/test-models.md)", async () => {
    const completion = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 40,
      temperature: 0,
    });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]!.text).toBe(storiesGreedy40);
    expect(completion.choices[0]!.finish_reason).toBe("length");
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 });
  });

  it.each(["stories260K", "stories260K-moe", "stories260K-q8_0"])(
    "gives the same 60-token text on %s (dense, MoE, quantized)",
    async (model) => {
      const completion = await test.client.completions.create({ model, prompt: "Once upon a time", max_tokens: 60, temperature: 0 });
      expect(completion.choices[0]!.text).toBe(storiesGreedy60);
    },
  );

  it("streams the same text as the non-streamed request, with usage when asked", async () => {
    const stream = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    const finishReasons: Array<string | null> = [];
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.text;
        finishReasons.push(choice.finish_reason);
      }
    }
    expect(text).toBe(storiesGreedy60);
    expect(finishReasons.filter((reason) => reason !== null)).toEqual(["length"]);
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 60, total_tokens: 65 });
  });

  it("stops before a stop sequence and never returns any of it", async () => {
    const completion = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stop: ["red ball"],
    });
    expect(completion.choices[0]!.text).toBe(
      ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, ",
    );
    expect(completion.choices[0]!.finish_reason).toBe("stop");
  });

  it("streams with a stop sequence without leaking a partial match", async () => {
    // "Lily" appears twice in the greedy text; the stop fires at the first, and "Li" must never be streamed.
    const stream = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stop: ["Lily", "zzz"],
      stream: true,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) pieces.push(...chunk.choices.map((choice) => choice.text));
    expect(pieces.join("")).toBe(", there was a little girl named ");
    expect(pieces.join("")).not.toContain("L");
  });

  it("returns n choices, each a full completion", async () => {
    const completion = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 10,
      temperature: 0,
      n: 3,
    });
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    const first = completion.choices[0]!.text;
    expect(completion.choices.every((choice) => choice.text === first)).toBe(true);
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 30 });
  });

  it("gives each of several concurrent requests the answer it would get alone", async () => {
    const prompts = ["Once upon a time", "The cat", "Tom and Sue", "One day, a big dog"];
    const alone: string[] = [];
    for (const prompt of prompts) {
      alone.push((await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 30, temperature: 0 })).choices[0]!.text);
    }
    const together = await Promise.all(
      prompts.map(
        async (prompt) =>
          (await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 30, temperature: 0 })).choices[0]!.text,
      ),
    );
    expect(together).toEqual(alone);
  });

  it("reuses the KV cache of a shared prefix and reports it as cached tokens, with the same output", async () => {
    const prompt = "Once upon a time, there was a little girl named Lily. She loved to play";
    const first = await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 20, temperature: 0 });
    const second = await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 20, temperature: 0 });
    expect(second.usage!.prompt_tokens).toBe(first.usage!.prompt_tokens);
    // Every prompt token but the last comes from the cache (the last is evaluated again for its logits).
    expect((second.usage as { prompt_tokens_details?: { cached_tokens: number } }).prompt_tokens_details!.cached_tokens).toBe(
      first.usage!.prompt_tokens - 1,
    );
    expect(second.choices[0]!.text).toBe(first.choices[0]!.text);
  });

  it("is reproducible with a seed at temperature 1", async () => {
    const request = { model: "stories260K", prompt: "Once upon a time", max_tokens: 20, temperature: 1, seed: 42 };
    const first = await test.client.completions.create(request);
    const second = await test.client.completions.create(request);
    expect(second.choices[0]!.text).toBe(first.choices[0]!.text);
  });

  it("rejects max_tokens of 0 or below with a 400 naming the parameter (C15)", async () => {
    for (const max_tokens of [0, -1, 1.5]) {
      const error = await test.client.completions
        .create({ model: "stories260K", prompt: "Hi", max_tokens })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as APIError).param).toBe("max_tokens");
      expect((error as APIError).type).toBe("invalid_request_error");
    }
  });

  it("answers an unknown model with 404 model_not_found", async () => {
    const error = await test.client.completions.create({ model: "nope", prompt: "Hi" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as APIError).code).toBe("model_not_found");
  });

  it("lists the served models and finds one by id", async () => {
    const models = [];
    for await (const model of test.client.models.list()) models.push(model.id);
    expect(models).toEqual(["stories260K", "stories260K-moe", "stories260K-q8_0"]);
    const model = await test.client.models.retrieve("stories260K-moe");
    expect(model).toMatchObject({ id: "stories260K-moe", object: "model", owned_by: "moestro" });
    await expect(test.client.models.retrieve("missing")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("answers /health with 200 once ready", async () => {
    const response = await fetch(`${test.url}/health`);
    expect(response.status).toBe(200);
  });
});
