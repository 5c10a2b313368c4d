import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utcDay } from "./usage-record.js";

describe("utcDay", () => {
  it("is the day of the ISO string, for any instant of years 0 to 9999", () => {
    // 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
    const instant = fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 });
    fc.assert(
      fc.property(instant, (epochMs) => {
        expect(utcDay(epochMs)).toBe(new Date(epochMs).toISOString().slice(0, 10));
      }),
      { numRuns: 20_000 },
    );
  });

  it("turns the day at midnight UTC, leap days included", () => {
    expect(utcDay(Date.UTC(2024, 1, 29, 23, 59, 59, 999))).toBe("2024-02-29");
    expect(utcDay(Date.UTC(2024, 2, 1))).toBe("2024-03-01");
    expect(utcDay(Date.UTC(2100, 1, 28, 23, 59, 59, 999))).toBe("2100-02-28");
    expect(utcDay(Date.UTC(2100, 2, 1))).toBe("2100-03-01");
    expect(utcDay(0)).toBe("1970-01-01");
    expect(utcDay(-1)).toBe("1969-12-31");
  });
});
