import { spawn } from "node:child_process";
import os from "node:os";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, hasPostgres, testPostgresUrl, type TestStoreTarget } from "../../test/helpers/databases.js";
import { openStore } from "./index.js";
import { claimSqliteInstance } from "./server-instance.js";

describe("server instances on SQLite", () => {
  it("are ids of host, pid and a random part; a gone process on this host is gone, others cannot be told", async () => {
    const instance = claimSqliteInstance();
    expect(instance.id).toMatch(new RegExp(`^${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${process.pid}:[0-9a-f]{8}$`));
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    expect(await instance.isGone(`${os.hostname()}:${child.pid}:0badc0de`)).toBe(true);
    // This process's pid under another id: a predecessor that had the same pid (a restarted container) is gone.
    expect(await instance.isGone(`${os.hostname()}:${process.pid}:0badc0de`)).toBe(true);
    expect(await instance.isGone(instance.id)).toBe(false);
    expect(await instance.isGone(`${os.hostname()}:${process.ppid}:0badc0de`)).toBe(false);
    expect(await instance.isGone(`another-host:${child.pid}:0badc0de`)).toBe(false);
    expect(await instance.isGone("not an instance id")).toBe(false);
  });
});

describe.skipIf(!hasPostgres)("server instances on PostgreSQL", () => {
  let target: TestStoreTarget;

  beforeAll(async () => {
    target = await createTestStoreTarget("postgres");
  });
  afterAll(async () => {
    await target?.cleanup();
  });

  it("hold an advisory lock for their life: alive while held, gone once its connection is closed", async () => {
    const first = await openStore({ databaseUrl: target.databaseUrl });
    const second = await openStore({ databaseUrl: target.databaseUrl });
    try {
      const mine = await first.claimInstance();
      const theirs = await second.claimInstance();
      expect(await mine.isGone(theirs.id)).toBe(false);
      expect(await theirs.isGone(mine.id)).toBe(false);
      expect(await mine.isGone(mine.id)).toBe(false);
      // Asking twice must not take the lock for good.
      expect(await mine.isGone("host:1:00000000")).toBe(true);
      expect(await theirs.isGone("host:1:00000000")).toBe(true);
      await theirs.dispose();
      expect(await mine.isGone(theirs.id)).toBe(true);
    } finally {
      await first.dispose();
      await second.dispose();
    }
  });

  it("take their lock again when its connection is cut (pg_terminate_backend), saying so: seen alive again", async () => {
    const first = await openStore({ databaseUrl: target.databaseUrl });
    const second = await openStore({ databaseUrl: target.databaseUrl });
    const admin = new pg.Client({ connectionString: testPostgresUrl });
    await admin.connect();
    const logs: Array<{ msg: string }> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line) as { msg: string }) });
    // The backend that holds an instance's advisory lock (a bigint key: classid is its high half, objid its low half).
    const lockHolder = async (instanceId: string): Promise<number | undefined> =>
      (
        await admin.query<{ pid: number }>(
          `select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1
             and ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
          [`moestro-instance:${instanceId}`],
        )
      ).rows[0]?.pid;
    try {
      const mine = await first.claimInstance({ logger });
      const theirs = await second.claimInstance();
      const cutPid = await lockHolder(mine.id);
      expect(cutPid).toBeDefined();
      await admin.query("select pg_terminate_backend($1)", [cutPid]);
      const deadline = Date.now() + 10_000;
      let holder: number | undefined;
      while (Date.now() < deadline) {
        holder = await lockHolder(mine.id);
        if (holder !== undefined && holder !== cutPid) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(holder).toBeDefined();
      expect(holder).not.toBe(cutPid);
      expect(await theirs.isGone(mine.id)).toBe(false);
      expect(logs.map((log) => log.msg)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^lost the server instance's lock/), "took the server instance's lock again"]),
      );
      // Disposing gives the new lock up.
      await mine.dispose();
      expect(await theirs.isGone(mine.id)).toBe(true);
    } finally {
      await admin.end();
      await first.dispose();
      await second.dispose();
    }
  });
});
