import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FinishReason, GenerateInput, GenerateRequest, ModelBackend } from "../../spec/index.js";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import { createLlamaBackend } from "./llama-backend.js";
import type { PrefixCacheStats } from "./prefix-cache.js";
import type { SharedPrefillStats } from "./shared-prefill.js";

type SharingBackend = ModelBackend & { sharedPrefillStats(): SharedPrefillStats | undefined };

interface Outcome {
  text: string;
  cached: number;
  finishReason: FinishReason | undefined;
}

/** One greedy generation: its text, the prompt tokens it took from a cache, how it ended. */
async function run(backend: ModelBackend, input: GenerateInput, signal?: AbortSignal): Promise<Outcome> {
  const request: GenerateRequest = { input, sampling: { temperature: 0 }, stop: [], maxTokens: 12, signal };
  const outcome: Outcome = { text: "", cached: -1, finishReason: undefined };
  for await (const part of await backend.generate(request)) {
    if (part.type === "text-delta") outcome.text += part.text;
    if (part.type === "finish") {
      outcome.cached = part.usage.cachedPromptTokens ?? 0;
      outcome.finishReason = part.finishReason;
    }
  }
  return outcome;
}

async function load(options: { cacheRamBytes: number; sharedPrefill?: boolean }): Promise<SharingBackend> {
  return (await createLlamaBackend({
    llama: await getTestLlama(),
    modelPath: testModelPath("stories260K.gguf"),
    contextTokens: 512,
    batchSize: 64,
    threads: 1,
    parallel: 4,
    cacheRamBytes: options.cacheRamBytes,
    sharedPrefill: options.sharedPrefill,
    logger: pino({ level: process.env.MOESTRO_TEST_LOG ?? "silent" }),
  })) as SharingBackend;
}

// A system prompt of about 330 stories260K tokens: its prefill takes a few hundred ms on one thread, so requests sent
// together all arrive while the first one evaluates it.
const system =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball. One day, she saw a big dog near the tree. The dog was sad because he lost his bone. Lily wanted to help him, so she looked under the bench and behind the slide. " +
  "Tom and Sue went to the beach with their mom. They wanted to build a big castle out of sand. Tom got a bucket and Sue got a spade. They worked very hard all morning. Then a big wave came and the castle fell down. Sue started to cry, but Tom had an idea. " +
  "There was a small bird who lived in a tall tree. Every morning the bird sang a happy song for the animals of the forest. One cold day the bird could not sing, because it was too cold. The rabbit and the fox brought the bird a warm blanket made of leaves. " +
  "Ben had a toy car that he loved very much. It was blue and fast and it made a loud noise. One day Ben took the car to school to show his friends.";
const questions = ["Where is the dog?", "What did Tom do?", "Why was the bird sad?", "Where is the car?"];
const chat = (question: string): GenerateInput => ({
  kind: "chat",
  messages: [
    { role: "system", text: system },
    { role: "user", text: question },
  ],
});

