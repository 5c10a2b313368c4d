import { describe, expect, it } from "vitest";
import { estimateTokenizerProcessBytes } from "./memory-estimate.js";

const MiB = 1024 * 1024;

describe("estimateTokenizerProcessBytes", () => {
  it("covers the tokenizer process's measured resident set on both vocabularies of the test models (docs/engine.md)", () => {
    // The highest of three starts, after a long prompt: stories260K's vocabulary, then Qwen3's.
    expect(estimateTokenizerProcessBytes(512)).toBeGreaterThanOrEqual(100.1 * MiB);
    expect(estimateTokenizerProcessBytes(151_936)).toBeGreaterThanOrEqual(252.1 * MiB);
    expect(estimateTokenizerProcessBytes(151_936)).toBeLessThan(300 * MiB);
  });
});
