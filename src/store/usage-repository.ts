import type BetterSqlite3 from "better-sqlite3";
import type { Kysely } from "kysely";
import type { Database } from "./database.js";
import {
  readUsageTotals,
  toUsageEventRow,
  toUsageRecord,
  usageTotalColumns,
  type UsageGroupBy,
  type UsageRange,
  type UsageRecord,
  type UsageSummaryRow,
  type UsageTotalColumn,
} from "./usage-record.js";
import { createKyselyLedgerWrites, type LedgerWrites } from "./usage-ledger-kysely.js";
import { createSqliteLedgerWrites } from "./usage-ledger-sqlite.js";
import { readBudgetUse, selectBudgetUse, type BudgetBound, type BudgetUse, type StartOutcome } from "./usage-writes.js";

/** The usage ledger aggregate: `usage_events` and its `usage_daily` rollup. */
export interface UsageRepository {
  /**
   * Appends one row and adds it to the day's rollup, in one transaction: both are committed when this resolves, or
   * neither. A `requestId` already in the ledger (a client that reuses `x-request-id`) is stored as `requestId:uuid`,
   * so that no request goes unmetered. Resolves the id the row was stored under.
   */
  record(record: UsageRecord, recordedAtMs: number): Promise<string>;
  /**
   * Inserts the row of an admitted request, `running` (under `requestId:uuid` when the id is taken). With `budget`,
   * atomically across every process that shares the store: the row goes in only when the key's settled spend since
   * `budget.fromDay`, plus the reservations (`reservedMicroUsd`) of its running rows, this one's included, stay within
   * `budget.limitMicroUsd`; otherwise nothing is stored and the key's use before this request is resolved.
   */
  start(record: UsageRecord, budget: BudgetBound | undefined, recordedAtMs: number): Promise<StartOutcome>;
  /**
   * A heartbeat at `atMs`: writes the counters, cost, latency and `heartbeatAtMs` of `records` (running rows, found by
   * `requestId`), at once (one transaction on SQLite, one statement on PostgreSQL). Rows no longer running are left
   * alone, and so are rows ahead of their record (a higher token count or a later `heartbeatAtMs`: the record is from a
   * flush that a later one overtook), so that a row never moves back.
   */
  heartbeat(records: readonly UsageRecord[], atMs: number): Promise<void>;
  /**
   * Settles a running row (found by `record.requestId`) with the final values of `record`, and adds it to the day's
   * rollup, in one transaction. A row that is not running any more is left alone, unless `lateFromInterrupted`: then a
   * row marked `interrupted` (by an instance that took this one for gone) takes the real end, and the rollup the
   * difference; a missing row is inserted settled. Resolves whether it changed anything.
   */
  settle(record: UsageRecord, recordedAtMs: number, options: { lateFromInterrupted: boolean }): Promise<boolean>;
  /** Deletes a running row (a request refused before it ran); a settled row is never deleted. */
  discard(requestId: string): Promise<void>;
  /** Every running row, oldest first. */
  listRunning(): Promise<UsageRecord[]>;
  /** Totals per group over `range`, ordered by group. */
  summarize(options: UsageRange & { groupBy: UsageGroupBy }): Promise<UsageSummaryRow[]>;
  /** Ledger rows over `range`, oldest first, at most `limit` (defaults to 1000). */
  list(options: UsageRange & { keyId?: string; limit?: number }): Promise<UsageRecord[]>;
  /**
   * What `keyId` has committed from the UTC day `fromDay` (`YYYY-MM-DD`, inclusive) on, micro-USD: settled spend (read
   * from the rollup) and running reservations, in one snapshot.
   */
  budgetUse(keyId: string, fromDay: string): Promise<BudgetUse>;
}

/**
 * The {@link UsageRepository} over `db`. The writes are on every response's path (docs/studio.md has the figures):
 * - `sqlite`: they run Kysely's SQL as cached prepared statements of `sqlite` (the better-sqlite3 handle under `db`),
 *   each in one better-sqlite3 transaction, instead of Kysely round trips.
 * - `postgres`: they go through Kysely.
 *
 * The reads go through Kysely on both.
 */
