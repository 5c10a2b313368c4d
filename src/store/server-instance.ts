import os from "node:os";
import { sql, type Kysely } from "kysely";
import pg from "pg";
import type { Database } from "./database.js";

/**
 * One server process's claim on the store: the id its running ledger rows carry, and a way to tell whether the owner
 * of other rows is gone.
 */
export interface ServerInstance extends AsyncDisposable {
  /** `<hostname>:<pid>:<8 hex digits>`, new for every process. */
  readonly id: string;
  /**
   * Whether the instance `instanceId` is known to be gone (its process ended). `false` when it is alive or cannot be
   * told; callers then fall back on its heartbeat's age.
   * - PostgreSQL: the instance's session-level advisory lock is free (PostgreSQL releases it when the process's
   *   connection ends, a `kill -9` included).
   * - SQLite: the instance ran on this host and no process has its pid any more (or this process has it now).
   */
  isGone(instanceId: string): Promise<boolean>;
  /** Gives the claim up (PostgreSQL: closes the connection that holds the lock). Idempotent. */
  dispose(): Promise<void>;
}

/** A new instance id for this process: `<hostname>:<pid>:<8 random hex digits>`. */
export function createServerInstanceId(): string {
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${os.hostname()}:${process.pid}:${random}`;
}

/** The instance of a SQLite store: liveness by process id, on this host. */
export function claimSqliteInstance(): ServerInstance {
  const id = createServerInstanceId();
  const dispose = async (): Promise<void> => undefined;
  return { id, isGone: async (instanceId) => isProcessGone(instanceId, id), dispose, [Symbol.asyncDispose]: dispose };
}

/**
 * The instance of a PostgreSQL store: a connection of its own, outside the pool, holds the advisory lock named after
 * the id for the life of the process. Another instance tells it is gone by taking that lock (and releasing it at once).
 *
 * @throws when the database cannot be reached.
 */
export async function claimPostgresInstance(connectionString: string, db: Kysely<Database>): Promise<ServerInstance> {
  const id = createServerInstanceId();
  const client = new pg.Client({ connectionString });
  // A broken connection releases the lock; other instances may then settle this one's rows as interrupted, and its
  // own ends reconcile them (UsageRepository.settle with lateFromInterrupted). Nothing to crash for.
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query("select pg_advisory_lock(hashtextextended($1, 0))", [lockName(id)]);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> => (disposing ??= client.end().catch(() => undefined));
  return {
    id,
    async isGone(instanceId) {
      if (instanceId === id) return false;
      return await db.connection().execute(async (connection) => {
        const name = lockName(instanceId);
        const { rows } = await sql<{ acquired: boolean }>`select pg_try_advisory_lock(hashtextextended(${name}, 0)) as acquired`.execute(
          connection,
        );
        if (rows[0]?.acquired !== true) return false;
        await sql`select pg_advisory_unlock(hashtextextended(${name}, 0))`.execute(connection);
        return true;
      });
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/** The advisory lock's name (hashed to 64 bits by `hashtextextended`): advisory locks are per database, not per schema. */
function lockName(instanceId: string): string {
  return `moestro-instance:${instanceId}`;
}

/** Whether the process of `instanceId` is gone: it ran on this host and its pid is free, or is this process's now. */
function isProcessGone(instanceId: string, ownId: string): boolean {
  const match = /^(.*):(\d+):[0-9a-f]+$/.exec(instanceId);
  if (match === null || match[1] !== os.hostname()) return false;
  const pid = Number(match[2]);
  // A restarted container often gets the same pid (1): the old instance with this pid cannot be alive.
  if (pid === process.pid) return instanceId !== ownId;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
