import type { Insertable, Kysely, Selectable, Updateable } from "kysely";
import type { Database, UsageDailyTable, UsageEventsTable } from "./database.js";
import { usageTotalColumns, type UsageTotalColumn } from "./usage-record.js";

/**
 * The ledger's write statements as Kysely builders: the one definition of their SQL. The Kysely path executes them
 * (`usage-ledger-kysely.ts`); the SQLite path compiles them once and runs them as prepared statements
 * (`usage-ledger-sqlite.ts`). One exception: PostgreSQL writes a heartbeat of many rows as one statement of its own
 * (`usage-ledger-kysely.ts`), with the same columns and the same conditions as {@link updateHeartbeat}.
 */

/** A `usage_events` row. */
export type UsageEventRow = Selectable<UsageEventsTable>;

/** Every column of `usage_events`, checked against the table type: a row of slots for the SQLite statements. */
export const usageEventColumns = Object.keys({
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
  draft_tokens: true,
  accepted_draft_tokens: true,
  cache_creation_input_tokens: true,
  cache_read_input_tokens: true,
  cost_micro_usd: true,
  price_effective_at: true,
  cloud_model: true,
  cloud_cost_micro_usd: true,
  engine_time_us: true,
  cost_nano_usd: true,
  cloud_cost_nano_usd: true,
  cost_estimated: true,
  started_at: true,
  day: true,
  time_to_first_token_ms: true,
  latency_ms: true,
  recorded_at: true,
  instance_id: true,
  heartbeat_at: true,
  reserved_micro_usd: true,
  engine: true,
  upstream: true,
  attempts: true,
  usage_estimated: true,
  requested_model: true,
} satisfies Record<keyof UsageEventsTable, true>) as Array<keyof UsageEventsTable>;

/** Every column of `usage_daily`, checked against the table type. */
export const usageDailyColumns = Object.keys({
  day: true,
  key_id: true,
  model: true,
  requests: true,
  prompt_tokens: true,
  cached_prompt_tokens: true,
  completion_tokens: true,
  reasoning_tokens: true,
  draft_tokens: true,
  accepted_draft_tokens: true,
  cache_creation_input_tokens: true,
  cache_read_input_tokens: true,
  cost_micro_usd: true,
  cloud_cost_micro_usd: true,
  engine_time_us: true,
  cost_nano_usd: true,
  cloud_cost_nano_usd: true,
  cost_estimated: true,
  updated_at: true,
} satisfies Record<keyof UsageDailyTable, true>) as Array<keyof UsageDailyTable>;

/** What settling a row writes: how it ended, its final counters and cost, and its reservation released. */
export const settledColumns = [
  "status",
  "error_code",
  ...Object.values(usageTotalColumns),
  "price_effective_at",
  "cloud_model",
  "time_to_first_token_ms",
  "latency_ms",
  "recorded_at",
  "reserved_micro_usd",
  // A request to an upstream pool is admitted before it is sent: the upstream that served it is known at its end.
  "upstream",
  "attempts",
  // Known at the end: whether the counts are estimates (migration 0010).
  "usage_estimated",
] as const satisfies ReadonlyArray<keyof UsageEventsTable>;

/** What a heartbeat writes: the counters and cost so far, and when. */
export const heartbeatColumns = [
  ...Object.values(usageTotalColumns),
  "price_effective_at",
  "cloud_model",
  "latency_ms",
  "heartbeat_at",
  "recorded_at",
  // A request to an upstream pool is admitted before it is sent: its upstream is written once chosen.
  "upstream",
  "attempts",
] as const satisfies ReadonlyArray<keyof UsageEventsTable>;

/**
 * The token counts of a running row, which only grow while it runs: a heartbeat that would lower one is older than the
 * one already written (a flush that a later flush or the final counts overtook), and is not written.
 */
export const growingCountColumns = [
  "prompt_tokens",
  "cached_prompt_tokens",
  "completion_tokens",
  "reasoning_tokens",
  "draft_tokens",
  "accepted_draft_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
] as const satisfies ReadonlyArray<keyof UsageEventsTable>;

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
        const add = (column: "requests" | UsageTotalColumn) => eb(`usage_daily.${column}`, "+", eb.ref(`excluded.${column}`));
        return {
          requests: add("requests"),
          ...Object.fromEntries(Object.values(usageTotalColumns).map((column) => [column, add(column)])),
          updated_at: eb.ref("excluded.updated_at"),
        };
      }),
    );
}

/** Sets `columns` of the row `request_id` from `values`, while the row is `running` (or whatever its state). */
export function updateUsageEvent(
  db: Kysely<Database>,
  columns: ReadonlyArray<keyof UsageEventsTable>,
  values: UsageEventRow,
  options: { whileRunning: boolean },
) {
  const set = Object.fromEntries(columns.map((column) => [column, values[column]])) as Updateable<UsageEventsTable>;
  const query = db.updateTable("usage_events").set(set).where("request_id", "=", values.request_id);
  return options.whileRunning ? query.where("status", "=", "running") : query;
}

/**
 * A heartbeat of one row: sets its `heartbeatColumns` from `values` while it is running, unless it is ahead of `values`
 * (a higher count of {@link growingCountColumns} or a later `heartbeat_at`), so that writes that cross cannot move a row
 * back.
 */
export function updateHeartbeat(db: Kysely<Database>, values: UsageEventRow) {
  return updateUsageEvent(db, heartbeatColumns, values, { whileRunning: true }).where((eb) =>
    eb.and([
      ...growingCountColumns.map((column) => eb(column, "<=", values[column])),
      eb.or([eb("heartbeat_at", "is", null), eb("heartbeat_at", "<=", values.heartbeat_at)]),
    ]),
  );
}

