import { describe, expect, it } from "vitest";
import type { Token } from "node-llama-cpp";
import { createRandom, sampleToken } from "./sampling.js";

const distribution = new Map<Token, number>([
  [10 as Token, 0.5],
  [11 as Token, 0.3],
  [12 as Token, 0.15],
  [13 as Token, 0.05],
]);

function frequencies(options: Parameters<typeof sampleToken>[1], draws = 4000): Map<number, number> {
  const random = createRandom(7);
  const counts = new Map<number, number>();
  for (let draw = 0; draw < draws; draw++) {
    const token = sampleToken(distribution, options, random);
    counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  return counts;
}

describe("sampleToken", () => {
  it("is greedy at temperature 0", () => {
    expect(sampleToken(distribution, { temperature: 0 }, Math.random)).toBe(10);
  });

  it("follows the distribution at temperature 1", () => {
    const counts = frequencies({ temperature: 1 });
    expect(counts.get(10)! / 4000).toBeCloseTo(0.5, 1);
    expect(counts.get(13)! / 4000).toBeCloseTo(0.05, 1);
  });

  it("applies top-k, top-p and min-p", () => {
    expect([...frequencies({ topK: 2 }).keys()].sort()).toEqual([10, 11]);
    expect([...frequencies({ topP: 0.6 }).keys()].sort()).toEqual([10, 11]);
    expect([...frequencies({ minP: 0.5 }).keys()].sort()).toEqual([10, 11]);
  });

  it("is reproducible with a seed", () => {
    const first = createRandom(42);
    const second = createRandom(42);
    const draws = Array.from({ length: 10 }, () => [sampleToken(distribution, {}, first), sampleToken(distribution, {}, second)]);
    for (const [a, b] of draws) expect(a).toBe(b);
  });
});
