import { describe, expect, it } from "vitest";
import { BackOff, shouldSpeculate } from "./speculation.js";

/** The draft lengths of `steps` steps where the model accepts `accept(drafted)` of each draft. */
function lengths(backOff: BackOff, steps: number, accept: (drafted: number) => number): number[] {
  const seen: number[] = [];
  for (let step = 0; step < steps; step++) {
    const drafted = backOff.draftTokens();
    seen.push(drafted);
    backOff.record(drafted, accept(drafted));
  }
  return seen;
}

describe("BackOff", () => {
  it("starts with 4 drafted tokens and doubles up to the most while every draft is accepted", () => {
    expect(lengths(new BackOff(0.3, 16), 5, (drafted) => drafted)).toEqual([4, 8, 16, 16, 16]);
    expect(lengths(new BackOff(0.3, 3), 3, (drafted) => drafted)).toEqual([3, 3, 3]);
  });

  it("drafts the accepted part plus one after a draft rejected in part", () => {
    expect(lengths(new BackOff(0, 16), 4, (drafted) => Math.min(drafted, 2))).toEqual([4, 3, 3, 3]);
  });

  it("pauses 16 steps after a window of rejected drafts, then 32, 64 ... up to 512 after one-step probes, and resets after a good one", () => {
    const backOff = new BackOff(0.3, 16);
    const rejectAll = lengths(backOff, 4 + 16 + 1 + 32 + 1, () => 0);
    // A window: 4 drafting steps (4, then 1, 1, 1 tokens); then a pause of 16 steps; a one-step probe; a pause of 32.
    expect(rejectAll.slice(0, 4)).toEqual([4, 1, 1, 1]);
    expect(rejectAll.slice(4, 20).every((drafted) => drafted === 0)).toBe(true);
    expect(rejectAll.slice(20, 21)).toEqual([1]);
    expect(rejectAll.slice(21, 53).every((drafted) => drafted === 0)).toBe(true);
    expect(rejectAll.slice(53)).toEqual([1]);
    // Then 64 paused steps; a probe accepted whole brings the pause back to 16, and the draft length grows again.
    expect(lengths(backOff, 64, () => 0).every((drafted) => drafted === 0)).toBe(true);
    expect(lengths(backOff, 4, (drafted) => drafted)).toEqual([1, 2, 4, 8]);
    // Rejected again from then on: the window that began with those drafts passes (14 of 30 accepted), then a window
    // of 4 steps fails, and the pause is 16 steps again, not 256.
    const afterGood = lengths(backOff, 22, () => 0);
    expect(afterGood.slice(0, 5)).toEqual([16, 1, 1, 1, 1]);
    expect(afterGood.slice(5, 21).every((drafted) => drafted === 0)).toBe(true);
    expect(afterGood[21]).toBe(1);
  });

  it("never pauses with minAcceptance 0", () => {
    expect(lengths(new BackOff(0, 16), 40, () => 0).every((drafted) => drafted > 0)).toBe(true);
  });
});

describe("shouldSpeculate", () => {
  const base = { byDefault: true, sampling: { temperature: 0 }, hasGrammar: false };
  it("follows the request's switch, else the model's default", () => {
    expect(shouldSpeculate(base)).toBe(true);
    expect(shouldSpeculate({ ...base, speculative: false })).toBe(false);
    expect(shouldSpeculate({ ...base, byDefault: false })).toBe(false);
    expect(shouldSpeculate({ ...base, byDefault: false, speculative: true })).toBe(true);
  });
  it("leaves out logprobs, grammars, penalties and seeded sampling", () => {
    expect(shouldSpeculate({ ...base, logprobs: { top: 0 } })).toBe(false);
    expect(shouldSpeculate({ ...base, hasGrammar: true })).toBe(false);
    expect(shouldSpeculate({ ...base, sampling: { temperature: 0, frequencyPenalty: 0.5 } })).toBe(false);
    expect(shouldSpeculate({ ...base, sampling: { temperature: 0.7, seed: 1 } })).toBe(false);
    expect(shouldSpeculate({ ...base, sampling: { temperature: 0, seed: 1 } })).toBe(true);
    expect(shouldSpeculate({ ...base, sampling: { temperature: 0.7 } })).toBe(true);
  });
});
