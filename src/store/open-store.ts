import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import { MoestroError } from "../errors/index.js";
import { createApiKeyRepository, type ApiKeyRepository } from "./api-key-repository.js";
import type { Database, StoreDialect } from "./database.js";
import { migrations } from "./migrations/index.js";
import { resolvePostgresTarget } from "./postgres-target.js";
import { claimPostgresInstance, claimSqliteInstance, type ServerInstance } from "./server-instance.js";
import { createResponseRepository, type ResponseRepository } from "./response-repository.js";
import { createBatchRepository, type BatchRepository } from "./batch-repository.js";
import { createUsageRepository, type UsageRepository } from "./usage-repository.js";

/** Where the store lives. */
export interface StoreOptions {
  /**
   * A PostgreSQL URL (`postgres://user@host:5432/db`; `?options=-c search_path=NAME` picks a schema). When absent the
   * store is the SQLite file `moestro.db` in `home`. Defaults to none (SQLite).
   */
  databaseUrl?: string;
  /**
   * The PostgreSQL schema of moestro's tables, created when missing; it replaces the URL's `search_path`. Without it,
   * the first schema of the URL's `search_path` (created when missing), else the connection's `current_schema()`.
   * PostgreSQL only. Defaults to none.
   */
  databaseSchema?: string;
  /** The folder of the SQLite file, created (mode 0700) when missing. Defaults to `~/.moestro`. */
  home?: string;
  /** PostgreSQL connections at most. Defaults to 10. */
  maxConnections?: number;
  /**
   * SQLite's `synchronous` setting (https://www.sqlite.org/pragma.html#pragma_synchronous). With WAL, `normal` keeps every
   * committed transaction through a crash or `kill -9` of the process and may lose the last ones on power loss or an
   * OS crash; `full` also survives those, for an fsync per commit, which blocks the event loop (its cost:
   * docs/studio.md#the-ledger-contract). Defaults to `normal`, as Rails 8 and Litestream configure SQLite.
   */
  sqliteSynchronous?: "normal" | "full";
}

/**
 * moestro's store: API keys and the usage ledger, each behind its repository. Migrations have been applied when
 * {@link openStore} resolves.
 */
export interface Store extends AsyncDisposable {
  /** The SQL engine. */
  readonly dialect: StoreDialect;
  /** Where the data is, for logs: the SQLite file path, or the PostgreSQL URL without its password. */
  readonly location: string;
  /** The PostgreSQL schema that holds the tables; `undefined` on SQLite. */
  readonly schema?: string;
  /** API keys. */
  readonly apiKeys: ApiKeyRepository;
  /** The usage ledger and its daily rollup. */
  readonly usage: UsageRepository;
  /** Stored responses of the Responses API. */
  readonly responses: ResponseRepository;
  /** The Files and Batch APIs' files, batches and answered lines. */
  readonly batches: BatchRepository;
  /**
   * The Kysely instance behind the repositories.
   *
   * @internal for tests and migrations only; everything else goes through the repositories.
   */
  readonly db: Kysely<Database>;
  /**
   * Claims a server instance id for this process (the owner of the running ledger rows it writes) and the means to tell
   * other instances' liveness. Given up when the store is disposed, if not before. `options.logger` hears of a lost
   * PostgreSQL lock and of taking it again (see `claimPostgresInstance`). Defaults to no logger.
   *
   * @throws when the database cannot be reached (PostgreSQL opens a connection of its own for the instance's lock).
   */
  claimInstance(options?: { logger?: Logger }): Promise<ServerInstance>;
  /** Closes the connections. Idempotent. */
  dispose(): Promise<void>;
}

/** The default home folder, `~/.moestro`, used when `home` is not set. */
export function defaultHome(): string {
  return path.join(os.homedir(), ".moestro");
}

