import { describe, expect, it } from "vitest";
import { readSseData } from "./sse.js";

/** The `data:` values of `text` read in the pieces `cuts` makes, and the text left unfinished. */
function readInPieces(text: string, cuts: number[], stopAt?: string): { data: string[]; left: string } {
  const data: string[] = [];
  let pending = "";
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    pending = readSseData(pending, text.slice(from, cut), (value) => {
      if (value === stopAt) return false;
      data.push(value);
      return true;
    });
    from = cut;
  }
  return { data, left: pending };
}

describe("readSseData", () => {
  const text =
    'data: {"n":1}\n\n: a comment\n\nevent: x\ndata:{"n":2}\nid: 7\n\n\n\ndata: {"n":3}\n\ndata: [DONE]\n\ndata: {"n":4}\n\ndata: {"n"';

  it("gives each data line of each whole event, in order, however the text is cut, and keeps the unfinished event", () => {
    const whole = readInPieces(text, []);
    expect(whole).toEqual({ data: ['{"n":1}', '{"n":2}', '{"n":3}', "[DONE]", '{"n":4}'], left: 'data: {"n"' });
    // Every cut into two pieces, and every piece one character long: event ends split between reads included.
    for (let cut = 0; cut <= text.length; cut++) expect(readInPieces(text, [cut])).toEqual(whole);
    expect(
      readInPieces(
        text,
        Array.from({ length: text.length }, (_, index) => index),
      ),
    ).toEqual(whole);
  });

  it("stops at the value its callback refuses ([DONE]), reading nothing after it", () => {
    expect(readInPieces(text, [20], "[DONE]")).toEqual({ data: ['{"n":1}', '{"n":2}', '{"n":3}'], left: "" });
  });
});
