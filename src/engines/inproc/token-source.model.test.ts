import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GenerateRequest, ModelBackend, SamplingOptions } from "../../spec/index.js";
import { hasTestModels, storiesGreedy60, testModelPath } from "../../../test/helpers/models.js";
import { loadTestBackend } from "../../../test/helpers/server.js";

/** Runs one completion and returns its text and finish reason. */
async function complete(backend: ModelBackend, prompt: string, sampling: SamplingOptions, maxTokens: number) {
  const request: GenerateRequest = { input: { kind: "completion", prompt }, sampling, stop: [], maxTokens };
  let text = "";
  let finishReason: string | undefined;
  for await (const part of await backend.generate(request)) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") finishReason = part.finishReason;
  }
  return { text, finishReason };
}

// One sequence, so that every request resumes (or replaces) the same open evaluation (docs/engine.md, "Reused
// evaluations").
describe.skipIf(!hasTestModels)("the sequence's evaluation kept open between requests (stories260K, one slot)", () => {
  let backend: ModelBackend;
  beforeAll(async () => {
    backend = await loadTestBackend({ modelPath: testModelPath("stories260K.gguf"), parallel: 1, contextTokens: 512 });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it("gives the recorded greedy text on every request: fresh, resumed, after another prompt and after sampling", async () => {
    const greedy = { temperature: 0 };
    expect((await complete(backend, "Once upon a time", greedy, 60)).text).toBe(storiesGreedy60);
    // Resumed with the same prompt (its prefix reused), then with another prompt.
    expect((await complete(backend, "Once upon a time", greedy, 60)).text).toBe(storiesGreedy60);
    const other = await complete(backend, "The cat sat", greedy, 100);
    expect(other.finishReason).toBe("length");
    expect((await complete(backend, "Once upon a time", greedy, 60)).text).toBe(storiesGreedy60);
    // A sampled request replaces it with its own; greedy replaces that one again.
    await complete(backend, "Once upon a time", { temperature: 0.9, topK: 40 }, 20);
    expect((await complete(backend, "Once upon a time", greedy, 60)).text).toBe(storiesGreedy60);
    // The greedy text of the other prompt is the same on a resumed evaluation too.
    expect((await complete(backend, "The cat sat", greedy, 100)).text).toBe(other.text);
  });

  it("stops a generation whose stream is closed before its first read (it starts at admission), and frees its slot", async () => {
    const before = backend.stats().generatedTokensTotal;
    const request: GenerateRequest = { input: { kind: "completion", prompt: "The cat sat" }, sampling: {}, stop: [], maxTokens: 50 };
    const stream = await backend.generate(request);
    await stream.close();
    expect(backend.stats().generatedTokensTotal - before).toBe(0);
    expect(backend.stats().sequencesInUse).toBe(0);
    // The one slot serves the next request, with the recorded greedy text.
    expect((await complete(backend, "Once upon a time", { temperature: 0 }, 60)).text).toBe(storiesGreedy60);
  });

  it("gives a seeded sampled request the same text every time (a seed opens its own sampler)", async () => {
    const sampled = { temperature: 0.9, topK: 40, seed: 11 };
    const first = await complete(backend, "Once upon a time", sampled, 30);
    await complete(backend, "Once upon a time", { temperature: 0 }, 10);
    expect((await complete(backend, "Once upon a time", sampled, 30)).text).toBe(first.text);
    expect((await complete(backend, "Once upon a time", sampled, 30)).text).toBe(first.text);
  });
});
