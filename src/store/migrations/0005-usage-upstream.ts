import type { Kysely } from "kysely";

/**
 * Adds `usage_events.upstream` (the upstream that served the request, for engine `upstream`: issue 17,
 * docs/gateway.md) and `usage_events.attempts` (upstreams tried before one answered, that one included). Nullable:
 * rows of local models, and rows written before this migration, have neither. Frozen in time: later changes go in a
 * new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").addColumn("upstream", "text").execute();
  await db.schema.alterTable("usage_events").addColumn("attempts", "integer").execute();
}

/** Drops what {@link up} added. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").dropColumn("attempts").execute();
  await db.schema.alterTable("usage_events").dropColumn("upstream").execute();
}
