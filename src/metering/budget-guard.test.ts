import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import type { UsageRepository } from "../store/index.js";
import { budgetWindow, createBudgetGuard, formatUsd, parseUsdToMicro } from "./budget-guard.js";

describe("budget periods", () => {
  it("are UTC calendar days and months", () => {
    const now = Date.parse("2026-02-28T23:30:00Z");
    expect(budgetWindow("day", now)).toEqual({ startDay: "2026-02-28", endsAtMs: Date.parse("2026-03-01T00:00:00Z") });
    expect(budgetWindow("month", now)).toEqual({ startDay: "2026-02-01", endsAtMs: Date.parse("2026-03-01T00:00:00Z") });
    expect(budgetWindow("month", Date.parse("2026-12-31T12:00:00Z")).endsAtMs).toBe(Date.parse("2027-01-01T00:00:00Z"));
  });
});

describe("the budget guard", () => {
  const spentBy = (spent: number, calls: Array<[string, string]> = [], reserved = 0): UsageRepository =>
    ({
      budgetUse: async (keyId: string, fromDay: string) => {
        calls.push([keyId, fromDay]);
        return { spentMicroUsd: spent, reservedMicroUsd: reserved };
      },
    }) as unknown as UsageRepository;
  const key = { id: "key_1", name: "team", prefix: "mst-x", createdAtMs: 0, budgetMicroUsd: 1_000_000, budgetPeriod: "month" as const };
  const now = () => Date.parse("2026-04-10T08:00:00Z");

  it("lets a request start while the period's spend is under the budget, from the period's first day", async () => {
    const calls: Array<[string, string]> = [];
    await createBudgetGuard({ usage: spentBy(999_999, calls), now }).check(key);
    expect(calls).toEqual([["key_1", "2026-04-01"]]);
  });

  it("refuses it at or over the budget with 429 insufficient_quota, saying when it renews", async () => {
    const error = await createBudgetGuard({ usage: spentBy(1_000_000), now })
      .check(key)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MoestroError);
    expect(error).toMatchObject({ code: "insufficient_quota", status: 429, retryAfterSeconds: undefined });
    expect((error as Error).message).toContain("$1.00 of its $1.00 monthly budget");
    expect((error as Error).message).toContain("2026-05-01T00:00:00.000Z");
  });

  it("counts the reservations of running requests as committed", async () => {
    await createBudgetGuard({ usage: spentBy(600_000, [], 399_999), now }).check(key);
    const error = await createBudgetGuard({ usage: spentBy(600_000, [], 400_000), now })
      .check(key)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "insufficient_quota", status: 429 });
    expect((error as Error).message).toContain("$0.60 (plus $0.40 reserved by its running requests) of its $1.00 monthly budget");
  });

  it("never reads the ledger for keys without a budget", async () => {
    const calls: Array<[string, string]> = [];
    await createBudgetGuard({ usage: spentBy(1e12, calls), now }).check({ id: "key_2", name: "free", prefix: "mst-y", createdAtMs: 0 });
    expect(calls).toEqual([]);
  });
});

describe("dollar amounts", () => {
  it("parse exactly into micro-USD and print back", () => {
    expect(parseUsdToMicro("12")).toBe(12_000_000);
    expect(parseUsdToMicro("0.1")).toBe(100_000);
    expect(parseUsdToMicro("0.000001")).toBe(1);
    expect(parseUsdToMicro(" 1.5 ")).toBe(1_500_000);
    for (const bad of ["-1", "1.2345678", "abc", "1e3", ""]) expect(() => parseUsdToMicro(bad), bad).toThrow(MoestroError);
    expect(formatUsd(1_500_000)).toBe("$1.50");
    expect(formatUsd(1)).toBe("$0.000001");
    expect(formatUsd(1_234_567)).toBe("$1.234567");
    expect(formatUsd(0)).toBe("$0.00");
  });
});
