import { GgmlType } from "node-llama-cpp";
import { describe, expect, test } from "vitest";
import { getGgmlTypeLayout, tensorSizeBytes } from "./ggml-types.js";

describe("ggml type layouts", () => {
  test("bits per weight of the common types match ggml's block structs", () => {
    const bitsPerWeight = (type: GgmlType): number => {
      const layout = getGgmlTypeLayout(type);
      return (8 * layout.blockBytes) / layout.blockValues;
    };
    expect(bitsPerWeight(GgmlType.F32)).toBe(32);
    expect(bitsPerWeight(GgmlType.F16)).toBe(16);
    expect(bitsPerWeight(GgmlType.Q4_0)).toBe(4.5);
    expect(bitsPerWeight(GgmlType.Q8_0)).toBe(8.5);
    expect(bitsPerWeight(GgmlType.Q4_K)).toBe(4.5);
    expect(bitsPerWeight(GgmlType.Q6_K)).toBe(6.5625);
    expect(bitsPerWeight(GgmlType.IQ4_XS)).toBe(4.25);
  });

  test("tensor sizes are whole blocks", () => {
    expect(tensorSizeBytes(GgmlType.Q4_K, 2048 * 768)).toBe((2048 * 768 * 144) / 256);
    expect(tensorSizeBytes(GgmlType.Q4_0, 64)).toBe(36);
    expect(tensorSizeBytes(GgmlType.Q4_0, 33)).toBe(36);
  });

  test("a type llama.cpp removed is refused", () => {
    expect(() => getGgmlTypeLayout(GgmlType.Q4_2)).toThrow(/no longer supports/);
    expect(() => tensorSizeBytes(999, 1)).toThrow(/#999/);
  });
});
