import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDownTo, openTestStore, testDialects, type TestStore } from "../../test/helpers/databases.js";
import { migrateToLatest, type Store, type StoredBatch } from "./index.js";

const t0 = Date.parse("2026-12-07T10:00:00Z");

function batch(overrides: Partial<StoredBatch> = {}): StoredBatch {
  return {
    id: `batch_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`,
    keyId: "key_a",
    endpoint: "/v1/completions",
    inputFileId: "file-x",
    completionWindow: "24h",
    status: "validating",
    total: 3,
    createdAtMs: t0,
    expiresAtMs: t0 + 86_400_000,
    ...overrides,
  };
}

describe.each(testDialects)("the Files and Batch APIs' tables (migration 0008) on %s", (dialect) => {
  let opened: TestStore;
  let store: Store;
  beforeAll(async () => {
    opened = await openTestStore(dialect);
    store = opened.store;
  });
  afterAll(() => opened?.dispose());

  it("keeps files per key until they expire, and lists them newest first", async () => {
    const file = {
      id: "file-a1",
      keyId: "key_a",
      purpose: "batch",
      filename: "a.jsonl",
      bytes: 5,
      lineCount: 1,
      createdAtMs: t0,
      expiresAtMs: t0 + 1000,
    };
    await store.batches.insertFile(file, "{}\n");
    await store.batches.insertFile({ ...file, id: "file-a2", createdAtMs: t0 + 1, expiresAtMs: undefined }, "{}\n");
    expect(await store.batches.findFile("file-a1", { keyId: "key_a", nowMs: t0 })).toEqual(file);
    expect(await store.batches.findFile("file-a1", { keyId: "key_b", nowMs: t0 })).toBeUndefined();
    expect(await store.batches.fileContent("file-a1", { nowMs: t0 })).toBe("{}\n");
    expect((await store.batches.listFiles({ keyId: "key_a", nowMs: t0 }, { limit: 10 })).map((listed) => listed.id)).toEqual([
      "file-a2",
      "file-a1",
    ]);
    expect((await store.batches.listFiles({ nowMs: t0 }, { limit: 10, after: "file-a2" })).map((listed) => listed.id)).toEqual(["file-a1"]);
    expect(await store.batches.findFile("file-a1", { nowMs: t0 + 1000 })).toBeUndefined();
    expect(await store.batches.deleteExpiredFiles(t0 + 1000)).toBe(1);
    expect(await store.batches.deleteFile("file-a2", { keyId: "key_b", nowMs: t0 })).toBe(false);
    expect(await store.batches.deleteFile("file-a2", { keyId: "key_a", nowMs: t0 })).toBe(true);
  });

  it("gives a batch's lease to one runner, answers each line once, and lets a cancellation win over the runner", async () => {
    const stored = batch();
    await store.batches.insertBatch(stored);
    expect(await store.batches.findBatch(stored.id, { keyId: "key_a" })).toEqual(stored);
    const [first, second] = await Promise.all([
      store.batches.claim("runner-1", t0, t0 + 30_000, 10),
      store.batches.claim("runner-2", t0, t0 + 30_000, 10),
    ]);
    expect([...first, ...second].filter((id) => id === stored.id)).toHaveLength(1);
    const owner = first.includes(stored.id) ? "runner-1" : "runner-2";
    expect(await store.batches.heldBatches()).toContainEqual({ id: stored.id, ownerId: owner });
    // A lease that ran out is taken over.
    expect(await store.batches.claim("runner-3", t0 + 30_001, t0 + 60_000, 10)).toContain(stored.id);
    expect(await store.batches.renewLease(stored.id, owner, t0 + 90_000)).toBe(false);

    expect(await store.batches.insertLine(stored.id, { lineIndex: 1, ok: true, result: { custom_id: "b" } }, t0)).toBe(true);
    expect(await store.batches.insertLine(stored.id, { lineIndex: 1, ok: false, result: { custom_id: "again" } }, t0)).toBe(false);
    expect(await store.batches.insertLine(stored.id, { lineIndex: 0, ok: false, result: { custom_id: "a" } }, t0)).toBe(true);
    expect(await store.batches.lines(stored.id)).toEqual([
      { lineIndex: 0, ok: false, result: { custom_id: "a" } },
      { lineIndex: 1, ok: true, result: { custom_id: "b" } },
    ]);
    expect(await store.batches.answeredLines(stored.id)).toEqual(new Set([0, 1]));
    expect((await store.batches.lineCounts([stored.id])).get(stored.id)).toEqual({ completed: 1, failed: 1 });

    expect(await store.batches.requestCancel(stored.id, { keyId: "key_b" }, t0)).toBeUndefined();
    expect((await store.batches.requestCancel(stored.id, { keyId: "key_a" }, t0 + 5))?.status).toBe("cancelling");
    expect(await store.batches.updateBatch(stored.id, { status: "in_progress", inProgressAtMs: t0 }, ["validating"])).toBe(false);
    expect(await store.batches.updateBatch(stored.id, { status: "cancelled", cancelledAtMs: t0 + 9 })).toBe(true);
    expect(await store.batches.findBatch(stored.id, {})).toMatchObject({
      status: "cancelled",
      cancellingAtMs: t0 + 5,
      cancelledAtMs: t0 + 9,
    });
    expect(await store.batches.claim("runner-4", t0 + 100_000, t0 + 130_000, 10)).not.toContain(stored.id);
  });

  it("migrates down and up again", async () => {
    const down = await migrateDownTo(store, "0006-usage-speculative");
    expect(down.error).toBeUndefined();
    // Every later migration is undone, newest first (0008-batches among them), whatever others have been added since.
    expect(down.later).toContain("0008-batches");
    expect(down.results).toEqual(down.later.map((name) => [name, "Down", "Success"]));
    await expect(store.db.selectFrom("batches").selectAll().execute()).rejects.toThrow();
    await migrateToLatest(store.db, { schema: store.schema });
    expect(await store.db.selectFrom("batch_lines").selectAll().execute()).toEqual([]);
  });
});
