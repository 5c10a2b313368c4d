import { describe, expect, it } from "vitest";
import { createRandomId, randomHex } from "./random-id.js";

describe("random ids", () => {
  it("gives the prefix and 24 hex digits, never the same twice, across refills of the pool", () => {
    const ids = Array.from({ length: 2000 }, () => createRandomId("chatcmpl-"));
    for (const id of ids) expect(id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("gives two hex digits per byte, for any count, larger than the pool too", () => {
    expect(randomHex(1)).toMatch(/^[0-9a-f]{2}$/);
    expect(randomHex(5000)).toMatch(/^[0-9a-f]{10000}$/);
    expect(randomHex(0)).toBe("");
  });
});
