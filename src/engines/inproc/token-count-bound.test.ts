import { describe, expect, it } from "vitest";
import { longestTokenBytes } from "./token-count-bound.js";

describe("longestTokenBytes", () => {
  it("counts a byte-level BPE token's characters as bytes (Ġ is one space), and control tokens by their UTF-8", () => {
    expect(longestTokenBytes({ model: "gpt2", tokens: ["a", "ĠĠĠĠ", "hello"], tokenTypes: [1, 1, 1] })).toBe(5);
    expect(longestTokenBytes({ model: "gpt2", tokens: ["ĠĠĠĠ", "<|im_start|>"], tokenTypes: [1, 3] })).toBe(12);
  });

  it("counts a SentencePiece piece's UTF-8 bytes (▁ is three), and a byte token as one byte", () => {
    expect(longestTokenBytes({ model: "llama", tokens: ["<0x41>", "▁the", "ab"], tokenTypes: [6, 1, 1] })).toBe(6);
    expect(longestTokenBytes({ model: "llama", tokens: ["<0x41>", "ab"], tokenTypes: [6, 1] })).toBe(2);
  });

  it("treats tokens without a type as normal, and a normal BPE piece outside the byte alphabet by its UTF-8", () => {
    expect(longestTokenBytes({ model: "gpt2", tokens: ["ab", "日本"] })).toBe(6);
  });

  it("gives no bound for tokenizers that normalize their input, or a vocabulary the file does not list", () => {
    expect(longestTokenBytes({ model: "bert", tokens: ["a"] })).toBeUndefined();
    expect(longestTokenBytes({ model: "t5", tokens: ["a"] })).toBeUndefined();
    expect(longestTokenBytes({ model: "gpt2" })).toBeUndefined();
    expect(longestTokenBytes({})).toBeUndefined();
  });
});
