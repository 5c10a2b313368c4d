import { LlamaText, SpecialToken, SpecialTokensText } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { countPromptTokens, cutSlices, minimumTokens, promptLength, promptSegments } from "./tokenize-prompt.js";

describe("cutSlices", () => {
  it("cuts before a space that follows a word, keeps every character, and never exceeds the slice length", () => {
    const text = "alpha beta gamma delta epsilon zeta eta theta";
    const slices = [...cutSlices(text, 12)];
    expect(slices.join("")).toBe(text);
    for (const slice of slices) expect(slice.length).toBeLessThanOrEqual(12);
    expect(slices.slice(1).every((slice) => slice.startsWith(" "))).toBe(true);
  });

  it("cuts a text without whitespace on code point boundaries, never inside a surrogate pair", () => {
    const text = "🦄".repeat(50);
    const slices = [...cutSlices(text, 7)];
    expect(slices.join("")).toBe(text);
    for (const slice of slices) {
      expect(slice.length).toBeLessThanOrEqual(7);
      expect([...slice].every((char) => char === "🦄")).toBe(true);
    }
  });

  it("gives one slice for a short text and none for an empty one", () => {
    expect([...cutSlices("short", 100)]).toEqual(["short"]);
    expect([...cutSlices("", 100)]).toEqual([]);
  });
});

describe("minimumTokens and the prompt's length", () => {
  it("divides the bytes by the longest token, rounding up; 0 without a bound", () => {
    expect(minimumTokens(10, 4)).toBe(3);
    expect(minimumTokens(8, 4)).toBe(2);
    expect(minimumTokens(10, undefined)).toBe(0);
  });

  it("measures and splits a template's texts and special texts, counting built-in tokens apart", () => {
    const prompt = {
      kind: "template" as const,
      text: LlamaText([new SpecialToken("BOS"), new SpecialTokensText("<|im_start|>user\n"), "Hi", new SpecialTokensText("<|im_end|>")]),
    };
    expect(promptLength(prompt)).toBe("<|im_start|>user\n".length + 2 + "<|im_end|>".length);
    expect(promptSegments(prompt)).toEqual({
      segments: [
        { text: "<|im_start|>user\n", specialTokens: true },
        { text: "Hi", specialTokens: false },
        { text: "<|im_end|>", specialTokens: true },
      ],
      builtinTokens: 1,
    });
  });
});

describe("countPromptTokens", () => {
  // One token per word (a space starts a word), as a word-level tokenizer would count.
  const countWords = (text: string) => text.split(" ").filter((word) => word.length > 0).length;
  const words = (count: number) => Array.from({ length: count }, (_, index) => `w${index % 10}`).join(" ");

  it("refuses at once, without tokenizing, when the bytes alone exceed the bound", async () => {
    let calls = 0;
    const result = await countPromptTokens({
      segments: [{ text: "x".repeat(1000), specialTokens: false }],
      countTokens: () => ++calls,
      maxTokens: 99,
      longestTokenBytes: 10,
      sliceChars: 100,
      slackTokensPerSlice: 0,
    });
    expect(result).toEqual({ fits: "no", atLeastTokens: 100 });
    expect(calls).toBe(0);
  });

  it("stops at the first slice whose count, less the slack, proves the prompt too long", async () => {
    const sliced: string[] = [];
    const text = words(10_000); // 10,000 tokens in about 30,000 characters
    const result = await countPromptTokens({
      segments: [{ text, specialTokens: false }],
      countTokens: (slice) => {
        sliced.push(slice);
        return countWords(slice);
      },
      maxTokens: 1000,
      longestTokenBytes: undefined,
      sliceChars: 300,
      slackTokensPerSlice: 2,
    });
    expect(result.fits).toBe("no");
    // About 100 tokens per slice, less 2: the eleventh slice proves it (1,000 < 11 x 98), long before the end.
    expect(sliced.length).toBe(11);
    expect(result.fits === "no" && result.atLeastTokens).toBeGreaterThan(1000);
    expect(result.fits === "no" && result.atLeastTokens).toBeLessThanOrEqual(countWords(text));
  });

  it("adds the bound of the bytes not yet counted, and says maybe when nothing proves the prompt too long", async () => {
    const text = words(1000);
    const common = { segments: [{ text, specialTokens: false }], countTokens: countWords, sliceChars: 300, slackTokensPerSlice: 2 };
    expect(await countPromptTokens({ ...common, maxTokens: 1000, longestTokenBytes: undefined })).toEqual({ fits: "maybe" });
    const early = await countPromptTokens({ ...common, maxTokens: 600, longestTokenBytes: 3 });
    expect(early.fits).toBe("no");
  });

  it("stops when pause says the request was cancelled", async () => {
    let pauses = 0;
    const result = await countPromptTokens({
      segments: [{ text: words(1000), specialTokens: false }],
      countTokens: countWords,
      maxTokens: 10_000,
      longestTokenBytes: undefined,
      sliceChars: 300,
      slackTokensPerSlice: 2,
      pause: async () => ++pauses === 3,
    });
    expect(result).toEqual({ fits: "cancelled" });
    expect(pauses).toBe(3);
  });
});
