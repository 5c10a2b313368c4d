import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

interface ListedModel {
  id: string;
  loaded: boolean;
  facts: { architecture: string; expert_count: number | null; expert_used_count: number | null; can_think: boolean } | null;
}

describe.skipIf(!hasTestModels)("GET /v1/moestro/models: facts from the GGUF header (real server, real files)", () => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("tiny-qwen3moe.gguf") }],
      engine: { contextTokens: 256, parallel: 1, batchSize: 64 },
    });
  });
  afterAll(async () => {
    await test?.close();
  });

  const list = async (): Promise<ListedModel[]> =>
    ((await (await fetch(`${test.url}/v1/moestro/models`)).json()) as { data: ListedModel[] }).data;

  it("says which model is a Mixture of Experts and which can think, before it is loaded", async () => {
    // The server loads its models at start: unloaded, their facts come from the header alone.
    for (const model of ["stories260K", "tiny-qwen3moe"])
      expect((await postJson(`${test.url}/v1/moestro/models/unload`, { model })).status).toBe(200);
    const models = await list();
    expect(models.every((model) => !model.loaded)).toBe(true);
    expect(models.find((model) => model.id === "stories260K")!.facts).toEqual({
      architecture: "llama",
      expert_count: null,
      expert_used_count: null,
      can_think: false,
    });
    expect(models.find((model) => model.id === "tiny-qwen3moe")!.facts).toEqual({
      architecture: "qwen3moe",
      expert_count: 8,
      expert_used_count: 2,
      can_think: true,
    });
  });

  it("says the same once the engine has loaded the models (their backends answer can_think then)", async () => {
    const before = await list();
    for (const model of ["stories260K", "tiny-qwen3moe"])
      expect((await postJson(`${test.url}/v1/moestro/models/load`, { model })).status).toBe(200);
    const after = await list();
    expect(after.every((model) => model.loaded)).toBe(true);
    expect(after.map((model) => model.facts)).toEqual(before.map((model) => model.facts));
  });
});
