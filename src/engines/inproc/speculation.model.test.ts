import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import type { GenerateRequest, ModelBackend, SpeculativeOptions, Usage } from "../../spec/index.js";
import { createLlamaBackend } from "./llama-backend.js";
import { estimateModelMemoryBytes } from "./memory-estimate.js";

const logger = pino({ level: "silent" });
const script = path.resolve(import.meta.dirname, "../../../scripts/make-padded-stories.mjs");

/** Runs one request to its end: the text and the usage. */
async function complete(backend: ModelBackend, request: Partial<GenerateRequest> & { prompt: string }) {
  const { prompt, ...rest } = request;
  let text = "";
  let usage: Usage | undefined;
  for await (const part of await backend.generate({
    input: { kind: "completion", prompt },
    sampling: { temperature: 0 },
    stop: [],
    maxTokens: 60,
    ...rest,
  })) {
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") usage = part.usage;
  }
  return { text, usage: usage! };
}

async function load(modelPath: string, speculative?: SpeculativeOptions): Promise<ModelBackend> {
  return await createLlamaBackend({
    llama: await getTestLlama(),
    modelPath,
    threads: 1,
    parallel: 2,
    contextTokens: 512,
    logger,
    speculative,
  });
}

describe.skipIf(!hasTestModels)("speculative decoding (in-process)", () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-speculation-"));
  const padded = path.join(folder, "stories260K-padded.gguf");
  const stories = testModelPath("stories260K.gguf");
  let plain: ModelBackend;
  beforeAll(async () => {
    // A small padding keeps the test fast: the benchmark pads far wider (scripts/bench-speculative.mjs).
    execFileSync(process.execPath, [script, "--source", stories, "--out", padded, "--ffn", "1024", "--layers", "2"]);
    plain = await load(stories);
  });
  afterAll(async () => {
    await plain?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  const prompts = ["Once upon a time", "Tom and Lily went to the park. They saw a dog."];

  it("the padded target's greedy text equals stories260K's", async () => {
    const target = await load(padded);
    try {
      for (const prompt of prompts) {
        const expected = (await complete(plain, { prompt, maxTokens: 120 })).text;
        expect((await complete(target, { prompt, maxTokens: 120 })).text).toBe(expected);
      }
    } finally {
      await target.dispose();
    }
  });

  it("with stories260K as draft model, greedy output equals plain decoding, and usage counts drafted and accepted tokens", async () => {
    const target = await load(padded, { type: "draft", draftModel: stories, minConfidence: 0 });
    try {
      for (const prompt of prompts) {
        const expected = (await complete(plain, { prompt })).text;
        const { text, usage } = await complete(target, { prompt });
        expect(text).toBe(expected);
        expect(usage.draftTokens).toBeGreaterThan(0);
        // The draft is the target without its padding: every checked draft is the target's own pick.
        expect(usage.acceptedDraftTokens).toBe(usage.draftTokens);
        const optedOut = await complete(target, { prompt, speculative: false });
        expect(optedOut.text).toBe(expected);
        expect(optedOut.usage.draftTokens).toBeUndefined();
        expect(optedOut.usage.acceptedDraftTokens).toBeUndefined();
      }
    } finally {
      await target.dispose();
    }
  });

  it("the memory estimate of a model with a draft model adds the draft's weights and a context of the model's shape", async () => {
    const llama = await getTestLlama();
    const shape = { parallel: 2, batchSize: 512 };
    const alone = await estimateModelMemoryBytes(llama, padded, shape);
    // The draft keeps no prefix cache of its own (the model's cache holds the model's states).
    const draftAlone = await estimateModelMemoryBytes(llama, stories, {
      ...shape,
      contextTokens: 512,
      withTokenizerProcess: false,
      cacheRamBytes: 0,
    });
    const withDraft = await estimateModelMemoryBytes(llama, padded, { ...shape, draftModelPath: stories });
    // stories260K's training context is 512, as the padded copy's: the draft's context has that shape.
    expect(withDraft).toBe(alone + draftAlone);
    expect(draftAlone).toBeGreaterThan(0);
  });

  it("with prompt lookup, greedy output equals plain decoding on a prompt that repeats what the model will write", async () => {
    const target = await load(stories, { type: "ngram", maxDraftTokens: 8 });
    try {
      const seen = (await complete(plain, { prompt: "Once upon a time", maxTokens: 80 })).text;
      const prompt = `Once upon a time${seen}\n\nOnce upon a time`;
      const expected = await complete(plain, { prompt, maxTokens: 60 });
      const { text, usage } = await complete(target, { prompt, maxTokens: 60 });
      expect(text).toBe(expected.text);
      expect(usage.draftTokens).toBeGreaterThan(0);
      expect(usage.acceptedDraftTokens).toBeGreaterThan(0);
      expect(expected.usage.draftTokens).toBeUndefined();
    } finally {
      await target.dispose();
    }
  });

  it("does not speculate with logprobs, a grammar, penalties or seeded sampling, nor when the model's default is off", async () => {
    const target = await load(stories, { type: "ngram", byDefault: false });
    try {
      const prompt = "Once upon a time, there was a little girl named Lily. Once upon a time";
      expect((await complete(target, { prompt })).usage.draftTokens).toBeUndefined();
      expect((await complete(target, { prompt, speculative: true })).usage.draftTokens).toBeGreaterThan(0);
      const seeded = await complete(target, { prompt, speculative: true, sampling: { temperature: 0.8, seed: 1 } });
      expect(seeded.usage.draftTokens).toBeUndefined();
      const penalized = await complete(target, { prompt, speculative: true, sampling: { temperature: 0, presencePenalty: 1 } });
      expect(penalized.usage.draftTokens).toBeUndefined();
    } finally {
      await target.dispose();
    }
  });
});
