import { QwenChatWrapper } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { GenerateRequest, ModelBackend } from "../../spec/index.js";
import { hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import { loadTestBackend } from "../../../test/helpers/server.js";

describe.skipIf(!hasTestModels)("RequestPreparer on the Qwen3 template", () => {
  let backend: ModelBackend;
  beforeAll(async () => {
    backend = await loadTestBackend({ modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 512, script: () => "Hi" });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it("renders the prompt of the n choices of one request once: they share its input", async () => {
    const render = vi.spyOn(QwenChatWrapper.prototype, "generateContextState");
    try {
      const input = { kind: "chat" as const, messages: [{ role: "user" as const, text: "Hello there" }] };
      const choice = (seed: number): GenerateRequest => ({ input, sampling: { seed }, stop: [], maxTokens: 8 });
      const promptTokens: number[] = [];
      for (const seed of [1, 2, 3]) {
        const stream = await backend.generate(choice(seed));
        promptTokens.push(stream.promptTokens);
        for await (const _part of stream);
      }
      expect(render).toHaveBeenCalledTimes(1);
      expect(new Set(promptTokens).size).toBe(1);
      // Another input is rendered again.
      await (await backend.generate({ ...choice(1), input: { ...input } })).close();
      expect(render).toHaveBeenCalledTimes(2);
    } finally {
      render.mockRestore();
    }
  });
});