export function createUsageRepository(
  db: Kysely<Database>,
  options: { dialect: "sqlite"; sqlite: BetterSqlite3.Database } | { dialect: "postgres" },
): UsageRepository {
  const writes: LedgerWrites = options.dialect === "sqlite" ? createSqliteLedgerWrites(db, options.sqlite) : createKyselyLedgerWrites(db);
  return {
    record: async (record, recordedAtMs) => await writes.record(toUsageEventRow(record, recordedAtMs)),
    start: async (record, budget, recordedAtMs) => await writes.start(toUsageEventRow(record, recordedAtMs), budget),
    heartbeat: async (records, atMs) => await writes.heartbeat(records.map((record) => toUsageEventRow(record, atMs))),
    settle: async (record, recordedAtMs, settleOptions) => await writes.settle(toUsageEventRow(record, recordedAtMs), settleOptions),
    async discard(requestId) {
      await db.deleteFrom("usage_events").where("request_id", "=", requestId).where("status", "=", "running").execute();
    },
    async listRunning() {
      const rows = await db.selectFrom("usage_events").selectAll().where("status", "=", "running").orderBy("started_at").execute();
      return rows.map(toUsageRecord);
    },

    async summarize({ groupBy, fromMs, toMs }) {
      const groupColumn = groupBy === "key" ? "usage_events.key_id" : groupBy === "model" ? "usage_events.model" : "usage_events.day";
      let query = db
        .selectFrom("usage_events")
        .leftJoin("api_keys", "api_keys.id", "usage_events.key_id")
        .select((eb) => [
          eb.ref(groupColumn).as("group"),
          eb.fn.max("api_keys.name").as("key_name"),
          eb.fn.max("usage_events.cloud_model").as("cloud_model"),
          eb.fn.countAll<number>().as("requests"),
          eb.fn.sum<number>(eb.case().when("usage_events.status", "=", "error").then(1).else(0).end()).as("error_requests"),
          eb.fn.sum<number>(eb.case().when("usage_events.status", "=", "aborted").then(1).else(0).end()).as("aborted_requests"),
          eb.fn.sum<number>(eb.case().when("usage_events.status", "=", "interrupted").then(1).else(0).end()).as("interrupted_requests"),
          eb.fn.sum<number>("usage_events.usage_estimated").as("estimated_requests"),
          ...Object.values(usageTotalColumns).map((column) => eb.fn.sum<number>(`usage_events.${column}`).as(column)),
        ])
        .groupBy(groupColumn)
        .orderBy(groupColumn);
      if (fromMs !== undefined) query = query.where("usage_events.started_at", ">=", fromMs);
      if (toMs !== undefined) query = query.where("usage_events.started_at", "<", toMs);
      const rows = await query.execute();
      return rows.map((row) => {
        const summary: UsageSummaryRow = {
          group: row.group,
          requests: Number(row.requests),
          errorRequests: Number(row.error_requests),
          abortedRequests: Number(row.aborted_requests),
          interruptedRequests: Number(row.interrupted_requests),
          estimatedRequests: Number(row.estimated_requests ?? 0),
          ...readUsageTotals(row as unknown as Record<UsageTotalColumn, unknown>),
        };
        if (groupBy === "key" && row.key_name !== null) summary.keyName = row.key_name;
        if (row.cloud_model !== null) summary.cloudModel = row.cloud_model;
        return summary;
      });
    },

    async list({ fromMs, toMs, keyId, limit }) {
      let query = db
        .selectFrom("usage_events")
        .selectAll()
        .orderBy("started_at")
        .orderBy("request_id")
        .limit(limit ?? 1000);
      if (fromMs !== undefined) query = query.where("started_at", ">=", fromMs);
      if (toMs !== undefined) query = query.where("started_at", "<", toMs);
      if (keyId !== undefined) query = query.where("key_id", "=", keyId);
      return (await query.execute()).map(toUsageRecord);
    },

    budgetUse: async (keyId, fromDay) => readBudgetUse(await selectBudgetUse(db, { key_id: keyId, day: fromDay }).executeTakeFirst()),
  };
}
