import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GenerateInput, GenerateRequest, ModelBackend } from "../../spec/index.js";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import { readGgufFileInfo } from "node-llama-cpp";
import { createLlamaBackend } from "./llama-backend.js";
import { estimateKvBytesPerToken } from "./memory-estimate.js";
import type { PrefixCacheStats } from "./prefix-cache.js";

type CachedBackend = ModelBackend & { prefixCacheStats(): PrefixCacheStats | undefined };

/** One greedy generation: its text and the prompt tokens it took from a cache. */
async function run(backend: ModelBackend, input: GenerateInput, maxTokens = 12): Promise<{ text: string; cached: number }> {
  const request: GenerateRequest = { input, sampling: { temperature: 0 }, stop: [], maxTokens };
  let text = "";
  let cached = -1;
  const stream = await backend.generate(request);
  // The stream says the cached count by its first part already (Anthropic's message_start carries it), as the finish does.
  let atFirstPart: number | undefined | null = null;
  for await (const part of stream) {
    if (atFirstPart === null) atFirstPart = stream.promptCacheUsage?.cachedPromptTokens;
    if (part.type === "text-delta") text += part.text;
    if (part.type === "finish") cached = part.usage.cachedPromptTokens ?? 0;
  }
  expect(atFirstPart).toBe(cached);
  return { text, cached };
}

async function load(modelPath: string, options: { parallel: number; cacheRamBytes: number; root?: string }): Promise<CachedBackend> {
  return (await createLlamaBackend({
    llama: await getTestLlama(),
    modelPath,
    contextTokens: 512,
    batchSize: 64,
    threads: 1,
    parallel: options.parallel,
    cacheRamBytes: options.cacheRamBytes,
    prefixCacheRoot: options.root,
    logger: pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" }),
  })) as CachedBackend;
}

// Four histories of about 100 stories260K tokens each, so that a restore (32 tokens or more) pays.
const stories = [
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball. One day, she saw a big dog near the tree. The dog was sad because he lost his bone. Lily wanted to help him, so she looked under the bench and behind the slide.",
  "Tom and Sue went to the beach with their mom. They wanted to build a big castle out of sand. Tom got a bucket and Sue got a spade. They worked very hard all morning. Then a big wave came and the castle fell down. Sue started to cry, but Tom had an idea.",
  "There was a small bird who lived in a tall tree. Every morning the bird sang a happy song for the animals of the forest. One cold day the bird could not sing, because it was too cold. The rabbit and the fox brought the bird a warm blanket made of leaves.",
  "Ben had a toy car that he loved very much. It was blue and fast and it made a loud noise. One day Ben took the car to school to show his friends. At lunch he could not find it anywhere. He looked in his bag and under his desk, and he was very sad.",
];

