import { sql, type Kysely } from "kysely";

/**
 * Time pricing of local requests (issue 20, "Honest cost of local tokens"), in `usage_events` and `usage_daily`:
 * - `engine_time_us`: the local engine's busy time charged to the request, µs (0: not measured, as for upstream
 *   requests and rows written before this migration);
 * - `cost_nano_usd`, `cloud_cost_nano_usd`: the costs exact to the nano-USD, since a short request on a small model
 *   costs a fraction of a micro-USD; existing rows get their micro-USD figures × 1000;
 * - `cost_estimated`: 1 when the cost rests on a default power or electricity price (in `usage_daily`: how many such
 *   requests).
 * Not null, 0 by default. Frozen in time: later changes go in a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_events", "usage_daily"]) {
    for (const column of ["engine_time_us", "cost_nano_usd", "cloud_cost_nano_usd", "cost_estimated"]) {
      await db.schema
        .alterTable(table)
        .addColumn(column, "bigint", (definition) => definition.notNull().defaultTo(0))
        .execute();
    }
    await sql`update ${sql.table(table)} set cost_nano_usd = cost_micro_usd * 1000, cloud_cost_nano_usd = cloud_cost_micro_usd * 1000`.execute(
      db,
    );
  }
}

/** Drops what {@link up} added (the micro-USD columns were never changed). */
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ["usage_daily", "usage_events"]) {
    for (const column of ["cost_estimated", "cloud_cost_nano_usd", "cost_nano_usd", "engine_time_us"]) {
      await db.schema.alterTable(table).dropColumn(column).execute();
    }
  }
}
