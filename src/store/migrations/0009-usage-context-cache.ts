import type { Kysely } from "kysely";

/**
 * Adds the explicit context cache's counters (issue 20, `cache_control`) to `usage_events` and `usage_daily`:
 * `cache_creation_input_tokens` (prompt tokens written to the cache, billed at the cache-creation rate) and
 * `cache_read_input_tokens` (prompt tokens read from it, billed at the cache-read rate). Not null, 0 by default: rows
 * written before this migration, and requests that marked no `cache_control`, used no explicit cache. The implicit
 * cache's tokens stay in `cached_prompt_tokens`. Frozen in time: later changes go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_events", "usage_daily"]) {
    await db.schema
      .alterTable(table)
      .addColumn("cache_creation_input_tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable(table)
      .addColumn("cache_read_input_tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .execute();
  }
}

/** Drops what {@link up} added. */
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_daily", "usage_events"]) {
    await db.schema.alterTable(table).dropColumn("cache_read_input_tokens").execute();
    await db.schema.alterTable(table).dropColumn("cache_creation_input_tokens").execute();
  }
}
