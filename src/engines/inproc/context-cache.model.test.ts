import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import type { ChatMessage, GenerateRequest, ModelBackend, Usage } from "../../spec/index.js";
import { explicitCacheTtlMs } from "../context-cache.js";
import { createLlamaBackend } from "./llama-backend.js";
import type { PrefixCacheStats } from "./prefix-cache.js";

type CachedBackend = ModelBackend & { prefixCacheStats(): PrefixCacheStats | undefined };

/** A conversation of tiny-qwen3moe (about 170 tokens, a state of about 46 KB): its own system prompt and a question. */
function conversation(topic: string, question: string): ChatMessage[] {
  return [
    { role: "system", text: `You are a careful assistant who knows all about ${topic}. `.repeat(8) },
    { role: "user", text: `${question} ${"Please explain it step by step. ".repeat(10)}` },
  ];
}

async function run(backend: ModelBackend, messages: ChatMessage[], pinSystem: boolean): Promise<Usage> {
  const request: GenerateRequest = { input: { kind: "chat", messages }, sampling: { temperature: 0 }, stop: [], maxTokens: 4 };
  if (pinSystem) request.cacheBreakpoints = [messages.slice(0, 1)];
  let usage: Usage | undefined;
  for await (const part of await backend.generate(request)) if (part.type === "finish") usage = part.usage;
  return usage!;
}

describe.skipIf(!hasTestModels)("explicit context cache in the in-process engine (tiny-qwen3moe, 1 slot, a fake clock)", () => {
  let nowMs = Date.UTC(2026, 11, 7, 12);
  let backend: CachedBackend;
  beforeAll(async () => {
    backend = (await createLlamaBackend({
      llama: await getTestLlama(),
      modelPath: testModelPath("tiny-qwen3moe.gguf"),
      contextTokens: 512,
      batchSize: 64,
      threads: 1,
      parallel: 1,
      // Room for two states of about 46 KB: other conversations push each other out.
      cacheRamBytes: 100 * 1024,
      now: () => nowMs,
      logger: pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" }),
    })) as CachedBackend;
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it("keeps a pinned prefix hot under LRU pressure from other conversations, while an unpinned one is evicted", async () => {
    const created = await run(backend, conversation("the moon", "How far is it?"), true);
    expect(created.cacheCreationInputTokens).toBeGreaterThan(32);
    expect(created.cacheReadInputTokens).toBe(0);
    const unpinned = await run(backend, conversation("the sea", "How deep is it?"), false);
    expect(unpinned.cacheCreationInputTokens).toBeUndefined();

    for (const topic of ["trees", "rivers", "birds", "stones", "clouds"]) await run(backend, conversation(topic, "What is it?"), false);
    expect(backend.prefixCacheStats()!.evictions).toBeGreaterThanOrEqual(3);
    expect(backend.prefixCacheStats()!.pinnedEvictions).toBe(0);

    // The unpinned conversation's system prompt was evicted: only the template's first tokens are shared.
    expect((await run(backend, conversation("the sea", "Is it cold?"), false)).cachedPromptTokens).toBeLessThan(32);
    // The pinned one reads its pin, and the engine really serves it from the cache.
    const hit = await run(backend, conversation("the moon", "Is it cold?"), true);
    expect(hit.cacheReadInputTokens).toBe(created.cacheCreationInputTokens);
    expect(hit.cacheCreationInputTokens).toBe(0);
    expect(hit.cachedPromptTokens).toBeGreaterThanOrEqual(hit.cacheReadInputTokens!);
  });

  it("renews the TTL on each hit and creates the pin again once 5 minutes passed without one", async () => {
    nowMs += explicitCacheTtlMs - 1_000;
    const renewed = await run(backend, conversation("the moon", "Is it far?"), true);
    expect(renewed.cacheReadInputTokens).toBeGreaterThan(32);
    nowMs += explicitCacheTtlMs - 1_000;
    expect((await run(backend, conversation("the moon", "Is it big?"), true)).cacheReadInputTokens).toBe(renewed.cacheReadInputTokens);
    nowMs += explicitCacheTtlMs;
    const again = await run(backend, conversation("the moon", "Is it old?"), true);
    expect(again.cacheReadInputTokens).toBe(0);
    expect(again.cacheCreationInputTokens).toBe(renewed.cacheReadInputTokens);
  });
});
