import { describe, expect, it } from "vitest";
import { StopSequenceMatcher } from "./stop-sequence-matcher.js";

function run(stops: string[], pieces: string[]): { emitted: string[]; stopped: boolean } {
  const matcher = new StopSequenceMatcher(stops);
  const emitted: string[] = [];
  for (const piece of pieces) {
    const { text, stopped } = matcher.push(piece);
    emitted.push(text);
    if (stopped) return { emitted, stopped: true };
  }
  emitted.push(matcher.flush());
  return { emitted, stopped: false };
}

describe("StopSequenceMatcher", () => {
  it("passes text through when there are no stop sequences", () => {
    expect(run([], ["a", "b"])).toEqual({ emitted: ["a", "b", ""], stopped: false });
  });

  it("holds back a partial match and drops it when the match completes", () => {
    expect(run(["\n\n"], ["Hello\n", "\nWorld"])).toEqual({ emitted: ["Hello", ""], stopped: true });
  });

  it("releases held text when the match fails", () => {
    expect(run(["END"], ["abc E", "N", "x"])).toEqual({ emitted: ["abc ", "", "ENx", ""], stopped: false });
  });

  it("stops at the earliest of several stop sequences, found inside one piece", () => {
    expect(run(["b", "cd"], ["xxcdyyb"])).toEqual({ emitted: ["xx"], stopped: true });
    // And names it (Anthropic's stop_sequence).
    expect(new StopSequenceMatcher(["b", "cd"]).push("xxcdyyb")).toEqual({ text: "xx", stopped: true, stopSequence: "cd" });
  });

  it("flushes a partial match at the end of the text", () => {
    expect(run(["STOP"], ["go ST"])).toEqual({ emitted: ["go ", "ST"], stopped: false });
  });

  it("ignores empty stop sequences", () => {
    expect(run([""], ["a"])).toEqual({ emitted: ["a", ""], stopped: false });
  });
});
