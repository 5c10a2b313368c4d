import { MoestroError } from "../errors/index.js";
import { utcDay, type ApiKey, type BudgetPeriod, type UsageRepository } from "../store/index.js";

/** The budget period that contains `nowMs`, in UTC. */
export interface BudgetWindow {
  /** First day of the period, `YYYY-MM-DD`. */
  startDay: string;
  /** When the next period starts, epoch ms. */
  endsAtMs: number;
}

/**
 * The UTC calendar period of `period` that contains `nowMs`.
 * - `day`: today 00:00 UTC until tomorrow 00:00 UTC.
 * - `month`: the first of this month 00:00 UTC until the first of the next.
 */
export function budgetWindow(period: BudgetPeriod, nowMs: number): BudgetWindow {
  const now = new Date(nowMs);
  if (period === "day") {
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    return { startDay: utcDay(start), endsAtMs: start + 86_400_000 };
  }
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  return { startDay: utcDay(start), endsAtMs: Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) };
}

/** Checks API keys' budgets against the ledger. */
export interface BudgetGuard {
  /**
   * Lets a request of `key` start when what the key spent in the current period (streamed, non-streamed and aborted
   * requests alike, by the ledger's rollup) is below its budget. A request that starts under budget runs to its end, so
   * concurrent requests can pass the budget by their own cost: the check is "would start over budget", not a
   * reservation. Keys without a budget always pass.
   *
   * @throws {MoestroError} `insufficient_quota` (429) when the budget is spent.
   */
  check(key: ApiKey): Promise<void>;
}

/** Inputs of {@link createBudgetGuard}. */
export interface BudgetGuardOptions {
  /** The ledger. */
  usage: UsageRepository;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/** A {@link BudgetGuard} over the ledger's daily rollup (one indexed sum per check). */
export function createBudgetGuard(options: BudgetGuardOptions): BudgetGuard {
  const now = options.now ?? Date.now;
  return {
    async check(key) {
      if (key.budgetMicroUsd === undefined || key.budgetPeriod === undefined) return;
      const window = budgetWindow(key.budgetPeriod, now());
      const spentMicroUsd = await options.usage.spendSince(key.id, window.startDay);
      if (spentMicroUsd < key.budgetMicroUsd) return;
      throw new MoestroError(
        "insufficient_quota",
        `You exceeded your current quota: the key '${key.name}' has spent ${formatUsd(spentMicroUsd)} of its ${formatUsd(key.budgetMicroUsd)} ` +
          `${key.budgetPeriod === "day" ? "daily" : "monthly"} budget. The budget renews at ${new Date(window.endsAtMs).toISOString()}.`,
      );
    },
  };
}

/** `micro` micro-USD as dollars with up to 6 decimals, trailing zeros dropped (`$0.0125`). */
export function formatUsd(micro: number): string {
  const sign = micro < 0 ? "-" : "";
  const absolute = Math.abs(micro);
  const fraction = String(absolute % 1_000_000)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${sign}$${Math.floor(absolute / 1_000_000)}${fraction.length > 0 ? "." + fraction.padEnd(2, "0") : ".00"}`;
}

/**
 * Parses a dollar amount written in decimal (`12`, `0.5`, `0.000001`) into integer micro-USD, exactly (no float
 * arithmetic).
 *
 * @throws {MoestroError} `invalid_request` when it is not a non-negative decimal with at most 6 decimals.
 */
export function parseUsdToMicro(value: string): number {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(value.trim());
  if (match === null)
    throw new MoestroError("invalid_request", `'${value}' is not an amount in USD with at most 6 decimals.`, { param: "budget_usd" });
  return Number(match[1]) * 1_000_000 + Number((match[2] ?? "").padEnd(6, "0"));
}
