import { MoestroError } from "../errors/index.js";
import type { UsageBudget } from "../spec/index.js";
import { utcDay, type ApiKey, type BudgetPeriod, type BudgetUse, type UsageRepository } from "../store/index.js";

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

/**
 * Checks API keys' budgets against the ledger before a request is read. This is the cheap first check; the promise is
 * kept by the reservation each request takes when it is admitted (the ledger's `start`, with the key's
 * {@link budgetOf}): its worst-case cost, held until it ends.
 */
export interface BudgetGuard {
  /**
   * Lets a request of `key` go on when what the key committed in the current period (the ledger's settled costs, plus
   * the reservations of its running requests) is below its budget. Keys without a budget always pass.
   *
   * @throws {MoestroError} `insufficient_quota` (429) when the budget is committed.
   */
  check(key: ApiKey): Promise<void>;
}

/** The budget of `key` as the ledger reserves against it; `undefined` when the key has none. */
export function budgetOf(key: ApiKey): UsageBudget | undefined {
  if (key.budgetMicroUsd === undefined || key.budgetPeriod === undefined) return undefined;
  return { keyName: key.name, limitMicroUsd: key.budgetMicroUsd, period: key.budgetPeriod };
}

/**
 * The 429 `insufficient_quota` error of a budget: what the key spent and has reserved in the period, and when the
 * budget renews; with `requestMicroUsd`, what the refused request could have cost (its reservation).
 */
export function insufficientQuota(budget: UsageBudget, use: BudgetUse, atMs: number, requestMicroUsd?: number): MoestroError {
  const reserved = use.reservedMicroUsd > 0 ? ` (plus ${formatUsd(use.reservedMicroUsd)} reserved by its running requests)` : "";
  const request = requestMicroUsd === undefined ? "" : `, and this request could cost up to ${formatUsd(requestMicroUsd)}`;
  return new MoestroError(
    "insufficient_quota",
    `You exceeded your current quota: the key '${budget.keyName}' has spent ${formatUsd(use.spentMicroUsd)}${reserved} of its ` +
      `${formatUsd(budget.limitMicroUsd)} ${budget.period === "day" ? "daily" : "monthly"} budget${request}. ` +
      `The budget renews at ${new Date(budgetWindow(budget.period, atMs).endsAtMs).toISOString()}.`,
  );
}

/** Inputs of {@link createBudgetGuard}. */
export interface BudgetGuardOptions {
  /** The ledger. */
  usage: UsageRepository;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/** A {@link BudgetGuard} over the ledger: one statement per check (the rollup's sum and the running reservations). */
export function createBudgetGuard(options: BudgetGuardOptions): BudgetGuard {
  const now = options.now ?? Date.now;
  return {
    async check(key) {
      const budget = budgetOf(key);
      if (budget === undefined) return;
      const atMs = now();
      const use = await options.usage.budgetUse(key.id, budgetWindow(budget.period, atMs).startDay);
      if (use.spentMicroUsd + use.reservedMicroUsd < budget.limitMicroUsd) return;
      throw insufficientQuota(budget, use, atMs);
    },
  };
}

/** What a key with a budget has committed in its current period, as `keys ls` and the admin API's key list show it. */
export interface KeyBudgetUse {
  /** First day of the current period, `YYYY-MM-DD` (UTC). */
  periodStartDay: string;
  /** When the budget renews (the next period starts), epoch ms. */
  renewsAtMs: number;
  /** Settled spend in the period, micro-USD: what the budget guard compares with the budget. */
  spentMicroUsd: number;
  /** Worst-case costs reserved by the key's running requests, micro-USD. */
  reservedMicroUsd: number;
}

/**
 * What `key` has committed against its budget in the period that contains `nowMs`, read from the ledger as the budget
 * guard reads it (one statement); `undefined` for a key without a budget.
 */
export async function readKeyBudgetUse(usage: UsageRepository, key: ApiKey, nowMs: number): Promise<KeyBudgetUse | undefined> {
  const budget = budgetOf(key);
  if (budget === undefined) return undefined;
  const window = budgetWindow(budget.period, nowMs);
  const use = await usage.budgetUse(key.id, window.startDay);
  return {
    periodStartDay: window.startDay,
    renewsAtMs: window.endsAtMs,
    spentMicroUsd: use.spentMicroUsd,
    reservedMicroUsd: use.reservedMicroUsd,
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
