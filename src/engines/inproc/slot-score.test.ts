import { describe, expect, it } from "vitest";
import { slotScore } from "./llama-backend.js";

describe("slotScore", () => {
  it("prefers the slot holding more of the prompt when little of its history is lost", () => {
    // A conversation's follow-up on its own slot: the slot's last reply differs from the one sent.
    expect(slotScore(700, 720)).toBeGreaterThan(slotScore(0, 0));
    // The same short prompt again: 17 shared tokens, 20 generated ones lost.
    expect(slotScore(17, 37)).toBeGreaterThan(slotScore(0, 0));
  });

  it("prefers an empty slot to another conversation's history for a few shared tokens (a template's preamble)", () => {
    expect(slotScore(16, 710)).toBeLessThan(slotScore(0, 0));
  });

  it("among equal scores, prefers the slot holding fewer tokens", () => {
    expect(slotScore(0, 0)).toBeGreaterThan(slotScore(0, 10));
    // Histories too short to be worth keeping (under 32 tokens) are not counted as lost.
    expect(slotScore(5, 20)).toBeGreaterThan(slotScore(5, 30));
  });
});
