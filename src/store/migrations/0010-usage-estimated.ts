import type { Kysely } from "kysely";

/**
 * Adds to `usage_events` (issue 17, docs/gateway.md "Usage, budgets and the ledger"):
 * - `usage_estimated`: 1 when the row's token counts are estimates (an upstream that sent no usage, for a model this
 *   server has no tokenizer of), else 0. Not null, 0 by default: rows written before this migration were counted.
 * - `requested_model`: the model the client asked for when a fallback answered (the row's `model` is the answering
 *   one); `null` when the answering model is the one asked for, and for rows written before this migration.
 *
 * Frozen in time: later changes go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("usage_events")
    .addColumn("usage_estimated", "integer", (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("usage_events").addColumn("requested_model", "text").execute();
}

/** Drops what {@link up} added. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_events").dropColumn("requested_model").execute();
  await db.schema.alterTable("usage_events").dropColumn("usage_estimated").execute();
}
