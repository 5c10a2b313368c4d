import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateModelMemoryBytes } from "../../src/engines/inproc/memory-estimate.js";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { hasTestModels, storiesGreedy40, testModelPath, getTestLlama } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

interface Ps {
  data: Array<{ id: string; memory_bytes: number; active_requests: number; expires_at: string | null }>;
}

async function ps(test: TestServer): Promise<Ps["data"]> {
  return ((await (await fetch(`${test.url}/v1/moestro/ps`)).json()) as Ps).data;
}

async function metric(test: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${test.url}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `) || candidate.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(" ").at(-1));
}

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels)("several models under one memory budget (real server, real files)", () => {
  const shape = { parallel: 2, batchSize: 64 };
  let stories = 0;
  let dreams = 0;
  let qwen = 0;
  let test: TestServer;
  let hub: FakeHub;

  beforeAll(async () => {
    const llama = await getTestLlama();
    stories = await estimateModelMemoryBytes(llama, testModelPath("stories260K.gguf"), shape);
    dreams = await estimateModelMemoryBytes(llama, testModelPath("aidreams260K.gguf"), shape);
    qwen = await estimateModelMemoryBytes(llama, testModelPath("tiny-qwen3moe.gguf"), { ...shape, contextTokens: 512 });
    hub = await startFakeHub({
      repos: {
        "karpathy/tinyllamas": [{ path: "stories260K-Q8_0.gguf", content: fileBytes(testModelPath("stories260K-q8_0.gguf")) }],
        "moestro/tiny-qwen3moe": [{ path: "tiny-qwen3moe-Q4_0.gguf", content: fileBytes(testModelPath("tiny-qwen3moe.gguf")) }],
      },
    });
    // A budget that holds either tiny llama model but not both, and never the Qwen one.
    const budget = Math.floor(Math.max(stories, dreams) * 1.5);
    expect(budget).toBeLessThan(stories + dreams);
    expect(qwen).toBeGreaterThan(budget);
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      aliases: { tales: "stories260K" },
      engine: { ...shape, contextTokens: 512, maxMemoryBytes: budget },
      hub: { endpoint: hub.url },
    });
  });
  afterAll(async () => {
    await test?.close();
    await hub?.close();
  });

  it("serves the --model model loaded at start, and lists it", async () => {
    expect((await ps(test)).map((model) => model.id)).toEqual(["stories260K"]);
    const models = [];
    for await (const model of test.client.models.list()) models.push(model.id);
    expect(models).toContain("stories260K");
    const health = await fetch(`${test.url}/health`);
    expect(health.status).toBe(200);
  });

  it("pulls a model through the API with streamed progress, then serves it on first use", async () => {
    const response = await postJson(`${test.url}/v1/moestro/pull`, { model: "hf:karpathy/tinyllamas:Q8_0" });
    expect(response.headers.get("content-type")).toMatch(/application\/x-ndjson/);
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { status: string; completed_bytes: number; total_bytes: number });
    expect(lines[0]!.status).toBe("resolving");
    expect(lines.at(-1)).toMatchObject({ status: "done" });
    expect(lines.at(-1)!.completed_bytes).toBe(lines.at(-1)!.total_bytes);
    const models = [];
    for await (const model of test.client.models.list()) models.push(model.id);
    expect(models).toContain("karpathy/tinyllamas:Q8_0");

    // Loading it goes over the budget: the idle stories260K is evicted first.
    const completion = await test.client.completions.create({
      model: "karpathy/tinyllamas:Q8_0",
      prompt: "Once upon a time",
      max_tokens: 40,
      temperature: 0,
    });
    expect(completion.choices[0]!.text).toBe(storiesGreedy40);
    expect((await ps(test)).map((model) => model.id)).toEqual(["karpathy/tinyllamas:Q8_0"]);

    // An alias reaches its model; the evicted one loads again on demand.
    const again = await test.client.completions.create({ model: "tales", prompt: "Once upon a time", max_tokens: 40, temperature: 0 });
    expect(again.choices[0]!.text).toBe(storiesGreedy40);
    expect((await ps(test)).map((model) => model.id)).toEqual(["stories260K"]);
  });

  it("C25: requests that change only sampling options never reload the model", async () => {
    await test.client.completions.create({ model: "stories260K", prompt: "Hi", max_tokens: 2 });
    const loadsBefore = await metric(test, "moestro_model_loads_total");
    for (let index = 0; index < 20; index++) {
      await test.client.completions.create({
        model: "stories260K",
        prompt: "Once upon a time",
        max_tokens: 1 + (index % 5),
        temperature: index / 10,
        top_p: 0.5 + index / 40,
        seed: index,
        stop: index % 2 ? ["."] : undefined,
      });
    }
    expect(await metric(test, "moestro_model_loads_total")).toBe(loadsBefore);
  });

  it("refuses a local path or a URL with malformed percent-encoding with a JSON 400 naming model, before any progress line", async () => {
    for (const [model, fragment] of [
      ["./models/stories260K.gguf", "is a local path"],
      ["https://example.com/%zz.gguf", "malformed percent-encoding"],
    ]) {
      const response = await postJson(`${test.url}/v1/moestro/pull`, { model });
      expect(response.status, model).toBe(400);
      expect(response.headers.get("content-type")).toMatch(/application\/json/);
      const { error } = (await response.json()) as { error: { code: string; param: string; message: string } };
      expect(error).toMatchObject({ code: "invalid_request", param: "model" });
      expect(error.message).toContain(fragment);
    }
  });

  it("refuses a model too big for the budget with the memory it needs, and keeps serving the others", async () => {
    const pulled = await postJson(`${test.url}/v1/moestro/pull`, { model: "hf:moestro/tiny-qwen3moe:Q4_0" });
    expect(await pulled.text()).toContain('"status":"done"');
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "moestro/tiny-qwen3moe:Q4_0",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(response.status).toBe(503);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("insufficient_memory");
    expect(error.message).toMatch(
      /needs about [\d.]+ MiB of memory, but the budget is [\d.]+ KiB|needs about [\d.]+ MiB of memory, but the budget is [\d.]+ MiB/,
    );
    expect((await ps(test)).map((model) => model.id)).not.toContain("moestro/tiny-qwen3moe:Q4_0");
    const completion = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 40,
      temperature: 0,
    });
    expect(completion.choices[0]!.text).toBe(storiesGreedy40);
  });

  it("honours keep_alive per request: the model unloads when it expires", async () => {
    await test.client.completions.create({ model: "stories260K", prompt: "Hi", max_tokens: 2, ...({ keep_alive: "1s" } as {}) });
    expect((await ps(test)).find((model) => model.id === "stories260K")!.expires_at).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await ps(test)).map((model) => model.id)).toEqual([]);
    // Load and unload on request.
    const loaded = await postJson(`${test.url}/v1/moestro/models/load`, { model: "stories260K", keep_alive: -1 });
    expect(loaded.status).toBe(200);
    expect((await ps(test))[0]).toMatchObject({ id: "stories260K", expires_at: null });
    const unloaded = (await (await postJson(`${test.url}/v1/moestro/models/unload`, { model: "stories260K" })).json()) as {
      was_loaded: boolean;
    };
    expect(unloaded.was_loaded).toBe(true);
    expect(await ps(test)).toEqual([]);
  });
});

describe.skipIf(!hasTestModels)("two models loaded at once", () => {
  it("answers concurrent requests to two models, each as it would alone", async () => {
    const test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("aidreams260K.gguf") }],
      engine: { parallel: 2, batchSize: 64 },
    });
    try {
      const request = (model: string) =>
        test.client.completions.create({ model, prompt: "Once upon a time", max_tokens: 30, temperature: 0 });
      const alone = [(await request("stories260K")).choices[0]!.text, (await request("aidreams260K")).choices[0]!.text];
      const together = await Promise.all([
        request("stories260K"),
        request("aidreams260K"),
        request("stories260K"),
        request("aidreams260K"),
      ]);
      expect(together.map((completion) => completion.choices[0]!.text)).toEqual([...alone, ...alone]);
      expect((await ps(test)).map((model) => model.id).sort()).toEqual(["aidreams260K", "stories260K"]);
    } finally {
      await test.close();
    }
  });
});
