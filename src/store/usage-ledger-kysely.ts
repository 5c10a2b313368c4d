import { sql, type Kysely } from "kysely";
import type { Database } from "./database.js";
import * as statements from "./usage-writes.js";
import type { BudgetBound, StartOutcome, UsageEventRow } from "./usage-writes.js";

/**
 * The ledger's writes, each one transaction. Two implementations run the same SQL (`usage-writes.ts`): this one over
 * Kysely (PostgreSQL), and the synchronous one over prepared statements (SQLite, `usage-ledger-sqlite.ts`).
 */
export interface LedgerWrites {
  /** Appends a settled row and adds it to its day's rollup; a taken request id is stored as `id:uuid`. Returns the id used. */
  record(row: UsageEventRow): Promise<string> | string;
  /**
   * Inserts a running row (under `id:uuid` when the id is taken). With `budget`, atomically: only when the key's settled
   * spend plus the reservations of its running rows, this one's included, stay within the limit; refused, nothing is
   * stored.
   */
  start(row: UsageEventRow, budget: BudgetBound | undefined): Promise<StartOutcome> | StartOutcome;
  /** Writes the counters and the heartbeat time of `rows`, while each is running. */
  heartbeat(rows: UsageEventRow[]): Promise<void> | void;
  /**
   * Settles a running row with the final values of `row` and adds it to the rollup. When the row is not running any
   * more, nothing happens, except with `lateFromInterrupted`: a row another instance marked `interrupted` takes its real
   * end and the rollup the difference; a row that is missing is inserted settled. Returns whether anything changed.
   */
  settle(row: UsageEventRow, options: { lateFromInterrupted: boolean }): Promise<boolean> | boolean;
}

/** Carries a refusal out of a Kysely transaction, which rolls back on a throw. */
class Refusal extends Error {
  constructor(readonly outcome: StartOutcome) {
    super("reservation refused");
  }
}

/**
 * The ledger's writes over Kysely, on PostgreSQL. A reservation first takes a transaction-scoped advisory lock on the
 * key (`pg_advisory_xact_lock`), so that reservations of one key run one at a time across every process that shares
 * the database; the key's use is then read in one statement, which sees settled costs and reservations in one snapshot.
 */
export function createKyselyLedgerWrites(db: Kysely<Database>): LedgerWrites {
  const insertUnderFreeId = async (executor: Kysely<Database>, row: UsageEventRow): Promise<string> => {
    const inserted = await statements.insertUsageEvent(executor, row).returning("request_id").executeTakeFirst();
    if (inserted !== undefined) return inserted.request_id;
    const retried = await statements
      .insertUsageEvent(executor, { ...row, request_id: statements.alternativeRequestId(row.request_id) })
      .returning("request_id")
      .executeTakeFirstOrThrow();
    return retried.request_id;
  };

  return {
    record: (row) =>
      db.transaction().execute(async (transaction) => {
        const requestId = await insertUnderFreeId(transaction, row);
        await statements.upsertUsageDaily(transaction, statements.dailyValuesOf(row)).execute();
        return requestId;
      }),

    async start(row, budget) {
      if (budget === undefined) return { admitted: true, requestId: await insertUnderFreeId(db, row) };
      try {
        return await db.transaction().execute(async (transaction): Promise<StartOutcome> => {
          await sql`select pg_advisory_xact_lock(hashtextextended(${`moestro-budget:${row.key_id}`}, 0))`.execute(transaction);
          const requestId = await insertUnderFreeId(transaction, row);
          const use = statements.readBudgetUse(
            await statements.selectBudgetUse(transaction, { key_id: row.key_id ?? "", day: budget.fromDay }).executeTakeFirst(),
          );
          const refused = statements.checkReservation(use, row, budget);
          if (refused !== undefined) throw new Refusal(refused);
          return { admitted: true, requestId };
        });
      } catch (error) {
        if (error instanceof Refusal) return error.outcome;
        throw error;
      }
    },

    heartbeat: (rows) =>
      db.transaction().execute(async (transaction) => {
        for (const row of rows)
          await statements.updateUsageEvent(transaction, statements.heartbeatColumns, row, { whileRunning: true }).execute();
      }),

    settle: (row, { lateFromInterrupted }) =>
      db.transaction().execute(async (transaction) => {
        const settled = await statements
          .updateUsageEvent(transaction, statements.settledColumns, row, { whileRunning: true })
          .executeTakeFirst();
        if (Number(settled.numUpdatedRows) === 1) {
          await statements.upsertUsageDaily(transaction, statements.dailyValuesOf(row)).execute();
          return true;
        }
        if (!lateFromInterrupted) return false;
        const before = await statements.selectUsageEvent(transaction, row).forUpdate().executeTakeFirst();
        if (before === undefined) {
          await insertUnderFreeId(transaction, row);
          await statements.upsertUsageDaily(transaction, statements.dailyValuesOf(row)).execute();
          return true;
        }
        if (before.status !== "interrupted") return false;
        await statements.updateUsageEvent(transaction, statements.settledColumns, row, { whileRunning: false }).execute();
        await statements.upsertUsageDaily(transaction, statements.dailyDifference(before, row)).execute();
        return true;
      }),
  };
}
