import type BetterSqlite3 from "better-sqlite3";
import type { Kysely, Selectable } from "kysely";
import type { Database, UsageDailyTable } from "./database.js";
import { prepareCompiled, slotsFor } from "./sqlite-statement.js";
import type { LedgerWrites } from "./usage-ledger-kysely.js";
import * as statements from "./usage-writes.js";
import type { BudgetBound, StartOutcome, UsageEventRow } from "./usage-writes.js";

/** Carries a refusal out of a better-sqlite3 transaction, which rolls back on a throw. */
class Refusal extends Error {
  constructor(readonly outcome: StartOutcome) {
    super("reservation refused");
  }
}

/**
 * The ledger's writes on SQLite: the statements of `usage-writes.ts` compiled once by Kysely, prepared by
 * better-sqlite3 and run synchronously, each write in one better-sqlite3 transaction (no Kysely round trip on the
 * response's path). A reservation runs in `BEGIN IMMEDIATE`, which takes SQLite's write lock before it reads the key's
 * use, so that no other connection, in this process or another, commits a reservation between the read and the write.
 */
export function createSqliteLedgerWrites(db: Kysely<Database>, sqlite: BetterSqlite3.Database): LedgerWrites {
  const rowSlots = slotsFor<UsageEventRow>(statements.usageEventColumns);
  const insertEvent = prepareCompiled<UsageEventRow>(sqlite, statements.insertUsageEvent(db, rowSlots));
  const upsertDaily = prepareCompiled<Selectable<UsageDailyTable>>(
    sqlite,
    statements.upsertUsageDaily(db, slotsFor(statements.usageDailyColumns)),
  );
  const settleRunning = prepareCompiled<UsageEventRow>(
    sqlite,
    statements.updateUsageEvent(db, statements.settledColumns, rowSlots, { whileRunning: true }),
  );
  const settleAny = prepareCompiled<UsageEventRow>(
    sqlite,
    statements.updateUsageEvent(db, statements.settledColumns, rowSlots, { whileRunning: false }),
  );
  const beat = prepareCompiled<UsageEventRow>(sqlite, statements.updateHeartbeat(db, rowSlots));
  const selectRow = prepareCompiled<{ request_id: string }>(sqlite, statements.selectUsageEvent(db, slotsFor(["request_id"])));
  const budgetUse = prepareCompiled<{ key_id: string; day: string }>(sqlite, statements.selectBudgetUse(db, slotsFor(["key_id", "day"])));

  const insertUnderFreeId = (row: UsageEventRow): string => {
    if (insertEvent.run(row).changes === 1) return row.request_id;
    const requestId = statements.alternativeRequestId(row.request_id);
    insertEvent.run({ ...row, request_id: requestId });
    return requestId;
  };
  const record = sqlite.transaction((row: UsageEventRow): string => {
    const requestId = insertUnderFreeId(row);
    upsertDaily.run(statements.dailyValuesOf(row));
    return requestId;
  });
  const start = sqlite.transaction((row: UsageEventRow, budget: BudgetBound | undefined): string => {
    const requestId = insertUnderFreeId(row);
    if (budget !== undefined) {
      const use = statements.readBudgetUse(budgetUse.get({ key_id: row.key_id ?? "", day: budget.fromDay }));
      const refused = statements.checkReservation(use, row, budget);
      if (refused !== undefined) throw new Refusal(refused);
    }
    return requestId;
  });
  const heartbeat = sqlite.transaction((rows: UsageEventRow[]): void => {
    for (const row of rows) beat.run(row);
  });
  const settle = sqlite.transaction((row: UsageEventRow, lateFromInterrupted: boolean): boolean => {
    if (settleRunning.run(row).changes === 1) {
      upsertDaily.run(statements.dailyValuesOf(row));
      return true;
    }
    if (!lateFromInterrupted) return false;
    const before = selectRow.get<UsageEventRow>(row);
    if (before === undefined) {
      insertUnderFreeId(row);
      upsertDaily.run(statements.dailyValuesOf(row));
      return true;
    }
    if (before.status !== "interrupted") return false;
    settleAny.run(row);
    upsertDaily.run(statements.dailyDifference(before, row));
    return true;
  });

  return {
    record: (row) => record(row),
    start(row, budget) {
      try {
        return { admitted: true, requestId: budget === undefined ? start(row, undefined) : start.immediate(row, budget) };
      } catch (error) {
        if (error instanceof Refusal) return error.outcome;
        throw error;
      }
    },
    heartbeat: (rows) => heartbeat(rows),
    settle: (row, options) => settle(row, options.lateFromInterrupted),
  };
}
