import { describe, expect, test } from "vitest";
import { formatBytes, formatCount, formatSignificant, parseBandwidthBytesPerSecond, parseSizeBytes } from "./size-units.js";

describe("parseSizeBytes", () => {
  test.each([
    ["24GiB", 24 * 2 ** 30],
    ["24GB", 24e9],
    ["512MiB", 512 * 2 ** 20],
    ["1.5TB", 1.5e12],
    ["64G", 64 * 2 ** 30],
    ["64 gib", 64 * 2 ** 30],
    ["100KB", 100e3],
    ["2048B", 2048],
    ["0", 0],
  ])("%s", (text, bytes) => {
    expect(parseSizeBytes(text)).toBe(bytes);
  });

  test.each(["24", "GiB", "-1GiB", "24 gigs", "", "1e9B"])("refuses %j", (text) => {
    expect(() => parseSizeBytes(text)).toThrow(RangeError);
  });
});

describe("parseBandwidthBytesPerSecond", () => {
  test("a bare number is GB/s; units are accepted", () => {
    expect(parseBandwidthBytesPerSecond("80")).toBe(80e9);
    expect(parseBandwidthBytesPerSecond("3.35TB/s")).toBe(3.35e12);
    expect(parseBandwidthBytesPerSecond("900GB/s")).toBe(900e9);
    expect(() => parseBandwidthBytesPerSecond("0")).toThrow(RangeError);
    expect(() => parseBandwidthBytesPerSecond("fast")).toThrow(RangeError);
  });
});

describe("formatting", () => {
  test("bytes, counts and significant digits", () => {
    expect(formatBytes(980)).toBe("980 B");
    expect(formatBytes(17.3 * 2 ** 30)).toBe("17.3 GiB");
    expect(formatBytes(512 * 2 ** 20)).toBe("512 MiB");
    expect(formatCount(30_532_122_624)).toBe("30.5B");
    expect(formatCount(292_800)).toBe("293K");
    expect(formatCount(512)).toBe("512");
    expect(formatSignificant(0.012345)).toBe("0.0123");
    expect(formatSignificant(1234.5)).toBe("1235");
  });
});
