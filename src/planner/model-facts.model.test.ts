import { describe, expect, test } from "vitest";
import { hasTestModels, skipReason, testModelPath } from "../../test/helpers/models.js";
import { readModelFacts } from "./read-model-facts.js";

describe.skipIf(!hasTestModels)("the tiny shared models", () => {
  test("stories260K-moe: llama MoE, 4 experts top-2, no chat template", async () => {
    const facts = await readModelFacts(testModelPath("stories260K-moe.gguf"));
    expect(facts.architecture).toBe("llama");
    expect(facts.moe).toMatchObject({ expertCount: 4, expertUsedCount: 2 });
    expect(facts.layerCount).toBe(5);
    expect(facts.vocabularySize).toBe(512);
    expect(facts.contextTokens).toBe(512);
    expect(facts.chat).toEqual({ hasTemplate: false, templateFamily: null, supportsThinking: false, supportsTools: false });
    expect(facts.parameters.active).toBeLessThan(facts.parameters.total);
    expect(facts.fileSizeBytes).toBe(1506208);
  });

  test("tiny-qwen3moe: Qwen 3 template with thinking and tools", async () => {
    const facts = await readModelFacts(testModelPath("tiny-qwen3moe.gguf"));
    expect(facts.architecture).toBe("qwen3moe");
    expect(facts.moe).toMatchObject({ expertCount: 8, expertUsedCount: 2 });
    expect(facts.vocabularySize).toBe(151936);
    expect(facts.chat).toEqual({ hasTemplate: true, templateFamily: "Qwen 3", supportsThinking: true, supportsTools: true });
    expect(facts.fileType).toBe("Q4_0");
  });

  test("tiny-qwen35moe: hybrid, 1 attention layer and 3 recurrent, a shared expert", async () => {
    const facts = await readModelFacts(testModelPath("tiny-qwen35moe.gguf"));
    expect(facts.attention.layerCount).toBe(1);
    expect(facts.recurrent?.layerCount).toBe(3);
    // (d_conv - 1) × (d_inner + 2 × groups × d_state) + d_state × d_inner, F32, per recurrent layer
    expect(facts.recurrent?.stateBytesPerSequence).toBe(3 * ((4 - 1) * (64 + 2 * 2 * 16) + 16 * 64) * 4);
    expect(facts.moe?.sharedExpertCount).toBe(1);
    expect(facts.parameters.sharedExpert).toBeGreaterThan(0);
    expect(facts.chat.templateFamily).toBe("Qwen 3.5");
  });

  test("a missing file is model_not_found", async () => {
    await expect(readModelFacts(testModelPath("no-such-model.gguf"))).rejects.toMatchObject({ code: "model_not_found" });
  });
});
if (!hasTestModels) test.skip(skipReason, () => {});
