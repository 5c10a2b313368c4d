import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlamaModel } from "node-llama-cpp";
import { hasTestModels, testModelPath, getTestLlama } from "../../../test/helpers/models.js";
import { IncrementalDetokenizer } from "./incremental-detokenizer.js";

const texts = [
  "안녕하세요! 무엇을 도와드릴까요? 🌍",
  "Once upon a time, there was a little girl named Lily.",
  "emoji 👩‍👩‍👧‍👦 and 𝑭 and 日本語のテキスト — done.",
  "  leading spaces\n\nand\ttabs  ",
];

describe.skipIf(!hasTestModels)("IncrementalDetokenizer", () => {
  const models: LlamaModel[] = [];

  beforeAll(async () => {
    const llama = await getTestLlama();
    models.push(await llama.loadModel({ modelPath: testModelPath("tiny-qwen3moe.gguf") }));
    models.push(await llama.loadModel({ modelPath: testModelPath("stories260K.gguf") }));
  });
  afterAll(async () => {
    for (const model of models) await model.dispose();
  });

  it.each(texts)("streams token by token exactly the whole-text decoding of %j, never splitting a character", (text) => {
    for (const model of models) {
      const prompt = model.tokenize("Hello:", false);
      const tokens = model.tokenize(text, false);
      const detokenizer = new IncrementalDetokenizer(model, prompt);
      const pieces = tokens.map((token) => detokenizer.push(token));
      pieces.push(detokenizer.flush());
      const whole = model.detokenize([...prompt, ...tokens]).slice(model.detokenize(prompt).length);
      expect(pieces.join("")).toBe(whole);
      for (const piece of pieces) expect(piece).not.toContain("\uFFFD");
    }
  });

  it("splits a multi-byte character over byte tokens and emits it whole once complete", () => {
    const model = models[0]!;
    // Byte-level BPE: a rare emoji is several byte tokens; all but the last decode to an incomplete character.
    const tokens = model.tokenize("🪿", false);
    expect(tokens.length).toBeGreaterThan(1);
    const detokenizer = new IncrementalDetokenizer(model, []);
    const pieces = tokens.map((token) => detokenizer.push(token));
    expect(pieces.slice(0, -1).join("")).toBe("");
    expect(pieces.at(-1)).toBe("🪿");
  });
});
