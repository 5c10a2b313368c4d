import { type Kysely, Migrator } from "kysely";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { migrations } from "../../src/store/migrations/index.js";

/** The PostgreSQL of the store tests (CI has one): `MOESTRO_TEST_DATABASE_URL`, else postgres@127.0.0.1:5432/test. */
export const testPostgresUrl = process.env.MOESTRO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** The Redis of the rate-limit tests: `MOESTRO_TEST_REDIS_URL`, else 127.0.0.1:6379. */
export const testRedisUrl = process.env.MOESTRO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

async function canReachPostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: testPostgresUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function canReachRedis(): Promise<boolean> {
  const redis = new Redis(testRedisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Whether the test PostgreSQL answers. */
export const hasPostgres = await canReachPostgres();
/** Whether the test Redis answers. */
export const hasRedis = await canReachRedis();

if (!hasPostgres) console.warn(`PostgreSQL store tests skipped: ${testPostgresUrl} does not answer (set MOESTRO_TEST_DATABASE_URL)`);
if (!hasRedis) console.warn(`Redis rate-limit tests skipped: ${testRedisUrl} does not answer (set MOESTRO_TEST_REDIS_URL)`);

/** The store dialects every store test runs on: SQLite always, PostgreSQL when it answers (in CI it does). */
export const testDialects: ReadonlyArray<"sqlite" | "postgres"> = hasPostgres ? ["sqlite", "postgres"] : ["sqlite"];

/** Where one test's store lives; `cleanup` removes it. */
export interface TestStoreTarget {
  dialect: "sqlite" | "postgres";
  /** The SQLite folder (SQLite only). */
  home?: string;
  /** The PostgreSQL URL, with a `search_path` on a schema of this test alone (PostgreSQL only). */
  databaseUrl?: string;
  /** Drops the schema or removes the folder. */
  cleanup(): Promise<void>;
}

/**
 * A fresh, empty place for a store: a temporary SQLite folder, or a new PostgreSQL schema (`moestro_test_<random>`)
 * that the returned URL selects through `options=-c search_path=...`, so that test files never see each other's rows.
 */
export async function createTestStoreTarget(dialect: "sqlite" | "postgres"): Promise<TestStoreTarget> {
  if (dialect === "sqlite") {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-store-"));
    return { dialect, home, cleanup: async () => rmSync(home, { recursive: true, force: true }) };
  }
  const schema = `moestro_test_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
  await withPostgres((client) => client.query(`create schema ${schema}`));
  const url = new URL(testPostgresUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    dialect,
    databaseUrl: url.toString(),
    cleanup: () => withPostgres((client) => client.query(`drop schema if exists ${schema} cascade`)).then(() => undefined),
  };
}

async function withPostgres<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testPostgresUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A store opened in a fresh place of its own; `dispose` closes it and removes the place. */
export interface TestStore {
  store: import("../../src/store/index.js").Store;
  target: TestStoreTarget;
  dispose(): Promise<void>;
}

/** Opens a store (migrated) in a fresh place: see {@link createTestStoreTarget}. */
export async function openTestStore(dialect: "sqlite" | "postgres"): Promise<TestStore> {
  const { openStore } = await import("../../src/store/index.js");
  const target = await createTestStoreTarget(dialect);
  const store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  return {
    store,
    target,
    dispose: async () => {
      await store.dispose();
      await target.cleanup();
    },
  };
}

/**
 * `row` without the fields the store's `table` has no column for (read with Kysely's introspection, on SQLite and on
 * the store's PostgreSQL schema alike): for a migration test that writes an "older" row after migrating down, so that
 * it needs no list of the columns each later migration adds. Typed as `Row` for Kysely's `values`: the dropped fields
 * are those the table's type declares and the migrated-down table lacks.
 */
export async function rowWithExistingColumns<Row extends object>(
  store: { db: Kysely<any>; schema?: string },
  table: string,
  row: Row,
): Promise<Row> {
  const tables = await store.db.introspection.getTables();
  const found = tables.find((candidate) => candidate.name === table && (store.schema === undefined || candidate.schema === store.schema));
  if (found === undefined) throw new Error(`no table ${table}`);
  const columns = new Set(found.columns.map((column) => column.name));
  return Object.fromEntries(Object.entries(row).filter(([name]) => columns.has(name))) as Row;
}

/**
 * Migrates `store` down to the migration `target` (every later one undone, newest first), for the migration tests.
 *
 * @returns Kysely's `error`, the `results` as `[name, direction, status]`, and `later`: the names of the migrations
 *   after `target`, newest first (what `results` should undo, whatever migrations have been added since).
 */
export async function migrateDownTo(
  store: { db: Kysely<any>; schema?: string },
  target: string,
): Promise<{ error: unknown; results: Array<[string, string, string]> | undefined; later: string[] }> {
  const migrator = new Migrator({
    db: store.db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableSchema: store.schema,
  });
  const down = await migrator.migrateTo(target);
  return {
    error: down.error,
    results: down.results?.map((result) => [result.migrationName, result.direction, result.status]),
    later: Object.keys(migrations)
      .filter((name) => name > target)
      .reverse(),
  };
}
