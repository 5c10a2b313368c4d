import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { parseKeepAliveMs } from "./convert-request.js";

describe("parseKeepAliveMs (Ollama's keep_alive)", () => {
  it.each([
    [undefined, undefined],
    [null, undefined],
    [0, 0],
    [1.5, 1500],
    ["90", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    [-1, -1],
    ["-5m", -1],
  ] as const)("%s → %s ms", (value, expected) => {
    expect(parseKeepAliveMs(value)).toBe(expected);
  });

  it("reads a keep-alive longer than a timer can hold (about 24.8 days) as forever, not as 1 ms", () => {
    for (const value of [2 ** 53, 1e308, "100000h", 2_147_484]) expect(parseKeepAliveMs(value), String(value)).toBe(-1);
    expect(parseKeepAliveMs(2_147_483)).toBe(2_147_483_000);
  });

  it("refuses text that is neither seconds nor a duration, naming keep_alive", () => {
    expect(() => parseKeepAliveMs("soon")).toThrow(MoestroError);
    try {
      parseKeepAliveMs("soon");
    } catch (error) {
      expect((error as MoestroError).param).toBe("keep_alive");
    }
  });
});
