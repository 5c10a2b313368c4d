import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { sql, type Kysely } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
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
   *   connection ends, a `kill -9` included; a live instance whose connection broke takes it again).
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

/** How long a PostgreSQL instance waits before it tries again to take its lock, ms: doubling from the first to the last. */
const relockDelayMs = { first: 100, last: 5000 };

/**
 * The instance of a PostgreSQL store: a connection of its own, outside the pool, holds the advisory lock named after
 * the id for the life of the process. Another instance tells it is gone by taking that lock (and releasing it at once).
 *
 * A lock connection that breaks (a database restart, `pg_terminate_backend`, a network cut) releases the lock, and
 * other instances then take this one for gone and settle its running requests as interrupted, every 5 s, releasing
 * their budget reservations. So it is logged to `options.logger` (a warning) and the lock is taken again on a new
 * connection, retrying after 0.1 s, then twice as long each time up to 5 s, until it is or the instance is disposed.
 * The requests settled meanwhile are set right by their own ends (`UsageRepository.settle` with `lateFromInterrupted`).
 *
 * @throws when the database cannot be reached at first.
 */
export async function claimPostgresInstance(
  connectionString: string,
  db: Kysely<Database>,
  options: { logger?: Logger } = {},
): Promise<ServerInstance> {
  const id = createServerInstanceId();
  const { logger } = options;
  const disposed = new AbortController();
  // The relocks, one after another: each `end` of a connection that held the lock queues one.
  let relocking: Promise<void> = Promise.resolve();
  // A connection still taking the lock (pg_advisory_lock waits while the broken session's lock lingers): a dispose ends it.
  let connecting: pg.Client | undefined;

  const lock = async (): Promise<pg.Client> => {
    const next = new pg.Client({ connectionString });
    // Without a listener an `error` would crash the process; the `end` that follows it takes the lock again.
    next.on("error", (error) => logger?.warn({ err: error, instance: id }, "the connection holding the server instance's lock failed"));
    connecting = next;
    try {
      await next.connect();
      await next.query("select pg_advisory_lock(hashtextextended($1, 0))", [lockName(id)]);
    } catch (error) {
      await next.end().catch(() => undefined);
      throw error;
    } finally {
      connecting = undefined;
    }
    next.once("end", () => {
      if (!disposed.signal.aborted) relocking = relocking.then(relock);
    });
    return next;
  };
  const relock = async (): Promise<void> => {
    logger?.warn(
      { instance: id },
      "lost the server instance's lock: other instances may settle its running requests as interrupted until it is taken again",
    );
    for (let delayMs = relockDelayMs.first; !disposed.signal.aborted; delayMs = Math.min(2 * delayMs, relockDelayMs.last)) {
      try {
        const next = await lock();
        if (disposed.signal.aborted) {
          await next.end().catch(() => undefined);
          return;
        }
        client = next;
        logger?.info({ instance: id }, "took the server instance's lock again");
        return;
      } catch (error) {
        logger?.warn({ err: error, instance: id, retryInMs: delayMs }, "could not take the server instance's lock again");
        await sleep(delayMs, undefined, { signal: disposed.signal }).catch(() => undefined);
      }
    }
  };

  let client = await lock();
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      disposed.abort();
      await connecting?.end().catch(() => undefined);
      await relocking;
      await client.end().catch(() => undefined);
    })());
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
