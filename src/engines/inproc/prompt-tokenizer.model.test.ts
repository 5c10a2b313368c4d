import { resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath, getTestLlama } from "../../../test/helpers/models.js";
import { toChatHistory } from "./chat-prompt.js";
import { PromptTokenizer } from "./prompt-tokenizer.js";
import { minimumTokens, tokenizePrompt, type PromptText } from "./tokenize-prompt.js";

const story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ";

describe.skipIf(!hasTestModels).each(["stories260K.gguf", "tiny-qwen3moe.gguf"])("PromptTokenizer on %s", (file) => {
  let model: LlamaModel;
  let tokenizer: PromptTokenizer;
  beforeAll(async () => {
    const llama = await getTestLlama();
    model = await llama.loadModel({ modelPath: testModelPath(file), vocabOnly: true });
    tokenizer = new PromptTokenizer({ model, modelPath: testModelPath(file), modelId: file, logger: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await tokenizer?.dispose();
    await model?.dispose();
  });

  it("gives a long prompt that may fit the same tokens as tokenizing it at once, for completions, chats and embeddings", async () => {
    const special = file.startsWith("tiny-qwen") ? "<|im_start|>" : "<s>";
    const long = `${story.repeat(150)}${special} and then ${story.repeat(50)}`; // about 19,000 characters
    const rendered = resolveChatWrapper(model).generateContextState({
      chatHistory: toChatHistory([
        { role: "system", text: "You tell stories." },
        { role: "user", text: long },
      ]),
    }).contextText;
    const prompts: PromptText[] = [
      { kind: "text", text: long, specialTokens: true, addBos: true },
      { kind: "text", text: long, specialTokens: false, addBos: false },
      { kind: "template", text: rendered },
    ];
    for (const prompt of prompts) {
      const result = await tokenizer.tokenize(prompt, { maxTokens: 1_000_000 });
      expect(result).toEqual({ tokens: tokenizePrompt(model, prompt) });
    }
  });

  it("refuses a prompt that cannot fit within a second, with a count that never exceeds the real one", async () => {
    const text = story.repeat(5000); // 465 KB
    const exact = tokenizePrompt(model, { kind: "text", text, specialTokens: true, addBos: true }).length;
    // A window the length bound cannot rule out: only counting can.
    const maxTokens = Math.max(Math.floor(exact / 4), minimumTokens(text.length, tokenizer.longestTokenBytes) + 1);
    expect(exact).toBeGreaterThan(maxTokens);
    const startedAt = performance.now();
    const result = await tokenizer.tokenize({ kind: "text", text, specialTokens: true, addBos: true }, { maxTokens });
    const elapsedMs = performance.now() - startedAt;
    expect("atLeastTokens" in result).toBe(true);
    const atLeast = (result as { atLeastTokens: number }).atLeastTokens;
    expect(atLeast).toBeGreaterThan(maxTokens);
    expect(atLeast).toBeLessThanOrEqual(exact);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it("refuses at once a prompt whose length alone exceeds the window, at any size", async () => {
    const startedAt = performance.now();
    const result = await tokenizer.tokenize(
      { kind: "text", text: "🦄".repeat(8_000_000), specialTokens: true, addBos: true },
      { maxTokens: 4095 },
    );
    expect("atLeastTokens" in result && result.atLeastTokens).toBeGreaterThan(4095);
    expect(performance.now() - startedAt).toBeLessThan(50);
  });

  it("stops counting an aborted prompt, and tokenizes the next one", async () => {
    const controller = new AbortController();
    const text = "🦄 ".repeat(3_000_000);
    const aborted = tokenizer
      .tokenize({ kind: "text", text, specialTokens: false, addBos: false }, { maxTokens: 100_000_000, signal: controller.signal })
      .catch((error: unknown) => error);
    setTimeout(() => controller.abort(new Error("client gone")), 100);
    const startedAt = performance.now();
    expect(await aborted).toMatchObject({ message: "client gone" });
    expect(performance.now() - startedAt).toBeLessThan(1000);
    const next = await tokenizer.tokenize(
      { kind: "text", text: story.repeat(100), specialTokens: false, addBos: false },
      { maxTokens: 100_000 },
    );
    expect("tokens" in next && next.tokens.length).toBeGreaterThan(1000);
  });
});
