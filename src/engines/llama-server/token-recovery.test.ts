import type { Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { TokenRecovery } from "./token-recovery.js";

/** A byte-level vocabulary in miniature: single bytes, a few whole pieces, one control token. */
const pieces: number[][] = [
  [0xf0], // 0
  [0x9f], // 1
  [0xa6], // 2
  [0x84], // 3
  [0xf0, 0x9f], // 4
  [0xa6, 0x84], // 5
  [...Buffer.from(" uni")], // 6
  [...Buffer.from("corn")], // 7
  [], // 8: control
];
const tokenBytes = (token: Token): number[] => pieces[token] ?? [];
const recovery = new TokenRecovery(tokenBytes, pieces.length, (token) => token === 8);

describe("TokenRecovery (tokens llama-server held back inside a UTF-8 character)", () => {
  it("finds the one held-back token of a split emoji from the chunk's text", () => {
    // 🦄 is F0 9F A6 84: the model wrote [F0 9F] (held back) then [A6 84] (sent with the whole character as text).
    expect(recovery.recover("🦄", [5 as Token], 1)).toEqual([4]);
  });

  it("splits several held-back tokens into vocabulary pieces with the same bytes", () => {
    const recovered = recovery.recover("🦄", [3 as Token], 2);
    expect(recovered).toHaveLength(2);
    expect(recovered.flatMap((token) => tokenBytes(token))).toEqual([0xf0, 0x9f, 0xa6]);
  });

  it("recovers nothing when the text does not end with the sent token's bytes, or the count cannot be met", () => {
    expect(recovery.recover("🦄", [7 as Token], 1)).toEqual([]);
    expect(recovery.recover("🦄", [5 as Token], 3)).toEqual([]);
  });
});
