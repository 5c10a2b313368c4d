import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ggufToolsSkipReason,
  hasGgufTools,
  qwen3_235b_a22b,
  qwen3_30b_a3b,
  writeQwen3MoeHeader,
} from "../../test/planner/gguf-fixtures.js";
import { classifyTensor, type ModelFacts } from "./model-facts.js";
import { readModelFacts } from "./read-model-facts.js";

const within = (actual: number, expected: number, fraction: number): void => {
  expect(Math.abs(actual - expected) / expected, `${actual} vs ${expected}`).toBeLessThanOrEqual(fraction);
};

describe("classifyTensor", () => {
  test.each([
    ["token_embd.weight", "input-embedding"],
    ["output.weight", "output"],
    ["output_norm.weight", "output"],
    ["blk.3.ffn_up_exps.weight", "routed-expert"],
    ["blk.3.ffn_gate_up_exps.weight", "routed-expert"],
    ["blk.3.ffn_down_chexps.weight", "routed-expert"],
    ["blk.3.ffn_up_shexp.weight", "shared-expert"],
    ["blk.3.ffn_gate_inp_shexp.weight", "shared-expert"],
    ["blk.3.ffn_gate_inp.weight", "layer"],
    ["blk.3.exp_probs_b.bias", "layer"],
    ["blk.3.attn_q.weight", "layer"],
    ["rope_freqs.weight", "other"],
  ])("%s is %s", (name, role) => {
    expect(classifyTensor(name).role).toBe(role);
  });
});

describe.skipIf(!hasGgufTools)("parameter counts from the real Qwen3 shapes (header-only GGUFs)", () => {
  let dir: string;
  let small: ModelFacts;
  let large: ModelFacts;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-facts-"));
    await writeQwen3MoeHeader(path.join(dir, "qwen3-30b-a3b.gguf"), qwen3_30b_a3b);
    await writeQwen3MoeHeader(path.join(dir, "qwen3-235b-a22b.gguf"), qwen3_235b_a22b);
    small = await readModelFacts(path.join(dir, "qwen3-30b-a3b.gguf"), { detectChat: false });
    large = await readModelFacts(path.join(dir, "qwen3-235b-a22b.gguf"), { detectChat: false });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("Qwen3-30B-A3B: 30.5B total and 3.3B active, within 3%", () => {
    within(small.parameters.total, 30.5e9, 0.03);
    within(small.parameters.active, 3.3e9, 0.03);
    expect(small.moe).toEqual({ expertCount: 128, expertUsedCount: 8, sharedExpertCount: 0, expertFeedForwardLength: 768 });
    expect(small.layerCount).toBe(48);
    expect(small.attention).toEqual({ headCount: 32, kvHeadCount: 4, keyLength: 128, valueLength: 128, layerCount: 48 });
    expect(small.fileType).toBe("Q4_K_M");
    expect(small.contextTokens).toBe(40960);
  });

  test("Qwen3-235B-A22B: 235B total and 22B active, within 3%", () => {
    within(large.parameters.total, 235e9, 0.03);
    within(large.parameters.active, 22e9, 0.03);
    expect(large.layerCount).toBe(94);
  });

  test("active = non-expert + used/count × routed experts", () => {
    for (const facts of [small, large]) {
      const nonExpert = facts.parameters.total - facts.parameters.routedExpert;
      expect(facts.parameters.active).toBeCloseTo(nonExpert + (8 / 128) * facts.parameters.routedExpert, -3);
    }
  });

  test("a Q4_K_M-like mix weighs what the published Q4_K_M files do (about 18.6 GB and 143 GB)", () => {
    within(small.weights.totalBytes, 18.6e9, 0.05);
    within(large.weights.totalBytes, 142.7e9, 0.05);
    expect(small.quantization.map((share) => share.type)).toEqual(["Q4_K", "Q6_K", "F32"]);
    // one token reads the non-expert weights, 8 of 128 experts and one embedding row
    const expected =
      small.weights.totalBytes -
      small.weights.inputEmbeddingBytes +
      small.weights.inputEmbeddingBytes / 151936 -
      small.weights.routedExpertBytes * (120 / 128);
    expect(small.activeBytesPerToken).toBeCloseTo(expected, 0);
  });
});
if (!hasGgufTools) test.skip(ggufToolsSkipReason, () => {});
