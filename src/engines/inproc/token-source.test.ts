import { describe, expect, it } from "vitest";
import { reusableEvaluationKey } from "./token-source.js";

const plain = { hasGrammar: false, logprobs: false };

describe("reusableEvaluationKey", () => {
  it("gives greedy requests one key, whatever their seed and top-k", () => {
    expect(reusableEvaluationKey({ temperature: 0, topK: 40, topP: 1, minP: 0 }, plain)).toBe("greedy");
    expect(reusableEvaluationKey({ temperature: 0, topK: 1, topP: 0.5, minP: 0, seed: 7 }, plain)).toBe("greedy");
  });

  it("keys sampled requests by temperature, top-k, top-p and min-p", () => {
    const key = reusableEvaluationKey({ temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 }, plain);
    expect(key).toBe(reusableEvaluationKey({ temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 }, plain));
    expect(key).not.toBe(reusableEvaluationKey({ temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05 }, plain));
    expect(key).not.toBe(reusableEvaluationKey({ temperature: 0.7, topK: 20, topP: 0.9, minP: 0.05 }, plain));
  });

  it("keeps no open evaluation for a seeded sampled request: its sampler must start from its seed", () => {
    expect(reusableEvaluationKey({ temperature: 0.7, topK: 40, topP: 1, minP: 0, seed: 1 }, plain)).toBeUndefined();
  });

  it("keeps none for grammars, logprobs, token bias or penalties, whose options an open evaluation cannot change", () => {
    const greedy = { temperature: 0, topK: 40, topP: 1, minP: 0 };
    expect(reusableEvaluationKey(greedy, { hasGrammar: true, logprobs: false })).toBeUndefined();
    expect(reusableEvaluationKey(greedy, { hasGrammar: false, logprobs: true })).toBeUndefined();
    expect(
      reusableEvaluationKey({ ...greedy, repeatPenalty: { punishTokens: () => [], penalty: 1, presencePenalty: 0.5 } }, plain),
    ).toBeUndefined();
    expect(reusableEvaluationKey({ ...greedy, tokenBias: () => undefined as never }, plain)).toBeUndefined();
  });
});
