import { describe, expect, it } from "vitest";
import { parseDurationMs, parseInstantMs } from "./duration.js";

describe("parseDurationMs", () => {
  it("reads ms, s, m, h, d and w, combined", () => {
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("90s")).toBe(90_000);
    expect(parseDurationMs("1h30m")).toBe(5_400_000);
    expect(parseDurationMs("30d")).toBe(30 * 86_400_000);
    expect(parseDurationMs("2w")).toBe(14 * 86_400_000);
    expect(parseDurationMs("1.5h")).toBe(5_400_000);
    for (const bad of ["", "10", "h", "5 years", "-1d"]) expect(parseDurationMs(bad), bad).toBeUndefined();
  });
});

describe("parseInstantMs", () => {
  const now = Date.parse("2026-03-10T12:00:00Z");
  it("reads epoch ms, ISO dates (00:00 UTC) and date-times, and durations before now", () => {
    expect(parseInstantMs("1767225600000", now)).toBe(1_767_225_600_000);
    expect(parseInstantMs("2026-03-01", now)).toBe(Date.parse("2026-03-01T00:00:00Z"));
    expect(parseInstantMs("2026-03-01T06:00:00+02:00", now)).toBe(Date.parse("2026-03-01T04:00:00Z"));
    expect(parseInstantMs("7d", now)).toBe(now - 7 * 86_400_000);
    for (const bad of ["yesterday", "2026-13-45", "12"]) expect(parseInstantMs(bad, now), bad).toBeUndefined();
  });
});
