import type { Kysely } from "kysely";

/**
 * Adds `usage_events.engine`: which engine served the request (`inproc` or `llama-server`, issue 16). Nullable: rows
 * written before this migration stay `null` (their engine was not recorded; it was the in-process one). Frozen in time:
 * later changes go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").addColumn("engine", "text").execute();
}

/** Drops what {@link up} added. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").dropColumn("engine").execute();
}