describe.skipIf(!hasTestModels)("the prefix cache beyond the slots (stories260K, 2 slots, 4 conversations taking turns)", () => {
  const modelPath = testModelPath("stories260K.gguf");
  let root: string;
  let cachedBackend: CachedBackend;
  let plainBackend: CachedBackend;
  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), "moestro-prefix-cache-test-"));
    cachedBackend = await load(modelPath, { parallel: 2, cacheRamBytes: 64 * 2 ** 20, root });
    plainBackend = await load(modelPath, { parallel: 2, cacheRamBytes: 0 });
  });
  afterAll(async () => {
    await cachedBackend?.dispose();
    await plainBackend?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it("restores each conversation's state for its follow-up turn: cached tokens as if it had kept its slot, the same greedy output", async () => {
    const first: string[] = [];
    for (const story of stories) first.push((await run(cachedBackend, { kind: "completion", prompt: story })).text);
    const followUps = stories.map((story, index) => `${story}${first[index]} Then they went home.`);
    const restored = [];
    for (const prompt of followUps) restored.push(await run(cachedBackend, { kind: "completion", prompt }));

    // The reference: each conversation's two turns back to back, so that the follow-up finds its own slot.
    const alone = [];
    for (const [index, story] of stories.entries()) {
      await run(plainBackend, { kind: "completion", prompt: story });
      alone.push(await run(plainBackend, { kind: "completion", prompt: followUps[index]! }));
    }
    expect(restored.map((result) => result.text)).toEqual(alone.map((result) => result.text));
    expect(restored.map((result) => result.cached)).toEqual(alone.map((result) => result.cached));
    for (const result of restored) expect(result.cached).toBeGreaterThan(100);
    const stats = cachedBackend.prefixCacheStats()!;
    expect(stats.restores).toBeGreaterThanOrEqual(2);
    expect(stats.usedBytes).toBeLessThanOrEqual(stats.budgetBytes);

    // Without the cache, two slots hold at most two of the four conversations by their turn: the others start cold
    // (nothing but the BOS is reused).
    for (const story of stories) await run(plainBackend, { kind: "completion", prompt: story });
    const cold = [];
    for (const prompt of followUps) cold.push((await run(plainBackend, { kind: "completion", prompt })).cached);
    expect(cold.filter((cached) => cached <= 1).length).toBeGreaterThanOrEqual(2);
  });

  it("does not restore a prefix shorter than the threshold: a few shared tokens are evaluated again", async () => {
    const before = cachedBackend.prefixCacheStats()!.restores;
    // Shares only "Once upon a time," (5 tokens or so) with the saved state of the first story.
    await run(cachedBackend, { kind: "completion", prompt: "Tom and Sue went to the beach with their mom and dad." });
    const result = await run(cachedBackend, { kind: "completion", prompt: "Once upon a time, a cat sat on a mat." });
    expect(result.cached).toBeLessThan(32);
    expect(cachedBackend.prefixCacheStats()!.restores).toBe(before);
  });

  it("evicts the least recently used states under a small budget, and removes the files", async () => {
    const smallRoot = path.join(root, "small");
    mkdirSync(smallRoot);
    const small = await load(modelPath, { parallel: 1, cacheRamBytes: 200 * 1024, root: smallRoot });
    try {
      for (const story of stories) await run(small, { kind: "completion", prompt: story });
      await run(small, { kind: "completion", prompt: stories[0]! });
      const stats = small.prefixCacheStats()!;
      // A state of stories260K's ~110 tokens takes about 84 KB: the budget holds two.
      expect(stats.evictions).toBeGreaterThan(0);
      expect(stats.usedBytes).toBeLessThanOrEqual(stats.budgetBytes);
      const [folder, ...others] = readdirSync(smallRoot);
      expect(others).toEqual([]);
      // Evicted entries' files are gone: one file per entry.
      expect(readdirSync(path.join(smallRoot, folder!))).toHaveLength(stats.entries);
    } finally {
      await small.dispose();
    }
    expect(readdirSync(smallRoot)).toEqual([]);
    await cachedBackend.dispose();
    expect(readdirSync(root).filter((name) => name.startsWith("moestro-prefix-cache-"))).toEqual([]);
  });

  it("evicts a restored state first (its slot holds it now), before the states of conversations not yet back", async () => {
    const ownRoot = path.join(root, "demote");
    mkdirSync(ownRoot);
    // Room for three states of ~84 KB, not four.
    const backend = await load(modelPath, { parallel: 1, cacheRamBytes: 300 * 1024, root: ownRoot });
    try {
      for (const story of stories.slice(0, 3)) await run(backend, { kind: "completion", prompt: story });
      // Saved: 0 and 1; the slot holds 2. The follow-up of 0 saves 2 and restores 0.
      expect((await run(backend, { kind: "completion", prompt: `${stories[0]} Then they went home.` })).cached).toBeGreaterThan(64);
      // A new conversation saves 0's follow-up: one state must go, and it is 0's first turn, not 1's.
      await run(backend, { kind: "completion", prompt: stories[3]! });
      expect((await run(backend, { kind: "completion", prompt: `${stories[1]} Then they went home.` })).cached).toBeGreaterThan(64);
      expect(backend.prefixCacheStats()!.restores).toBe(2);
    } finally {
      await backend.dispose();
    }
  });

  it("removes the folders of processes that no longer run when it starts", async () => {
    // No process has this id: Linux's pids stop at 4,194,304.
    const leftover = path.join(root, "moestro-prefix-cache-4194999-abcdef");
    mkdirSync(leftover);
    const backend = await load(modelPath, { parallel: 1, cacheRamBytes: 2 ** 20, root });
    try {
      expect(existsSync(leftover)).toBe(false);
    } finally {
      await backend.dispose();
    }
  });
});

describe.skipIf(!hasTestModels)("estimateKvBytesPerToken", () => {
  it("gives the KV bytes a state file holds per token, less node-llama-cpp's 16 bytes a cell", async () => {
    // stories260K: 5 layers x 4 KV heads x (8 + 8) x 2 bytes; state files measured 656 bytes a token (docs/engine.md).
    expect(estimateKvBytesPerToken(await readGgufFileInfo(testModelPath("stories260K.gguf")))).toBe(640);
    // tiny-qwen3moe: 2 layers x 2 KV heads x (16 + 16) x 2 bytes; measured 272.
    expect(estimateKvBytesPerToken(await readGgufFileInfo(testModelPath("tiny-qwen3moe.gguf")))).toBe(256);
  });
});

describe.skipIf(!hasTestModels)("the prefix cache on a chat model (tiny-qwen3moe)", () => {
  it("a conversation's follow-up, with an assistant reply that is not the model's own, restores its history and answers as without the cache", async () => {
    const modelPath = testModelPath("tiny-qwen3moe.gguf");
    const backend = await load(modelPath, { parallel: 1, cacheRamBytes: 16 * 2 ** 20 });
    try {
      const system = "You are a careful assistant. ".repeat(12);
      const chat = (user: string, reply?: string): GenerateInput => ({
        kind: "chat",
        messages: [
          { role: "system", text: system },
          { role: "user", text: `${user} ${"Please explain it step by step. ".repeat(10)}` },
          ...(reply === undefined
            ? []
            : [
                { role: "assistant" as const, text: reply },
                { role: "user" as const, text: "And then?" },
              ]),
        ],
      });
      const followUp = chat("Moon: tell me about it.", "The moon goes round the earth once a month.");
      await run(backend, chat("Moon: tell me about it."));
      await run(backend, chat("Sea: tell me about it."));
      const restored = await run(backend, followUp);
      expect(backend.prefixCacheStats()!.restores).toBe(1);
      expect(restored.cached).toBeGreaterThan(100);
      // The reference: the follow-up right after its conversation's first turn, on the slot that holds it.
      await run(backend, chat("Moon: tell me about it."));
      const onItsSlot = await run(backend, followUp);
      expect(backend.prefixCacheStats()!.restores).toBe(1);
      expect(restored).toEqual(onItsSlot);
    } finally {
      await backend.dispose();
    }
  });
});
