import { describe, expect, it } from "vitest";
import { loadConfig } from "./load-config.js";

describe("models[].speculative", () => {
  it("reads prompt lookup and draft-model settings from MOESTRO_MODELS or the config file", () => {
    const models = JSON.stringify([
      { path: "a.gguf", speculative: { type: "ngram", maxDraftTokens: 8, byDefault: false } },
      { path: "b.gguf", speculative: { type: "draft", draftModel: "small.gguf", minAcceptance: 0.5 } },
    ]);
    const config = loadConfig({ env: { MOESTRO_MODELS: models } });
    expect(config.models[0]!.speculative).toEqual({ type: "ngram", maxDraftTokens: 8, byDefault: false });
    expect(config.models[1]!.speculative).toEqual({ type: "draft", draftModel: "small.gguf", minAcceptance: 0.5 });
  });

  it("refuses a draft without its model, an unknown type and out-of-range numbers, naming the key", () => {
    const load = (speculative: unknown) => () => loadConfig({ env: { MOESTRO_MODELS: JSON.stringify([{ path: "a.gguf", speculative }]) } });
    expect(load({ type: "draft" })).toThrow(/models\.0\.speculative\.draftModel/);
    expect(load({ type: "eagle" })).toThrow(/models\.0\.speculative\.type/);
    expect(load({ type: "ngram", maxDraftTokens: 0 })).toThrow(/models\.0\.speculative\.maxDraftTokens/);
    expect(load({ type: "draft", draftModel: "s.gguf", minConfidence: 2 })).toThrow(/models\.0\.speculative\.minConfidence/);
  });
});
