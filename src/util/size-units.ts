/**
 * Parsing and printing of sizes, bandwidths and counts with their units.
 *
 * Decimal units (`KB`, `MB`, `GB`, `TB`) are powers of 1000; binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024
 * (IEC 80000-13). The single letters `K`, `M`, `G`, `T` are read as binary, as `free -g`, `docker -m 4g` and llama.cpp's
 * logs do.
 */

const decimalUnits: Readonly<Record<string, number>> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
const binaryUnits: Readonly<Record<string, number>> = {
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

/**
 * Parses a memory size with its unit into bytes: `24GiB` → 25769803776, `24GB` → 24000000000, `512MiB`, `1.5TB`, `64G`.
 * Units are case-insensitive. A bare number is refused (is `24` bytes or GiB?) except `0`.
 *
 * @returns the size in whole bytes (rounded down).
 * @throws {RangeError} when the text is not a non-negative number followed by a known unit.
 */
export function parseSizeBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) throw new RangeError(`'${text}' is not a size; write it with a unit, such as 24GiB, 24GB or 512MiB.`);
  const value = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  if (unit === "") {
    if (value === 0) return 0;
    throw new RangeError(`'${text}' has no unit; write 24GiB (binary) or 24GB (decimal).`);
  }
  const multiplier = decimalUnits[unit] ?? binaryUnits[unit];
  if (multiplier === undefined)
    throw new RangeError(`'${text}' has an unknown unit '${match[2]}'; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB.`);
  return Math.floor(value * multiplier);
}

/**
 * Parses a memory bandwidth into bytes per second. A bare number is GB/s (10^9 bytes per second), as in
 * `--mem-bandwidth 80`; `GB/s`, `TB/s`, `MB/s`, `GiB/s` and `TB/s` suffixes are accepted too.
 *
 * @throws {RangeError} when the text is not a positive number with an optional known unit.
 */
export function parseBandwidthBytesPerSecond(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)(?:\/s)?\s*$/i.exec(text);
  if (!match) throw new RangeError(`'${text}' is not a bandwidth; write it in GB/s, such as 80 or 3.35TB/s.`);
  const value = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  const multiplier = unit === "" ? 1e9 : (decimalUnits[unit] ?? binaryUnits[unit]);
  if (multiplier === undefined) throw new RangeError(`'${text}' has an unknown unit '${match[2]}'; use GB/s or TB/s.`);
  if (!(value > 0)) throw new RangeError(`'${text}' must be more than 0.`);
  return value * multiplier;
}

/** Prints bytes with a binary unit and three significant digits: `17.3 GiB`, `512 MiB`, `980 B`. */
export function formatBytes(sizeBytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = sizeBytes;
  let index = 0;
  while (Math.abs(value) >= 1024 && index < units.length - 1) {
    value /= 1024;
    index++;
  }
  return `${index === 0 ? String(Math.round(value)) : formatSignificant(value)} ${units[index]}`;
}

/** Prints a bandwidth in GB/s (10^9 bytes per second): `3350 GB/s`, `28.4 GB/s`. */
export function formatBandwidth(bytesPerSecond: number): string {
  return `${formatSignificant(bytesPerSecond / 1e9)} GB/s`;
}

/** Prints a parameter (or any) count with a decimal suffix: `30.5B`, `3.35B`, `292.8K`, `512`. */
export function formatCount(count: number): string {
  const steps: Array<[number, string]> = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [size, suffix] of steps) if (Math.abs(count) >= size) return `${formatSignificant(count / size)}${suffix}`;
  return String(Math.round(count));
}

/** Prints a number with three significant digits and no exponent (`1234` → `1234`, `12.345` → `12.3`, `0.01234` → `0.0123`). */
export function formatSignificant(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, 2 - magnitude);
  return value
    .toFixed(decimals)
    .replace(/(\.\d*?)0+$/, "$1")
    .replace(/\.$/, "");
}
