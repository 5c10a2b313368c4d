import type { LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import { createTokenBytes } from "./token-bytes.js";

describe.skipIf(!hasTestModels)("createTokenBytes on Qwen's vocabulary", () => {
  let model: LlamaModel;
  let tokenBytes: (token: Token) => number[];
  beforeAll(async () => {
    model = await (await getTestLlama()).loadModel({ modelPath: testModelPath("tiny-qwen3moe.gguf"), vocabOnly: true });
    tokenBytes = createTokenBytes(model);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("gives every token the bytes of its text in an answer: none for control and unused ([PAD…]) tokens", () => {
    // 151789 is `[PAD151789]`, type 5 (unused); 151645 `<|im_end|>`, type 3 (control); 151667 `<think>`, type 4 (user
    // defined, written in the text). A random-weight model samples [PAD…] entries now and then (the C18 test saw one).
    for (const id of [151789, 151645, 151667, 9707, 0] as Token[])
      expect(Buffer.from(tokenBytes(id)).toString("utf8"), String(id)).toBe(model.detokenize([id], false));
    expect(tokenBytes(151789 as Token)).toEqual([]);
  });
});
