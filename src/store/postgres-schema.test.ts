import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { hasPostgres, testPostgresUrl } from "../../test/helpers/databases.js";
import { MoestroError } from "../errors/index.js";
import { openStore, resolvePostgresTarget, type UsageRecord } from "./index.js";

describe("the PostgreSQL target", () => {
  it("sets the schema as the URL's search_path, replacing one already there and keeping other options", () => {
    const target = resolvePostgresTarget("postgres://me:secret@db:5432/app?options=-c%20search_path%3Dold%20-c%20work_mem%3D8MB", "fresh");
    expect(target.schema).toBe("fresh");
    expect(new URL(target.connectionString).searchParams.get("options")).toBe("-c work_mem=8MB -c search_path=fresh");
    expect(target.location).not.toContain("secret");
    expect(resolvePostgresTarget("postgres://db/app", "s1").connectionString).toContain("options=-c+search_path%3Ds1");
  });

  it("reads the schema from the URL's search_path as PostgreSQL does", () => {
    const schemaOf = (options: string) => resolvePostgresTarget(`postgresql://db/app?options=${encodeURIComponent(options)}`).schema;
    expect(schemaOf("-c search_path=Tenant_A,public")).toBe("tenant_a");
    expect(schemaOf('-c search_path="Tenant\\ A"')).toBe("Tenant A"); // libpq escapes spaces with a backslash
    expect(schemaOf("--search_path=x")).toBe("x");
    expect(schemaOf('-c search_path="$user",public')).toBeUndefined();
    expect(resolvePostgresTarget("postgres://db/app").schema).toBeUndefined();
  });

  it("refuses a schema that is not a lower-case identifier, and a schema without a PostgreSQL store", async () => {
    for (const bad of ["Upper", "1st", "a-b", "x".repeat(64), ""]) {
      expect(() => resolvePostgresTarget("postgres://db/app", bad), bad).toThrow(MoestroError);
    }
    expect(() => resolvePostgresTarget("mysql://db/app")).toThrow(/postgres:\/\//);
    await expect(openStore({ home: "/nonexistent", databaseSchema: "x" })).rejects.toMatchObject({ code: "invalid_request" });
  });
});

describe.skipIf(!hasPostgres)("stores in two schemas of one PostgreSQL database", () => {
  const suffix = crypto.randomUUID().replace(/-/g, "").slice(0, 12);
  const schemas = { first: `moestro_a_${suffix}`, second: `moestro_b_${suffix}`, third: `moestro_c_${suffix}` };
  const withSearchPath = (schema: string): string => {
    const url = new URL(testPostgresUrl);
    url.searchParams.set("options", `-c search_path=${schema}`);
    return url.toString();
  };
  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: testPostgresUrl });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  const row = (requestId: string): UsageRecord => ({
    requestId,
    model: "m",
    endpoint: "completions",
    stream: false,
    status: "ok",
    promptTokens: 1,
    cachedPromptTokens: 0,
    completionTokens: 1,
    reasoningTokens: 0,
    costMicroUsd: 1,
    cloudCostMicroUsd: 0,
    startedAtMs: Date.parse("2026-03-01T00:00:00Z"),
    latencyMs: 1,
  });

  afterAll(async () => {
    for (const schema of Object.values(schemas)) await query(`drop schema if exists ${schema} cascade`);
  });

  it("opens a new schema while another already holds moestro's tables, by flag and by search_path, each with its own migrations", async () => {
    // The first store: a schema made by hand, chosen through the URL's search_path.
    await query(`create schema ${schemas.first}`);
    const first = await openStore({ databaseUrl: withSearchPath(schemas.first) });
    // The second: a schema that does not exist yet, by databaseSchema (--database-schema), on a URL without search_path.
    const second = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schemas.second });
    // The third: a schema that does not exist yet, named only by the URL's search_path (the case that failed with
    // `relation "kysely_migration_lock" does not exist`).
    const third = await openStore({ databaseUrl: withSearchPath(schemas.third) });
    try {
      expect([first.schema, second.schema, third.schema]).toEqual([schemas.first, schemas.second, schemas.third]);
      await first.usage.record(row("in-first"), 0);
      await second.usage.record(row("in-second"), 0);
      expect((await first.usage.list({})).map((record) => record.requestId)).toEqual(["in-first"]);
      expect((await second.usage.list({})).map((record) => record.requestId)).toEqual(["in-second"]);
      expect(await third.usage.list({})).toEqual([]);
      const tables = await query<{ table_schema: string; table_name: string }>(
        "select table_schema, table_name from information_schema.tables where table_schema = any($1) order by 1, 2",
        [Object.values(schemas)],
      );
      for (const schema of Object.values(schemas)) {
        expect(tables.filter((table) => table.table_schema === schema).map((table) => table.table_name)).toEqual(
          expect.arrayContaining(["api_keys", "kysely_migration", "kysely_migration_lock", "usage_daily", "usage_events"]),
        );
      }
    } finally {
      await Promise.all([first.dispose(), second.dispose(), third.dispose()]);
    }
    // Opened again, each finds its own migrations applied.
    const again = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schemas.second });
    expect((await again.usage.list({})).map((record) => record.requestId)).toEqual(["in-second"]);
    await again.dispose();
  });
});
