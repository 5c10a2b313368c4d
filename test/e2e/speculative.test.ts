import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, storiesGreedy60, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** moestro's request field (not in the openai package's types). */
const speculative = (value: boolean) => ({ speculative: value }) as {};
const noThinking = { enable_thinking: false } as {};

describe.skipIf(!hasTestModels)("speculative decoding through the OpenAI API (in-process engine)", () => {
  let test: TestServer;
  beforeAll(async () => {
    test = await startTestServer({
      models: [
        { path: testModelPath("stories260K.gguf"), id: "stories-lookup", speculative: { type: "ngram", maxDraftTokens: 8 } },
        // Its own draft: every draft is the model's own pick, so drafting goes on (no back-off) and every request drafts.
        {
          path: testModelPath("tiny-qwen3moe.gguf"),
          id: "qwen-drafted",
          speculative: { type: "draft", draftModel: testModelPath("tiny-qwen3moe.gguf") },
        },
      ],
      engine: { contextTokens: 1024, batchSize: 64, parallel: 2 },
    });
  });
  afterAll(async () => {
    await test?.close();
  });

  it("prompt lookup: greedy text equals plain decoding's; usage reports accepted and rejected prediction tokens, an opted-out request none", async () => {
    // The model is asked to continue a story it has just read (its own greedy continuation): drafts come from the prompt.
    const prompt = `Once upon a time${storiesGreedy60}\n\nOnce upon a time`;
    const request = { model: "stories-lookup", prompt, max_tokens: 48, temperature: 0 };
    const drafted = await test.client.completions.create({ ...request, ...speculative(true) });
    const plain = await test.client.completions.create({ ...request, ...speculative(false) });
    expect(drafted.choices[0]!.text).toBe(plain.choices[0]!.text);
    const details = drafted.usage!.completion_tokens_details!;
    expect(details.accepted_prediction_tokens).toBeGreaterThan(0);
    expect(details.rejected_prediction_tokens).toBeGreaterThanOrEqual(0);
    expect(plain.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 0 });
    // The model's default (speculative.byDefault: true) when the request does not say.
    const byDefault = await test.client.completions.create(request);
    expect(byDefault.usage!.completion_tokens_details!.accepted_prediction_tokens).toBe(details.accepted_prediction_tokens);
  });

  it("a draft model on a chat model: streamed usage carries the counts; the ledger and /metrics record them", async () => {
    const stream = await test.client.chat.completions.create({
      model: "qwen-drafted",
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      ...noThinking,
    });
    let usage: { completion_tokens_details?: { accepted_prediction_tokens?: number; rejected_prediction_tokens?: number } } | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    const accepted = usage?.completion_tokens_details?.accepted_prediction_tokens ?? 0;
    const rejected = usage?.completion_tokens_details?.rejected_prediction_tokens ?? 0;
    expect(accepted).toBeGreaterThan(0);

    const events = (await (await fetch(`${test.url}/v1/moestro/usage/events?limit=20`)).json()) as {
      data: Array<{ model: string; draft_tokens: number; accepted_draft_tokens: number }>;
    };
    const event = events.data.find((candidate) => candidate.model === "qwen-drafted");
    expect(event).toMatchObject({ draft_tokens: accepted + rejected, accepted_draft_tokens: accepted });
    const metrics = await (await fetch(`${test.url}/metrics`)).text();
    expect(metrics).toMatch(/moestro_accepted_draft_tokens_total\{model="qwen-drafted"\} [1-9]/);
    expect(metrics).toMatch(/moestro_draft_acceptance_ratio\{model="qwen-drafted"\} (0\.\d+|1)\n/);
  });

  it("grammar-constrained requests (json_schema, tools) fall back to plain decoding: no prediction tokens", async () => {
    const structured = await test.client.chat.completions.create({
      model: "qwen-drafted",
      messages: [{ role: "user", content: "Give me a number" }],
      max_tokens: 48,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: { name: "n", schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] } },
      },
      ...noThinking,
    });
    expect(structured.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 0 });
    const tools = await test.client.chat.completions.create({
      model: "qwen-drafted",
      messages: [{ role: "user", content: "Weather?" }],
      max_tokens: 32,
      temperature: 0,
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object", properties: {} } } }],
      ...noThinking,
    });
    expect(tools.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 0 });
  });

  it("refuses a speculative field that is not a boolean with a 400 naming it", async () => {
    const response = await fetch(`${test.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "stories-lookup", prompt: "Once", max_tokens: 2, speculative: "yes" }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param?: string } }).error.param).toBe("speculative");
  });
});
