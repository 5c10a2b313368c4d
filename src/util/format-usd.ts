/**
 * US dollars as moestro writes them, in the CLI and the console alike: two decimals from $1, else three significant
 * digits in plain decimals (toPrecision would write `7.3e-7` below a micro-dollar, a local request's cost), the sign
 * before the dollar sign: `$12.30`, `$0.0151`, `-$0.0142`, `$0.000000730`, `$0`. Pure, so the console's bundle takes it too.
 */
export function formatUsd(usd: number): string {
  if (usd === 0) return "$0";
  const sign = usd < 0 ? "-" : "";
  const magnitude = Math.abs(usd);
  return `${sign}$${magnitude >= 1 ? magnitude.toFixed(2) : magnitude.toFixed(Math.min(12, 2 - Math.floor(Math.log10(magnitude))))}`;
}
