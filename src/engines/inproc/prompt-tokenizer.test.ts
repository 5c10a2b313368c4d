import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LlamaModel } from "node-llama-cpp";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { PromptTokenizer, type PromptTokenizerOptions } from "./prompt-tokenizer.js";
import type { PromptText } from "./tokenize-prompt.js";

// A model whose longest token has 4 bytes and whose tokenizer gives one token per character.
const fakeModel = {
  fileInfo: { metadata: { tokenizer: { ggml: { model: "gpt2", tokens: ["a", "bb", "cccc"] } } } },
  tokenize: (text: string) => Array.from(text, (_, index) => index),
  tokens: { bos: null, shouldPrependBosToken: false },
} as unknown as LlamaModel;
const fakeProcess = new URL("../../../test/helpers/fake-tokenizer-process.js", import.meta.url);
const text = (length: number): PromptText => ({ kind: "text", text: "x".repeat(length), specialTokens: true, addBos: true });
/**
 * Resolves once the stand-in process is ready and idle: it answers a long prompt that cannot fit at once, in every
 * mode but "crash" and "fail" (200 characters are at least 50 tokens by length, so only the process can refuse them).
 */
const whenReady = async (tokenizer: PromptTokenizer): Promise<void> => {
  expect(await tokenizer.tokenize(text(200), { maxTokens: 100 })).toEqual({ atLeastTokens: 200 });
};

