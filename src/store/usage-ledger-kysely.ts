import { sql, type Kysely } from "kysely";
import type { Database } from "./database.js";
import * as statements from "./usage-writes.js";
import type { BudgetBound, StartOutcome, UsageEventRow } from "./usage-writes.js";

/**
 * The ledger's writes, each one transaction (or one statement). Two implementations run the same SQL (`usage-writes.ts`): this one over
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
  /** Writes the counters and the heartbeat time of `rows`, while each is running and not ahead of its row here. */
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

    // One statement, outside a transaction: one round trip for a request's final counts, and for a whole tick.
    heartbeat: async (rows) => {
      if (rows.length === 0) return;
      if (rows.length === 1) await statements.updateHeartbeat(db, rows[0]!).execute();
      else await updateHeartbeats(rows).execute(db);
    },

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

/** The PostgreSQL type of each column a heartbeat writes (the migrations' `bigint`, `double precision`, `text`). */
const heartbeatColumnTypes = {
  request_id: "text",
  prompt_tokens: "int8",
  cached_prompt_tokens: "int8",
  completion_tokens: "int8",
  reasoning_tokens: "int8",
  draft_tokens: "int8",
  accepted_draft_tokens: "int8",
  cache_creation_input_tokens: "int8",
  cache_read_input_tokens: "int8",
  cost_micro_usd: "int8",
  cloud_cost_micro_usd: "int8",
  engine_time_us: "int8",
  cost_nano_usd: "int8",
  cloud_cost_nano_usd: "int8",
  cost_estimated: "int8",
  price_effective_at: "int8",
  cloud_model: "text",
  latency_ms: "float8",
  heartbeat_at: "int8",
  recorded_at: "int8",
  upstream: "text",
  attempts: "int4",
} as const satisfies Record<"request_id" | (typeof statements.heartbeatColumns)[number], string>;

/**
 * The heartbeat of many rows as one PostgreSQL statement: `update … from unnest($1::text[], $2::int8[], …)`, one array
 * parameter per column, with the conditions of `statements.updateHeartbeat` row by row.
 */
function updateHeartbeats(rows: readonly UsageEventRow[]) {
  const columns = Object.keys(heartbeatColumnTypes) as Array<keyof typeof heartbeatColumnTypes>;
  const arrays = columns.map((column) => sql`${rows.map((row) => row[column])}::${sql.raw(heartbeatColumnTypes[column])}[]`);
  const assignments = statements.heartbeatColumns.map((column) => sql`${sql.ref(column)} = ${sql.ref(`v.${column}`)}`);
  const notAhead = statements.growingCountColumns.map((column) => sql`${sql.ref(`e.${column}`)} <= ${sql.ref(`v.${column}`)}`);
  return sql`update usage_events as e set ${sql.join(assignments)}
    from unnest(${sql.join(arrays)}) as v(${sql.join(columns.map((column) => sql.ref(column)))})
    where e.request_id = v.request_id and e.status = 'running' and ${sql.join(notAhead, sql` and `)}
      and (e.heartbeat_at is null or e.heartbeat_at <= v.heartbeat_at)`;
}
