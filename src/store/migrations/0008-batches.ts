import type { Kysely } from "kysely";

/**
 * Adds the Batch API's tables (issue 20, docs/batch.md): `files` (uploaded batch input files and the output and error
 * files the runner writes, kept in the store so that every instance on one PostgreSQL serves them), `batches` (one row
 * per batch: its status, counts, timestamps and the lease of the instance that runs it) and `batch_lines` (the answer
 * of every finished input line, written once: the primary key makes a line answered at most once, and a restarted
 * runner resumes with the lines that have no row). File contents are UTF-8 text (JSONL). Frozen in time: later changes
 * go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("files")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("key_id", "text")
    .addColumn("purpose", "text", (column) => column.notNull())
    .addColumn("filename", "text", (column) => column.notNull())
    .addColumn("bytes", "bigint", (column) => column.notNull())
    .addColumn("line_count", "integer", (column) => column.notNull())
    .addColumn("content", "text", (column) => column.notNull())
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("expires_at", "bigint")
    .execute();
  await db.schema.createIndex("files_expires_at").on("files").column("expires_at").execute();
  await db.schema
    .createTable("batches")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("key_id", "text")
    .addColumn("endpoint", "text", (column) => column.notNull())
    .addColumn("input_file_id", "text", (column) => column.notNull())
    .addColumn("completion_window", "text", (column) => column.notNull())
    .addColumn("status", "text", (column) => column.notNull())
    .addColumn("metadata_json", "text")
    .addColumn("errors_json", "text")
    .addColumn("output_file_id", "text")
    .addColumn("error_file_id", "text")
    .addColumn("total", "integer", (column) => column.notNull())
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("expires_at", "bigint", (column) => column.notNull())
    .addColumn("in_progress_at", "bigint")
    .addColumn("finalizing_at", "bigint")
    .addColumn("completed_at", "bigint")
    .addColumn("failed_at", "bigint")
    .addColumn("expired_at", "bigint")
    .addColumn("cancelling_at", "bigint")
    .addColumn("cancelled_at", "bigint")
    .addColumn("owner_id", "text")
    .addColumn("lease_until", "bigint")
    .execute();
  await db.schema.createIndex("batches_status").on("batches").column("status").execute();
  await db.schema
    .createTable("batch_lines")
    .addColumn("batch_id", "text", (column) => column.notNull())
    .addColumn("line_index", "integer", (column) => column.notNull())
    .addColumn("ok", "integer", (column) => column.notNull())
    .addColumn("result_json", "text", (column) => column.notNull())
    .addColumn("finished_at", "bigint", (column) => column.notNull())
    .addPrimaryKeyConstraint("batch_lines_pk", ["batch_id", "line_index"])
    .execute();
}

/** Drops what {@link up} created. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("batch_lines").execute();
  await db.schema.dropTable("batches").execute();
  await db.schema.dropTable("files").execute();
}