/** The row `request_id`, whatever its state. */
export function selectUsageEvent(db: Kysely<Database>, values: { request_id: string }) {
  return db.selectFrom("usage_events").selectAll().where("request_id", "=", values.request_id);
}

/**
 * What a key has committed since the UTC day `day`, in one statement (one snapshot): `spent`, the settled costs of
 * the rollup, and `reserved`, the reservations of its running rows.
 */
export function selectBudgetUse(db: Kysely<Database>, values: { key_id: string; day: string }) {
  return db.selectNoFrom((eb) => [
    eb
      .selectFrom("usage_daily")
      .select((inner) => inner.fn.coalesce(inner.fn.sum<number>("cost_micro_usd"), inner.lit(0)).as("total"))
      .where("key_id", "=", values.key_id)
      .where("day", ">=", values.day)
      .as("spent"),
    eb
      .selectFrom("usage_events")
      .select((inner) => inner.fn.coalesce(inner.fn.sum<number>("reserved_micro_usd"), inner.lit(0)).as("total"))
      .where("key_id", "=", values.key_id)
      .where("day", ">=", values.day)
      .where("status", "=", "running")
      .as("reserved"),
  ]);
}

/** The rollup values one settled row adds: one request and its counters, on its day, key (`""` for none) and model. */
export function dailyValuesOf(row: UsageEventRow): Selectable<UsageDailyTable> {
  // One literal, every column named (no spread of one object into another: this runs on every settlement).
  return {
    day: row.day,
    key_id: row.key_id ?? "",
    model: row.model,
    requests: 1,
    updated_at: row.recorded_at,
    prompt_tokens: Number(row.prompt_tokens),
    cached_prompt_tokens: Number(row.cached_prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    reasoning_tokens: Number(row.reasoning_tokens),
    draft_tokens: Number(row.draft_tokens),
    accepted_draft_tokens: Number(row.accepted_draft_tokens),
    cache_creation_input_tokens: Number(row.cache_creation_input_tokens),
    cache_read_input_tokens: Number(row.cache_read_input_tokens),
    cost_micro_usd: Number(row.cost_micro_usd),
    cloud_cost_micro_usd: Number(row.cloud_cost_micro_usd),
    engine_time_us: Number(row.engine_time_us),
    cost_nano_usd: Number(row.cost_nano_usd),
    cloud_cost_nano_usd: Number(row.cloud_cost_nano_usd),
    cost_estimated: Number(row.cost_estimated),
  } satisfies Record<keyof Selectable<UsageDailyTable>, unknown> & Record<UsageTotalColumn, number>;
}

/**
 * The rollup values that turn `before` (a row already in the rollup: `interrupted`, settled by another instance) into
 * `after` (its real end): the difference of every counter, and no new request.
 */
export function dailyDifference(before: UsageEventRow, after: UsageEventRow): Selectable<UsageDailyTable> {
  const counters = countersOf(after);
  const previous = countersOf(before);
  for (const column of totalColumns) counters[column] -= previous[column];
  return { ...dailyValuesOf(after), ...counters, requests: 0 };
}

/** The counters' columns, listed once (every settlement reads them). */
const totalColumns: readonly UsageTotalColumn[] = Object.values(usageTotalColumns);

function countersOf(row: UsageEventRow): Record<UsageTotalColumn, number> {
  const counters = {} as Record<UsageTotalColumn, number>;
  for (const column of totalColumns) counters[column] = Number(row[column]);
  return counters;
}

/** A request id that is free when `requestId` is taken: `requestId:uuid`. */
export function alternativeRequestId(requestId: string): string {
  return `${requestId}:${crypto.randomUUID()}`;
}

/** A key's budget as a reservation checks it: the limit, and the first UTC day of the current period. */
export interface BudgetBound {
  /** Spend allowed in the period, micro-USD. */
  limitMicroUsd: number;
  /** The period's first day, `YYYY-MM-DD`. */
  fromDay: string;
}

/** What a key has committed in a budget period, micro-USD. */
export interface BudgetUse {
  /** Settled costs (the rollup). */
  spentMicroUsd: number;
  /** Reservations of its running requests. */
  reservedMicroUsd: number;
}

/** What admitting a running row resolved. */
export type StartOutcome =
  /** Stored, under `requestId` (`id:uuid` when the id was taken). */
  | { admitted: true; requestId: string }
  /** Not stored: the key's use, before this request, plus its reservation would pass the limit. */
  | { admitted: false; use: BudgetUse };

/** Whether `use` (this row's reservation included) passes the limit; and the use without this row's reservation. */
export function checkReservation(use: BudgetUse, row: UsageEventRow, budget: BudgetBound): StartOutcome | undefined {
  if (use.spentMicroUsd + use.reservedMicroUsd <= budget.limitMicroUsd) return undefined;
  return { admitted: false, use: { spentMicroUsd: use.spentMicroUsd, reservedMicroUsd: use.reservedMicroUsd - row.reserved_micro_usd } };
}

/** The numbers of a {@link selectBudgetUse} row (PostgreSQL's `sum` is `numeric`). */
export function readBudgetUse(row: { spent: unknown; reserved: unknown } | undefined): BudgetUse {
  return { spentMicroUsd: Number(row?.spent ?? 0), reservedMicroUsd: Number(row?.reserved ?? 0) };
}