describe("PromptTokenizer (with a stand-in tokenizer process)", () => {
  const tokenizers: PromptTokenizer[] = [];
  const create = (
    mode: string,
    options: Pick<PromptTokenizerOptions, "maxQueuedPrompts" | "cancelGraceMs" | "maxTokenizeMs"> = {},
  ): PromptTokenizer => {
    const tokenizer = new PromptTokenizer({
      model: fakeModel,
      modelPath: mode,
      modelId: "fake",
      logger: pino({ level: "silent" }),
      inlineMaxChars: 16,
      processScript: fakeProcess,
      ...options,
    });
    tokenizers.push(tokenizer);
    return tokenizer;
  };
  afterEach(async () => {
    for (const tokenizer of tokenizers.splice(0)) await tokenizer.dispose();
  });

  it("tokenizes a short prompt at once, and bounds a long one by its length before any process sees it", async () => {
    const tokenizer = create("hold");
    expect(tokenizer.longestTokenBytes).toBe(4);
    expect(await tokenizer.tokenize(text(10), { maxTokens: 100 })).toEqual({ tokens: Array.from({ length: 10 }, (_, index) => index) });
    // 400 characters are at least 100 tokens of at most 4 bytes: over 99, refused although the process never answers.
    expect(await tokenizer.tokenize(text(400), { maxTokens: 99 })).toEqual({ atLeastTokens: 100 });
  });

  it("sends a long prompt that may fit to the process, and returns its tokens or its bound", async () => {
    const tokenizer = create("echo");
    const result = await tokenizer.tokenize(text(40), { maxTokens: 100 });
    expect("tokens" in result && result.tokens.length).toBe(40);
    expect(await tokenizer.tokenize(text(200), { maxTokens: 100 })).toEqual({ atLeastTokens: 200 });
  });

  it("queues long prompts one at a time, answers server_busy beyond the queue, and frees an aborted prompt's place", async () => {
    const tokenizer = create("hold", { maxQueuedPrompts: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    await whenReady(tokenizer);
    // Sent to the idle process at once, which holds it.
    const first = tokenizer.tokenize(text(40), { maxTokens: 100, signal: running.signal });
    const firstOutcome = first.catch((error: unknown) => error);
    const second = tokenizer.tokenize(text(40), { maxTokens: 100, signal: queued.signal }).catch((error: unknown) => error);
    const busy = await tokenizer.tokenize(text(40), { maxTokens: 100 }).catch((error: unknown) => error);
    expect(busy).toBeInstanceOf(MoestroError);
    expect(busy).toMatchObject({ code: "server_busy", status: 503 });

    queued.abort(new Error("client gone"));
    expect(await second).toMatchObject({ message: "client gone" });
    running.abort(new Error("client gone too"));
    expect(await firstOutcome).toMatchObject({ message: "client gone too" });
    // The place is free again: a new prompt is queued (and held), not refused.
    const third = new AbortController();
    const thirdOutcome = tokenizer.tokenize(text(40), { maxTokens: 100, signal: third.signal }).catch((error: unknown) => error);
    third.abort(new Error("done"));
    expect(await thirdOutcome).toMatchObject({ message: "done" });
  });

  it("kills a process that does not let a cancelled prompt go, and gives the next prompt a new process", async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), "moestro-tokenizer-"));
    try {
      const tokenizer = create(`block-once:${path.join(directory, "blocked")}`, { cancelGraceMs: 50 });
      await whenReady(tokenizer);
      const running = new AbortController();
      const blocked = tokenizer.tokenize(text(40), { maxTokens: 100, signal: running.signal }).catch((error: unknown) => error);
      running.abort(new Error("client gone"));
      expect(await blocked).toMatchObject({ message: "client gone" });
      // Without the kill, this prompt would wait behind the blocked one for ever.
      const next = await tokenizer.tokenize(text(40), { maxTokens: 100 });
      expect("tokens" in next && next.tokens.length).toBe(40);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("refuses a prompt that holds the process past maxTokenizeMs with a 400, and gives the next prompt a new process", async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), "moestro-tokenizer-"));
    try {
      const tokenizer = create(`block-once:${path.join(directory, "blocked")}`, { maxTokenizeMs: 100 });
      const error = await tokenizer.tokenize(text(40), { maxTokens: 100, param: "messages" }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MoestroError);
      expect(error).toMatchObject({ code: "invalid_request", status: 400, param: "messages" });
      expect((error as Error).message).toMatch(/took more than 0\.1 s to tokenize/);
      const next = await tokenizer.tokenize(text(40), { maxTokens: 100 });
      expect("tokens" in next && next.tokens.length).toBe(40);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("fails the prompt a crashed process held with a clear error, and starts a new process for the next", async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), "moestro-tokenizer-"));
    try {
      const tokenizer = create(`crash-once:${path.join(directory, "crashed")}`);
      const error = await tokenizer.tokenize(text(40), { maxTokens: 100 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/tokenizer process of model 'fake' exited \(code 3.*while it tokenized a prompt/);
      const next = await tokenizer.tokenize(text(40), { maxTokens: 100 });
      expect("tokens" in next && next.tokens.length).toBe(40);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("fails long prompts with the reason when the process cannot load the model", async () => {
    const tokenizer = create("fail");
    const error = await tokenizer.tokenize(text(40), { maxTokens: 100 }).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/could not load the model: no such model/);
  });

  it("fails held prompts with server_unavailable on dispose, and refuses new ones", async () => {
    const tokenizer = create("hold");
    const held = tokenizer.tokenize(text(40), { maxTokens: 100 }).catch((error: unknown) => error);
    await tokenizer.dispose();
    expect(await held).toMatchObject({ code: "server_unavailable", status: 503 });
    await expect(tokenizer.tokenize(text(4), { maxTokens: 100 })).rejects.toMatchObject({ code: "server_unavailable" });
  });

  it("disposes at once when its process could not be spawned (no pid, no 'exit' event)", async () => {
    const execPath = process.execPath;
    let tokenizer: PromptTokenizer;
    // fork() runs process.execPath: a missing one fails the spawn (ENOENT), reported by an 'error' event only.
    process.execPath = path.join(os.tmpdir(), "moestro-no-such-node");
    try {
      tokenizer = create("echo");
    } finally {
      process.execPath = execPath;
    }
    const timeout = new Promise((resolve) => setTimeout(() => resolve("still waiting"), 5000).unref());
    expect(await Promise.race([tokenizer.dispose().then(() => "disposed"), timeout])).toBe("disposed");
  });
});
