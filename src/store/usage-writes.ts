import type BetterSqlite3 from "better-sqlite3";
import type { Insertable, Kysely, Selectable } from "kysely";
import type { Database, UsageDailyTable, UsageEventsTable } from "./database.js";
import { prepareCompiled, slotsFor } from "./sqlite-statement.js";
import { usageTotalColumns } from "./usage-record.js";

/** Every column of `usage_events`, checked against the table type: a row of slots for the SQLite statements. */
const usageEventColumns = Object.keys({
  request_id: true,
  key_id: true,
  model: true,
  endpoint: true,
  stream: true,
  status: true,
  error_code: true,
  prompt_tokens: true,
  cached_prompt_tokens: true,
  completion_tokens: true,
  reasoning_tokens: true,
  cost_micro_usd: true,
  price_effective_at: true,
  cloud_model: true,
  cloud_cost_micro_usd: true,
  started_at: true,
  day: true,
  time_to_first_token_ms: true,
  latency_ms: true,
  recorded_at: true,
} satisfies Record<keyof UsageEventsTable, true>) as Array<keyof UsageEventsTable>;

/** Every column of `usage_daily`, checked against the table type. */
const usageDailyColumns = Object.keys({
  day: true,
  key_id: true,
  model: true,
  requests: true,
  prompt_tokens: true,
  cached_prompt_tokens: true,
  completion_tokens: true,
  reasoning_tokens: true,
  cost_micro_usd: true,
  cloud_cost_micro_usd: true,
  updated_at: true,
} satisfies Record<keyof UsageDailyTable, true>) as Array<keyof UsageDailyTable>;

/** `insert into usage_events … on conflict (request_id) do nothing`. */
export function insertUsageEvent(db: Kysely<Database>, row: Insertable<UsageEventsTable>) {
  return db
    .insertInto("usage_events")
    .values(row)
    .onConflict((conflict) => conflict.column("request_id").doNothing());
}

/** Adds `values` to its day's rollup row: inserts it, or adds every counter to the row already there. */
export function upsertUsageDaily(db: Kysely<Database>, values: Insertable<UsageDailyTable>) {
  return db
    .insertInto("usage_daily")
    .values(values)
    .onConflict((conflict) =>
      conflict.columns(["day", "key_id", "model"]).doUpdateSet((eb) => {
        const add = (column: "requests" | (typeof usageTotalColumns)[keyof typeof usageTotalColumns]) =>
          eb(`usage_daily.${column}`, "+", eb.ref(`excluded.${column}`));
        return {
          requests: add("requests"),
          ...Object.fromEntries(Object.values(usageTotalColumns).map((column) => [column, add(column)])),
          updated_at: eb.ref("excluded.updated_at"),
        };
      }),
    );
}

/** The rollup values one ledger row adds: one request and its counters, on its day, key (`""` for none) and model. */
export function dailyValuesOf(row: Selectable<UsageEventsTable>): Selectable<UsageDailyTable> {
  return {
    day: row.day,
    key_id: row.key_id ?? "",
    model: row.model,
    requests: 1,
    prompt_tokens: row.prompt_tokens,
    cached_prompt_tokens: row.cached_prompt_tokens,
    completion_tokens: row.completion_tokens,
    reasoning_tokens: row.reasoning_tokens,
    cost_micro_usd: row.cost_micro_usd,
    cloud_cost_micro_usd: row.cloud_cost_micro_usd,
    updated_at: row.recorded_at,
  };
}

/** A request id that is free when `requestId` is taken: `requestId:uuid`. */
export function alternativeRequestId(requestId: string): string {
  return `${requestId}:${crypto.randomUUID()}`;
}

/**
 * Appends a ledger row and adds it to its day's rollup, in one Kysely transaction; a taken request id is stored as
 * `id:uuid`. Resolves the id the row was stored under.
 */
export async function recordWithKysely(db: Kysely<Database>, row: Selectable<UsageEventsTable>): Promise<string> {
  return await db.transaction().execute(async (transaction) => {
    let inserted = await insertUsageEvent(transaction, row).returning("request_id").executeTakeFirst();
    inserted ??= await insertUsageEvent(transaction, { ...row, request_id: alternativeRequestId(row.request_id) })
      .returning("request_id")
      .executeTakeFirstOrThrow();
    await upsertUsageDaily(transaction, dailyValuesOf(row)).execute();
    return inserted.request_id;
  });
}

/**
 * The same write as {@link recordWithKysely} on SQLite, as the same SQL compiled once by Kysely and prepared by
 * better-sqlite3, run in one better-sqlite3 transaction (synchronous: no Kysely round trips on the response's path).
 */
export function createSqliteRecord(db: Kysely<Database>, sqlite: BetterSqlite3.Database): (row: Selectable<UsageEventsTable>) => string {
  const insertEvent = prepareCompiled<Selectable<UsageEventsTable>>(sqlite, insertUsageEvent(db, slotsFor(usageEventColumns)));
  const upsertDaily = prepareCompiled<Selectable<UsageDailyTable>>(sqlite, upsertUsageDaily(db, slotsFor(usageDailyColumns)));
  return sqlite.transaction((row: Selectable<UsageEventsTable>): string => {
    let requestId = row.request_id;
    if (insertEvent(row).changes === 0) {
      requestId = alternativeRequestId(row.request_id);
      insertEvent({ ...row, request_id: requestId });
    }
    upsertDaily(dailyValuesOf(row));
    return requestId;
  });
}
