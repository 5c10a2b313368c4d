import { sql, type Kysely } from "kysely";

/**
 * Lets a ledger row exist while its request runs: `instance_id` (the server process that owns it), `heartbeat_at` (its
 * last flush of the running token counts) and `reserved_micro_usd` (the worst-case cost held against its key's budget
 * until it ends), plus an index of the running rows (statuses `running` and, later, `interrupted` are new values of
 * `status`). Frozen in time: later changes go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").addColumn("instance_id", "text").execute();
  await db.schema.alterTable("usage_events").addColumn("heartbeat_at", "bigint").execute();
  await db.schema
    .alterTable("usage_events")
    .addColumn("reserved_micro_usd", "bigint", (column) => column.notNull().defaultTo(0))
    .execute();
  // Partial: the running rows are few, and the budget check and the crash recovery read only them.
  await db.schema
    .createIndex("usage_events_running_key_id_day")
    .on("usage_events")
    .columns(["key_id", "day"])
    .where(sql.ref("status"), "=", "running")
    .execute();
}

/** Drops what {@link up} created. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("usage_events_running_key_id_day").execute();
  await db.schema.alterTable("usage_events").dropColumn("reserved_micro_usd").execute();
  await db.schema.alterTable("usage_events").dropColumn("heartbeat_at").execute();
  await db.schema.alterTable("usage_events").dropColumn("instance_id").execute();
}
