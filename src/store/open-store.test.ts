import { describe, it } from "vitest";
import { createTestStoreTarget, hasPostgres } from "../../test/helpers/databases.js";
import { openStore } from "./open-store.js";

describe.skipIf(!hasPostgres)("openStore on PostgreSQL", () => {
  // Kysely's Migrator looks for its tables in every schema unless `migrationTableSchema` is set; the store pins it.
  it("migrates a store in its own schema while another schema of the database holds moestro's tables", async () => {
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