describe.skipIf(!hasTestModels)("a shared system prompt across parallel sequences (stories260K, 4 slots)", () => {
  let sharing: SharingBackend;
  let cold: SharingBackend;
  let reference: Outcome[];
  let systemTokens: number;
  beforeAll(async () => {
    sharing = await load({ cacheRamBytes: 64 * 2 ** 20 });
    // The reference: each request alone, one after the other, without the prefix cache (nor shared prefills).
    cold = await load({ cacheRamBytes: 0 });
    reference = [];
    for (const question of questions) reference.push(await run(cold, chat(question)));
    systemTokens = await cold.countPromptTokens!({ input: chat(""), sampling: {}, stop: [] });
  });
  afterAll(async () => {
    await sharing?.dispose();
    await cold?.dispose();
  });

  it("evaluates the shared prompt once: the three followers report it as cached, and answer as sequential cold runs", async () => {
    expect(cold.sharedPrefillStats()).toBeUndefined();
    const results = await Promise.all(questions.map((question) => run(sharing, chat(question))));
    expect(results.map((result) => result.text)).toEqual(reference.map((result) => result.text));
    const followers = results.filter((result) => result.cached > 0);
    expect(followers).toHaveLength(3);
    // What the prompts share: the template's preamble and the system prompt, less the few tokens that end the
    // (empty) user turn of `systemTokens`'s prompt.
    for (const follower of followers) {
      expect(follower.cached).toBeGreaterThan(systemTokens - 10);
      expect(follower.cached).toBeLessThanOrEqual(systemTokens + 10);
    }
    expect(sharing.sharedPrefillStats()).toEqual({ shared: 1, followers: 3, missed: 0 });
  });

  it("a waiter cancelled while it waits ends at once, and the others still get the shared state", async () => {
    // A system prompt the cache does not hold yet.
    const otherSystem = `The end. ${system}`;
    const input = (question: string): GenerateInput => ({
      kind: "chat",
      messages: [
        { role: "system", text: otherSystem },
        { role: "user", text: question },
      ],
    });
    const alone = [];
    for (const question of questions) alone.push(await run(cold, input(question)));
    const before = sharing.sharedPrefillStats()!;
    const lead = run(sharing, input(questions[0]!));
    // The lead is evaluating its prompt (a few hundred ms) when the others arrive.
    await sleep(30);
    const controller = new AbortController();
    const cancelled = run(sharing, input(questions[1]!), controller.signal);
    const others = [run(sharing, input(questions[2]!)), run(sharing, input(questions[3]!))];
    await sleep(20);
    controller.abort();
    const cancelledOutcome = await cancelled;
    expect(cancelledOutcome.finishReason).toBe("abort");
    expect(cancelledOutcome.text).toBe("");
    const [leadOutcome, ...followers] = await Promise.all([lead, ...others]);
    expect(leadOutcome!.text).toBe(alone[0]!.text);
    expect(followers.map((result) => result.text)).toEqual([alone[2]!.text, alone[3]!.text]);
    for (const follower of followers) expect(follower.cached).toBeGreaterThan(systemTokens - 10);
    const after = sharing.sharedPrefillStats()!;
    expect(after.shared - before.shared).toBe(1);
    expect(after.followers - before.followers).toBe(2);
  });

  it("a lead cancelled during its prompt step still shares it: its prompt step cannot be stopped", async () => {
    const thirdSystem = `The very end. ${system}`;
    const input = (question: string): GenerateInput => ({
      kind: "chat",
      messages: [
        { role: "system", text: thirdSystem },
        { role: "user", text: question },
      ],
    });
    const alone = [];
    for (const question of questions.slice(1)) alone.push(await run(cold, input(question)));
    const before = sharing.sharedPrefillStats()!;
    const controller = new AbortController();
    const lead = run(sharing, input(questions[0]!), controller.signal);
    await sleep(30);
    const followers = questions.slice(1).map((question) => run(sharing, input(question)));
    await sleep(20);
    controller.abort();
    expect((await lead).finishReason).toBe("abort");
    const outcomes = await Promise.all(followers);
    expect(outcomes.map((result) => result.text)).toEqual(alone.map((result) => result.text));
    for (const outcome of outcomes) expect(outcome.cached).toBeGreaterThan(systemTokens - 10);
    expect(sharing.sharedPrefillStats()!.followers - before.followers).toBe(3);
  });

  it("shares a state larger than the prefix cache's budget: pinned while the followers load it, evicted after", async () => {
    // A state of ~450 stories260K tokens takes about 300 KB (656 bytes a token).
    const small = (await createLlamaBackend({
      llama: await getTestLlama(),
      modelPath: testModelPath("stories260K.gguf"),
      contextTokens: 512,
      batchSize: 64,
      threads: 1,
      parallel: 4,
      cacheRamBytes: 100 * 1024,
      logger: pino({ level: "silent" }),
    })) as SharingBackend & { prefixCacheStats(): PrefixCacheStats | undefined };
    try {
      const results = await Promise.all(questions.map((question) => run(small, chat(question))));
      expect(results.map((result) => result.text)).toEqual(reference.map((result) => result.text));
      expect(results.filter((result) => result.cached > systemTokens - 10)).toHaveLength(3);
      const stats = small.prefixCacheStats()!;
      expect(stats.restores).toBe(3);
      expect(stats.usedBytes).toBeLessThanOrEqual(stats.budgetBytes);
    } finally {
      await small.dispose();
    }
  });

  it("is off with sharedPrefill: false: each request evaluates the whole prompt", async () => {
    const off = await load({ cacheRamBytes: 64 * 2 ** 20, sharedPrefill: false });
    try {
      expect(off.sharedPrefillStats()).toBeUndefined();
      const results = await Promise.all(questions.map((question) => run(off, chat(question))));
      expect(results.map((result) => result.text)).toEqual(reference.map((result) => result.text));
      expect(results.map((result) => result.cached).filter((cached) => cached > 1)).toEqual([]);
    } finally {
      await off.dispose();
    }
  });
});

describe.skipIf(!hasTestModels)("shared prefills on a hybrid model (tiny-qwen35moe)", () => {
  it("are off, as the prefix cache is: a follower would keep part of a state whose recurrent layers hold the whole prompt", async () => {
    const backend = (await createLlamaBackend({
      llama: await getTestLlama(),
      modelPath: testModelPath("tiny-qwen35moe.gguf"),
      contextTokens: 512,
      batchSize: 64,
      threads: 1,
      parallel: 2,
      cacheRamBytes: 16 * 2 ** 20,
      logger: pino({ level: "silent" }),
    })) as SharingBackend;
    try {
      expect(backend.sharedPrefillStats()).toBeUndefined();
    } finally {
      await backend.dispose();
    }
  });
});
