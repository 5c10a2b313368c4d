import { describe, expect, it } from "vitest";
import { defaultCacheRamBytes, estimateTokenizerProcessBytes, maxDefaultCacheRamBytes } from "./memory-estimate.js";

const MiB = 1024 * 1024;

describe("estimateTokenizerProcessBytes", () => {
  it("covers the tokenizer process's measured resident set on both vocabularies of the test models (docs/engine.md)", () => {
    // The highest of three starts, after a long prompt: stories260K's vocabulary, then Qwen3's.
    expect(estimateTokenizerProcessBytes(512)).toBeGreaterThanOrEqual(100.1 * MiB);
    expect(estimateTokenizerProcessBytes(151_936)).toBeGreaterThanOrEqual(252.1 * MiB);
    expect(estimateTokenizerProcessBytes(151_936)).toBeLessThan(300 * MiB);
  });
});

describe("defaultCacheRamBytes", () => {
  it("is the slots' KV cache: 8 KiB a token x 4,096 tokens x 4 slots is 128 MiB for the 735M test MoE", () => {
    expect(defaultCacheRamBytes(8192, 4096, 4)).toBe(128 * MiB);
  });
  it("stops at llama-server's own default of 8 GiB", () => {
    // Qwen3-30B-A3B: 96 KiB a token, 32,768 tokens x 4 slots would be 12 GiB.
    expect(defaultCacheRamBytes(98_304, 32_768, 4)).toBe(maxDefaultCacheRamBytes);
    expect(maxDefaultCacheRamBytes).toBe(8192 * MiB);
  });
});
