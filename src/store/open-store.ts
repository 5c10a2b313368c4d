import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { MoestroError } from "../errors/index.js";
import { createApiKeyRepository, type ApiKeyRepository } from "./api-key-repository.js";
import type { Database, StoreDialect } from "./database.js";
import { migrations } from "./migrations/index.js";
import { createUsageRepository, type UsageRepository } from "./usage-repository.js";

/** Where the store lives. */
export interface StoreOptions {
  /**
   * A PostgreSQL URL (`postgres://user@host:5432/db`; `?options=-c search_path=NAME` picks a schema). When absent the
   * store is the SQLite file `moestro.db` in `home`. Defaults to none (SQLite).
   */
  databaseUrl?: string;
  /** The folder of the SQLite file, created (mode 0700) when missing. Defaults to `~/.moestro`. */
  home?: string;
  /** PostgreSQL connections at most. Defaults to 10. */
  maxConnections?: number;
  /**
   * SQLite's `synchronous` setting (https://www.sqlite.org/pragma.html#pragma_synchronous). With WAL, `normal` keeps every
   * committed transaction through a crash or `kill -9` of the process and may lose the last ones on power loss or an
   * OS crash; `full` also survives those, for an fsync per commit (about 0.35 ms on the ledger write here, blocking the
   * event loop). Defaults to `normal`, as Rails 8 and Litestream configure SQLite.
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
  /** API keys. */
  readonly apiKeys: ApiKeyRepository;
  /** The usage ledger and its daily rollup. */
  readonly usage: UsageRepository;
  /**
   * The Kysely instance behind the repositories.
   *
   * @internal for tests and migrations only; everything else goes through the repositories.
   */
  readonly db: Kysely<Database>;
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
 * @throws {MoestroError} `invalid_request` when `databaseUrl` is not a `postgres://` or `postgresql://` URL.
 * @throws when the database cannot be reached or a migration fails (the connections are closed first).
 * @example
 * await using store = await openStore({home: "/var/lib/moestro"});
 * const keys = await store.apiKeys.list({includeRevoked: false});
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const { db, dialect, location, sqlite } = createKysely(options);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> => (disposing ??= db.destroy());
  return {
    dialect,
    location,
    db,
    apiKeys: createApiKeyRepository(db),
    usage: createUsageRepository(db, { sqlite }),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/**
 * Applies every migration of `migrations/` that has not run yet, in name order.
 *
 * @throws the first migration's error, after rolling it back.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => ({ ...migrations }) } });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
}

function createKysely(options: StoreOptions): {
  db: Kysely<Database>;
  dialect: StoreDialect;
  location: string;
  sqlite?: BetterSqlite3.Database;
} {
  if (options.databaseUrl !== undefined) {
    const url = parsePostgresUrl(options.databaseUrl);
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.maxConnections ?? 10, types: numericTypes });
    // An idle connection that breaks (database restart) emits `error` on the pool; without a listener it would crash the process.
    pool.on("error", () => undefined);
    url.password = "";
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: "postgres", location: url.toString() };
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

function parsePostgresUrl(databaseUrl: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(databaseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new MoestroError(
      "invalid_request",
      "The database URL must start with postgres:// or postgresql:// (leave it out to use the SQLite file in MOESTRO_HOME).",
      { param: "databaseUrl" },
    );
  }
  return url;
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
