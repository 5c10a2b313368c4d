import { describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../../test/helpers/models.js";
import { createModelHeaderFactsReader } from "./model-header-facts.js";

describe.skipIf(!hasTestModels)("model header facts (the tiny GGUFs)", () => {
  const reader = createModelHeaderFactsReader();

  it("tells dense from MoE and a model that can think from one that cannot", async () => {
    expect(await reader.read(testModelPath("stories260K.gguf"))).toEqual({
      architecture: "llama",
      expertCount: undefined,
      expertUsedCount: undefined,
      canThink: false,
    });
    expect(await reader.read(testModelPath("stories260K-moe.gguf"))).toEqual({
      architecture: "llama",
      expertCount: 4,
      expertUsedCount: 2,
      canThink: false,
    });
    expect(await reader.read(testModelPath("tiny-qwen3moe.gguf"))).toEqual({
      architecture: "qwen3moe",
      expertCount: 8,
      expertUsedCount: 2,
      canThink: true,
    });
  });

  it("answers undefined for a missing file or one that is not a GGUF", async () => {
    expect(await reader.read(testModelPath("no-such-model.gguf"))).toBeUndefined();
    expect(await reader.read(new URL(import.meta.url).pathname)).toBeUndefined();
  });
});
