/** Number formatting shared by the console's pages. */

/** Bytes as a short figure with binary units: `1.5 GiB`, `912 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** A count as a short figure: `950`, `12.3K`, `3.35B`. */
export function formatCount(count: number): string {
  const steps: Array<[number, string]> = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [size, suffix] of steps) {
    if (Math.abs(count) >= size) {
      const value = count / size;
      return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)}${suffix}`;
    }
  }
  return Number.isInteger(count) ? String(count) : count.toFixed(1);
}

/** A whole number with thousands separators: `12,345`. */
export function formatInteger(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** US dollars as the CLI writes them (`$12.30`, `$0.0151`, `-$0.0142`): one function for both, in src/util. */
export { formatUsd } from "../../src/util/format-usd.js";

/**
 * Dollars as a chart's tick text: two significant digits and no trailing zeros (`$0`, `$0.005`, `$0.015`, `$1200`), so
 * that neighbouring ticks never read the same.
 */
export function formatUsdTick(usd: number): string {
  return usd === 0 ? "$0" : `$${Number(usd.toPrecision(2))}`;
}

/** A number with a fixed count of decimals, or `-` when unknown. */
export function formatFixed(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

/** A rate such as tokens per second: whole numbers with separators from 100 up, one decimal below; `-` when unknown. */
export function formatRate(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "-";
  return Math.abs(value) >= 100 ? formatInteger(value) : value.toFixed(1);
}

/** A share 0..1 as a percentage: `62.5%`. */
export function formatPercent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`;
}

/** A duration in ms as `850 ms`, `12.4 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** An epoch-ms time as local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (value: number): string => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** How far `epochMs` is from now: `in 4 min`, `12 s ago`. */
export function formatRelative(epochMs: number, nowMs = Date.now()): string {
  const delta = epochMs - nowMs;
  const text = formatDurationMs(Math.abs(delta)).replace(/ ms$/, " ms");
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}
