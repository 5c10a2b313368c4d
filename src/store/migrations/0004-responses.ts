import type { Kysely } from "kysely";

/**
 * Adds `responses`: the stored responses of the Responses API (`POST /v1/responses` with `store: true`, issue 18), each
 * with the input items the model saw and the response object, kept until `expires_at` (the retention period). The
 * items and the response are JSON text: they are read whole, by id, and never queried inside. Frozen in time: later
 * changes go in a new migration. `response_items` indexes, by id, the items each response brought (its own input items
 * and its output; not those carried over from `previous_response_id`), so that an `item_reference` finds its item.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("responses")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("key_id", "text")
    .addColumn("model", "text", (column) => column.notNull())
    .addColumn("status", "text", (column) => column.notNull())
    .addColumn("previous_response_id", "text")
    .addColumn("input_items_json", "text", (column) => column.notNull())
    .addColumn("response_json", "text", (column) => column.notNull())
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("expires_at", "bigint", (column) => column.notNull())
    .execute();
  // The sweep deletes by expiry.
  await db.schema.createIndex("responses_expires_at").on("responses").column("expires_at").execute();
  // The items each response brought (its own input items and its output), by id, for `item_reference` inputs.
  await db.schema
    .createTable("response_items")
    .addColumn("response_id", "text", (column) => column.notNull())
    .addColumn("position", "integer", (column) => column.notNull())
    .addColumn("item_id", "text", (column) => column.notNull())
    .addColumn("item_json", "text", (column) => column.notNull())
    .addPrimaryKeyConstraint("response_items_pk", ["response_id", "position"])
    .execute();
  await db.schema.createIndex("response_items_item_id").on("response_items").column("item_id").execute();
}

/** Drops what {@link up} created. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("response_items").execute();
  await db.schema.dropTable("responses").execute();
}
