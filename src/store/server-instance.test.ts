import { spawn } from "node:child_process";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, hasPostgres, type TestStoreTarget } from "../../test/helpers/databases.js";
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
});
