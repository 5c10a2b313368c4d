import { describe, it } from "vitest";
import { createTestStoreTarget, hasPostgres } from "../../test/helpers/databases.js";
import { openStore } from "./open-store.js";

describe.skipIf(!hasPostgres)("openStore on PostgreSQL", () => {
  // Bug: Kysely's Migrator, built without `migrationTableSchema`, looks for its kysely_migration and
  // kysely_migration_lock tables in every schema of the database. When another schema already has them (a second
  // moestro on the same database with its own search_path, another Kysely app, or another test file's schema at the
  // same moment), it skips creating them in the store's schema and then fails: relation "kysely_migration_lock" does
  // not exist. Concurrent test runs on one database (store, key-service and ledger-kill tests) fail the same way.
  it.fails("migrates a store in its own schema while another schema of the database holds moestro's tables", async () => {
    const first = await createTestStoreTarget("postgres");
    const second = await createTestStoreTarget("postgres");
    try {
      const a = await openStore({ databaseUrl: first.databaseUrl });
      const b = await openStore({ databaseUrl: second.databaseUrl });
      await Promise.all([a.dispose(), b.dispose()]);
    } finally {
      await Promise.all([first.cleanup(), second.cleanup()]);
    }
  });
});
