import { describe, expect, it } from "vitest";
import {
  extractChoiceLetter,
  extractFinalAnswer,
  findBoxedContents,
  isAnswerMatch,
  isNumericAnswer,
  normalizeAnswerText,
  parseAnswerNumber,
  stripThinking,
} from "./answer-extraction.js";

describe("extractChoiceLetter", () => {
  it.each([
    ["Answer: C", "C", "answer-line"],
    ["answer: c is wrong, so\nAnswer: B", "B", "answer-line"],
    ["Let me think.\n\n**Answer:** D", "D", "answer-line"],
    ["The correct answer is (C).", "C", "answer-line"],
    ["Final answer: **A**", "A", "answer-line"],
    ["The answer is: Option B", "B", "answer-line"],
    ["So it must be \\boxed{C}.", "C", "boxed"],
    ["\\boxed{\\text{D}} and then Answer: A", "D", "boxed"],
    ["I pick (B) because of X.", "B", "parenthesised"],
    ["C", "C", "bare"],
    ["Reasoning...\nB.", "B", "bare"],
    ["(D)", "D", "parenthesised"],
  ])("reads %j as %s (%s)", (response, letter, form) => {
    expect(extractChoiceLetter(response, 4)).toEqual({ answer: letter, form });
  });

  it.each([
    ["no idea"],
    ["The answer is a trick question."],
    ["Answer: E"], // only A-D are choices
    [""],
  ])("finds nothing in %j", (response) => {
    expect(extractChoiceLetter(response, 4)).toBeUndefined();
  });

  it("takes the last answer line when the model corrects itself", () => {
    expect(extractChoiceLetter("Answer: A\nWait, that is wrong.\nAnswer: D", 4)?.answer).toBe("D");
  });
});

describe("extractFinalAnswer and isAnswerMatch", () => {
  it.each([
    ["17 * 23 = 391.\nAnswer: 391", true, "391", "answer-line"],
    ["The total is \\boxed{1,275}.", true, "1,275", "boxed"],
    ["Natalia sold 48 + 24 = 72 clips.\n#### 72", true, "72", "gsm8k"],
    ["First 12 * 24 = 288, minus 37 gives 251 rolls.", true, "251", "last-number"],
    ["Answer: **Canberra**.", false, "Canberra", "answer-line"],
    ["Canberra", false, "Canberra", "bare"],
  ])("reads %j", (response, isNumeric, answer, form) => {
    expect(extractFinalAnswer(response, { isNumeric })).toEqual({ answer, form });
  });

  it("finds nothing in a multi-line text answer without a marker", () => {
    expect(extractFinalAnswer("It could be\nmany things", { isNumeric: false })).toBeUndefined();
    expect(
      extractFinalAnswer("is an idea. It is a small bird. It is a small bird. All the animaginations and the birds.", { isNumeric: false }),
    ).toBeUndefined();
    expect(extractFinalAnswer("no numbers here", { isNumeric: true })).toBeUndefined();
  });

  it("does not take 'the answer, ...' for a marker", () => {
    expect(extractFinalAnswer("To find the answer, add 2 and 3 to get 5.", { isNumeric: true })).toEqual({
      answer: "5",
      form: "last-number",
    });
  });

  it("compares numbers by value and text after normalisation", () => {
    expect(isAnswerMatch("1,000", "1000")).toBe(true);
    expect(isAnswerMatch("$17.3", "17.30")).toBe(true);
    expect(isAnswerMatch("3/4", "0.75")).toBe(true);
    expect(isAnswerMatch("42 apples", "42")).toBe(true);
    expect(isAnswerMatch("41", "42")).toBe(false);
    expect(isAnswerMatch("It is 72", "Natalia sold 48/2 = 24 clips in May.\n#### 72")).toBe(true);
    expect(isAnswerMatch("  CANBERRA. ", "Canberra")).toBe(true);
    expect(isAnswerMatch("nacl", "NaCl")).toBe(true);
    expect(isAnswerMatch("Sydney", "Canberra")).toBe(false);
  });

  it("recognises numeric answers", () => {
    for (const answer of ["42", "-3.5", "1,234", "$12", "75%", "3/4", "x #### 7"]) expect(isNumericAnswer(answer)).toBe(true);
    for (const answer of ["Canberra", "NaCl", "3 apples"]) expect(isNumericAnswer(answer)).toBe(false);
    expect(parseAnswerNumber("between 3 and 5")).toBe(5);
    expect(parseAnswerNumber("1/0")).toBeUndefined();
    expect(normalizeAnswerText(' "Paris." ')).toBe("paris");
  });
});

describe("stripThinking and findBoxedContents", () => {
  it("removes thoughts, closed or opened by the template", () => {
    expect(stripThinking("<think>Answer: A</think>\n\nAnswer: B")).toBe("Answer: B");
    expect(stripThinking("the template opened it. Answer: A</think>Answer: C")).toBe("Answer: C");
    expect(stripThinking("Answer: D<think>never closed")).toBe("Answer: D");
    expect(stripThinking("plain")).toBe("plain");
  });

  it("balances braces", () => {
    expect(findBoxedContents("\\boxed{\\frac{1}{2}} and \\boxed{x}")).toEqual(["\\frac{1}{2}", "x"]);
    expect(findBoxedContents("\\boxed{unclosed")).toEqual([]);
  });
});
