/**
 * The longest delay a Node timer holds, ms: 2^31 - 1, about 24.8 days (Node's `setTimeout` docs). A longer delay fires
 * after 1 ms instead, with a `TimeoutOverflowWarning`.
 */
export const maxTimerDelayMs = 2 ** 31 - 1;

const unitMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses a duration such as `90s`, `15m`, `12h`, `30d`, `2w` or `1h30m` (units ms, s, m, h, d, w) into ms. Returns
 * `undefined` when `text` is not one.
 */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(match[1]) * unitMs[match[2]!]!;
  return Math.round(total);
}

/**
 * Parses a point in time: epoch ms (`1767225600000`), an ISO 8601 date (`2026-01-01`, read as 00:00 UTC) or date-time,
 * or a duration before `nowMs` (`7d` means seven days ago). Returns `undefined` when `text` is none of these.
 */
export function parseInstantMs(text: string, nowMs: number): number | undefined {
  const trimmed = text.trim();
  if (/^\d{10,}$/.test(trimmed)) return Number(trimmed);
  const ago = parseDurationMs(trimmed);
  if (ago !== undefined) return nowMs - ago;
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return undefined;
  const parsed = Date.parse(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
  return Number.isNaN(parsed) ? undefined : parsed;
}