/**
 * Opens the store (SQLite by default, PostgreSQL when `databaseUrl` is given) and applies every pending migration.
 *
 * SQLite runs in WAL mode with `synchronous=NORMAL` by default, so that a committed ledger row survives a crash or
 * `kill -9` of the process (`sqliteSynchronous: "full"` makes it survive a power loss too); a 5 s busy timeout lets the
 * CLI and a running server share the file.
 *
 * On PostgreSQL the tables live in one schema ({@link StoreOptions.databaseSchema}), and Kysely's migration tables are
 * pinned to it: without that, the migrator finds `kysely_migration_lock` in any schema of the database and then fails
 * to read it through the `search_path` when another schema already holds moestro's tables.
 *
 * @throws {MoestroError} `invalid_request` when `databaseUrl` is not a `postgres://` or `postgresql://` URL, when
 *   `databaseSchema` is not a lower-case identifier or is given without `databaseUrl`, or when the connection has no
 *   schema to create tables in.
 * @throws when the database cannot be reached or a migration fails (the connections are closed first).
 * @example
 * await using store = await openStore({home: "/var/lib/moestro"});
 * const keys = await store.apiKeys.list({includeRevoked: false});
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const { db, dialect, location, sqlite, schema: askedSchema, connectionString } = createKysely(options);
  let schema: string | undefined;
  try {
    if (dialect === "postgres") schema = await preparePostgresSchema(db, askedSchema);
    await migrateToLatest(db, { schema });
  } catch (error) {
    await db.destroy();
    throw error;
  }
  const instances: ServerInstance[] = [];
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      await Promise.all(instances.map((instance) => instance.dispose()));
      await db.destroy();
    })());
  return {
    dialect,
    location,
    schema,
    db,
    apiKeys: createApiKeyRepository(db),
    usage: createUsageRepository(db, sqlite === undefined ? { dialect: "postgres" } : { dialect: "sqlite", sqlite }),
    responses: createResponseRepository(db),
    batches: createBatchRepository(db),
    async claimInstance(claimOptions = {}) {
      const instance =
        connectionString === undefined ? claimSqliteInstance() : await claimPostgresInstance(connectionString, db, claimOptions);
      instances.push(instance);
      return instance;
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/**
 * Applies every migration of `migrations/` that has not run yet, in name order. `options.schema` is where Kysely's
 * migration tables live (PostgreSQL; the migrations' own tables go where the connection's `search_path` says).
 *
 * @throws the first migration's error, after rolling it back.
 */
export async function migrateToLatest(db: Kysely<Database>, options: { schema?: string } = {}): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableSchema: options.schema,
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
}

function createKysely(options: StoreOptions): {
  db: Kysely<Database>;
  dialect: StoreDialect;
  location: string;
  sqlite?: BetterSqlite3.Database;
  schema?: string;
  connectionString?: string;
} {
  if (options.databaseUrl !== undefined) {
    const target = resolvePostgresTarget(options.databaseUrl, options.databaseSchema);
    const pool = new pg.Pool({ connectionString: target.connectionString, max: options.maxConnections ?? 10, types: numericTypes });
    // An idle connection that breaks (database restart) emits `error` on the pool; without a listener it would crash the process.
    pool.on("error", () => undefined);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: "postgres", location: target.location, schema: target.schema, connectionString: target.connectionString };
  }
  if (options.databaseSchema !== undefined) {
    throw new MoestroError(
      "invalid_request",
      "A database schema applies to a PostgreSQL store only: pass --database-url postgres://... too.",
      {
        param: "databaseSchema",
      },
    );
  }
  const home = options.home ?? defaultHome();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, "moestro.db");
  const database = new BetterSqlite3(file);
  database.pragma("journal_mode = WAL");
  database.pragma(`synchronous = ${options.sqliteSynchronous ?? "normal"}`);
  database.pragma("busy_timeout = 5000");
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), dialect: "sqlite", location: file, sqlite: database };
}

/**
 * The schema of a PostgreSQL store's tables: `asked` (created when missing, as Kysely's migrator would create only its
 * own tables' schema), else the connection's `current_schema()`.
 *
 * @throws {MoestroError} `invalid_request` when no schema was asked for and the `search_path` names no existing schema.
 */
async function preparePostgresSchema(db: Kysely<Database>, asked: string | undefined): Promise<string> {
  if (asked !== undefined) {
    // Looked up first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the schema exists.
    const exists = async (): Promise<boolean> =>
      (await sql<{ found: boolean }>`select exists (select 1 from pg_namespace where nspname = ${asked}) as found`.execute(db)).rows[0]
        ?.found === true;
    if (await exists()) return asked;
    try {
      await db.schema.createSchema(asked).ifNotExists().execute();
    } catch (error) {
      // Two stores opening at once can both try to create it; the loser's unique violation is harmless.
      if (!(await exists())) throw error;
    }
    return asked;
  }
  const current = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = current.rows[0]?.schema ?? null;
  if (schema === null) {
    throw new MoestroError(
      "invalid_request",
      "The PostgreSQL connection's search_path names no existing schema: pass --database-schema NAME (created when missing).",
      { param: "databaseSchema" },
    );
  }
  return schema;
}

/**
 * Type parsers of this store's PostgreSQL connections: `bigint` (oid 20) and `numeric` (oid 1700, what `sum(bigint)`
 * returns) as JavaScript numbers, so that both dialects give the same row types. Token counts and micro-USD stay far
 * below 2^53. Per pool, not `pg.types.setTypeParser`, which would change every `pg` user in the process.
 */
const numericTypes = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === 20 || oid === 1700 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as "text"),
} as unknown as pg.CustomTypesConfig;
