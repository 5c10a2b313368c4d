import type { Kysely } from "kysely";

/**
 * Creates the API keys, the usage ledger and its daily rollup. Frozen in time: later changes go in a new migration.
 * Types are the portable subset of SQLite and PostgreSQL (`bigint` for epoch ms and micro-USD, `double precision` for
 * latencies in ms).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("name", "text", (column) => column.notNull())
    .addColumn("prefix", "text", (column) => column.notNull().unique())
    .addColumn("secret_sha256", "text", (column) => column.notNull())
    .addColumn("models_json", "text")
    .addColumn("requests_per_minute", "integer")
    .addColumn("tokens_per_minute", "bigint")
    .addColumn("budget_micro_usd", "bigint")
    .addColumn("budget_period", "text")
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("expires_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .execute();

  await db.schema
    .createTable("usage_events")
    .addColumn("request_id", "text", (column) => column.primaryKey())
    .addColumn("key_id", "text")
    .addColumn("model", "text", (column) => column.notNull())
    .addColumn("endpoint", "text", (column) => column.notNull())
    .addColumn("stream", "integer", (column) => column.notNull())
    .addColumn("status", "text", (column) => column.notNull())
    .addColumn("error_code", "text")
    .addColumn("prompt_tokens", "bigint", (column) => column.notNull())
    .addColumn("cached_prompt_tokens", "bigint", (column) => column.notNull())
    .addColumn("completion_tokens", "bigint", (column) => column.notNull())
    .addColumn("reasoning_tokens", "bigint", (column) => column.notNull())
    .addColumn("cost_micro_usd", "bigint", (column) => column.notNull())
    .addColumn("price_effective_at", "bigint")
    .addColumn("cloud_model", "text")
    .addColumn("cloud_cost_micro_usd", "bigint", (column) => column.notNull())
    .addColumn("started_at", "bigint", (column) => column.notNull())
    .addColumn("day", "text", (column) => column.notNull())
    .addColumn("time_to_first_token_ms", "double precision")
    .addColumn("latency_ms", "double precision", (column) => column.notNull())
    .addColumn("recorded_at", "bigint", (column) => column.notNull())
    .execute();
  await db.schema.createIndex("usage_events_started_at").on("usage_events").column("started_at").execute();
  await db.schema.createIndex("usage_events_key_id_started_at").on("usage_events").columns(["key_id", "started_at"]).execute();

  await db.schema
    .createTable("usage_daily")
    .addColumn("day", "text", (column) => column.notNull())
    .addColumn("key_id", "text", (column) => column.notNull())
    .addColumn("model", "text", (column) => column.notNull())
    .addColumn("requests", "bigint", (column) => column.notNull())
    .addColumn("prompt_tokens", "bigint", (column) => column.notNull())
    .addColumn("cached_prompt_tokens", "bigint", (column) => column.notNull())
    .addColumn("completion_tokens", "bigint", (column) => column.notNull())
    .addColumn("reasoning_tokens", "bigint", (column) => column.notNull())
    .addColumn("cost_micro_usd", "bigint", (column) => column.notNull())
    .addColumn("cloud_cost_micro_usd", "bigint", (column) => column.notNull())
    .addColumn("updated_at", "bigint", (column) => column.notNull())
    .addPrimaryKeyConstraint("usage_daily_pk", ["day", "key_id", "model"])
    .execute();
  await db.schema.createIndex("usage_daily_key_id_day").on("usage_daily").columns(["key_id", "day"]).execute();
}

/** Drops what {@link up} created. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("usage_daily").execute();
  await db.schema.dropTable("usage_events").execute();
  await db.schema.dropTable("api_keys").execute();
}
