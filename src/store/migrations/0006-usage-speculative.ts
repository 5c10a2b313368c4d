import type { Kysely } from "kysely";

/**
 * Adds speculative decoding's counters (issue 19) to `usage_events` and `usage_daily`: `draft_tokens` (tokens drafted
 * and checked by the model) and `accepted_draft_tokens` (of those, the ones it accepted). Not null, 0 by default: rows
 * written before this migration, and requests that did not speculate, drafted nothing. Frozen in time: later changes go
 * in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_events", "usage_daily"]) {
    await db.schema
      .alterTable(table)
      .addColumn("draft_tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable(table)
      .addColumn("accepted_draft_tokens", "bigint", (column) => column.notNull().defaultTo(0))
      .execute();
  }
}

/** Drops what {@link up} added. */
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_daily", "usage_events"]) {
    await db.schema.alterTable(table).dropColumn("accepted_draft_tokens").execute();
    await db.schema.alterTable(table).dropColumn("draft_tokens").execute();
  }
}
