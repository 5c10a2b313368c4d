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
import { createSqliteRecord, recordWithKysely } from "./usage-writes.js";

/** The usage ledger aggregate: `usage_events` and its `usage_daily` rollup. */
export interface UsageRepository {
  /**
   * Appends one row and adds it to the day's rollup, in one transaction: both are committed when this resolves, or
   * neither. A `requestId` already in the ledger (a client that reuses `x-request-id`) is stored as `requestId:uuid`,
   * so that no request goes unmetered. Resolves the id the row was stored under.
   */
  record(record: UsageRecord, recordedAtMs: number): Promise<string>;
  /** Totals per group over `range`, ordered by group. */
  summarize(options: UsageRange & { groupBy: UsageGroupBy }): Promise<UsageSummaryRow[]>;
  /** Ledger rows over `range`, oldest first, at most `limit` (defaults to 1000). */
  list(options: UsageRange & { keyId?: string; limit?: number }): Promise<UsageRecord[]>;
  /** What `keyId` spent from the UTC day `fromDay` (`YYYY-MM-DD`, inclusive) on, micro-USD, read from the rollup. */
  spendSince(keyId: string, fromDay: string): Promise<number>;
}

/**
 * The {@link UsageRepository} over `db`. When `sqlite` (the better-sqlite3 handle under `db`) is given, `record` runs
 * Kysely's SQL as cached prepared statements in one better-sqlite3 transaction instead of Kysely round trips: the
 * ledger write is on every response's path (docs/studio.md has the figures). Everything else, and `record` while a
 * Kysely transaction holds the connection, goes through Kysely.
 */
export function createUsageRepository(db: Kysely<Database>, options: { sqlite?: BetterSqlite3.Database } = {}): UsageRepository {
  const sqlite = options.sqlite;
  const sqliteRecord = sqlite === undefined ? undefined : createSqliteRecord(db, sqlite);
  return {
    async record(record, recordedAtMs) {
      const row = toUsageEventRow(record, recordedAtMs);
      // A Kysely transaction holding the connection (tests, migrations) must see the write in order: go through Kysely then.
      if (sqliteRecord !== undefined && !sqlite!.inTransaction) return sqliteRecord(row);
      return await recordWithKysely(db, row);
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

    async spendSince(keyId, fromDay) {
      const row = await db
        .selectFrom("usage_daily")
        .select((eb) => eb.fn.sum<number>("cost_micro_usd").as("spent"))
        .where("key_id", "=", keyId)
        .where("day", ">=", fromDay)
        .executeTakeFirst();
      return Number(row?.spent ?? 0);
    },
  };
}
