import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../../test/helpers/databases.js";
import { openStore, type Store } from "./index.js";
import {
  createMemoryResponseRepository,
  type ResponseRepository,
  type StoredResponse,
  startResponseSweeper,
} from "./response-repository.js";

const t0 = Date.parse("2026-03-01T10:00:00Z");
const day = 86_400_000;

function stored(overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    id: `resp_${crypto.randomUUID().replace(/-/g, "")}`,
    keyId: "key_a",
    model: "m1",
    status: "completed",
    inputItems: [{ type: "message", role: "user", content: "Hi, this prompt is kept", id: "msg_1" }],
    response: { id: "x", object: "response", output: [{ type: "message", content: [{ type: "output_text", text: "Hello" }] }] },
    createdAtMs: t0,
    expiresAtMs: t0 + 30 * day,
    ...overrides,
  };
}

/** The repository contract, for every implementation. */
function repositoryContract(name: string, open: () => Promise<{ repository: ResponseRepository; close(): Promise<void> }>) {
  describe(`stored responses: ${name}`, () => {
    let repository: ResponseRepository;
    let close: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      ({ repository, close } = await open());
    });
    afterAll(async () => await close?.());

    it("stores a response whole and finds it by id, for its own key only (any key when key checks are off)", async () => {
      const response = stored({ previousResponseId: "resp_prev" });
      await repository.insert(response);
      expect(await repository.find(response.id, { keyId: "key_a", nowMs: t0 })).toEqual(response);
      expect(await repository.find(response.id, { nowMs: t0 })).toEqual(response);
      expect(await repository.find(response.id, { keyId: "key_b", nowMs: t0 })).toBeUndefined();
      expect(await repository.find("resp_none", { nowMs: t0 })).toBeUndefined();
      const unkeyed = stored({ keyId: undefined });
      await repository.insert(unkeyed);
      expect(await repository.find(unkeyed.id, { nowMs: t0 })).toEqual(unkeyed);
    });

    it("never serves an expired response, and deletes expired ones", async () => {
      const response = stored({ expiresAtMs: t0 + day });
      await repository.insert(response);
      expect(await repository.find(response.id, { nowMs: t0 + day - 1 })).toBeDefined();
      expect(await repository.find(response.id, { nowMs: t0 + day })).toBeUndefined();
      expect(await repository.delete(response.id, { nowMs: t0 + day })).toBe(false);
      expect(await repository.deleteExpired(t0 + day)).toBeGreaterThanOrEqual(1);
      expect(await repository.find(response.id, { nowMs: t0 })).toBeUndefined();
    });

    it("finds the items a response brought (own input and output, not the carried ones), newest first, in scope", async () => {
      const carried = { type: "message", role: "user", content: "carried", id: "msg_carried" };
      const own = { type: "message", role: "user", content: "own", id: "msg_own" };
      const output = { type: "function_call", id: "fc_out", call_id: "call_1", name: "f", arguments: "{}" };
      const response = stored({ inputItems: [carried, own], carriedItemCount: 1, response: { output: [output] } });
      await repository.insert(response);
      expect(await repository.findItem("msg_own", { keyId: "key_a", nowMs: t0 })).toEqual(own);
      expect(await repository.findItem("fc_out", { nowMs: t0 })).toEqual(output);
      expect(await repository.findItem("msg_carried", { nowMs: t0 })).toBeUndefined();
      expect(await repository.findItem("msg_own", { keyId: "key_b", nowMs: t0 })).toBeUndefined();
      expect(await repository.findItem("msg_own", { nowMs: t0 + 30 * day })).toBeUndefined();
      // The same id sent again by a newer response: the newer item wins.
      const again = { ...own, content: "own, again" };
      await repository.insert(stored({ inputItems: [again], createdAtMs: t0 + 1, response: { output: [] } }));
      expect(await repository.findItem("msg_own", { nowMs: t0 + 2 })).toEqual(again);
      expect(await repository.delete(response.id, { nowMs: t0 })).toBe(true);
      expect(await repository.findItem("fc_out", { nowMs: t0 })).toBeUndefined();
    });

    it("deletes one response in scope: not another key's", async () => {
      const response = stored();
      await repository.insert(response);
      expect(await repository.delete(response.id, { keyId: "key_b", nowMs: t0 })).toBe(false);
      expect(await repository.delete(response.id, { keyId: "key_a", nowMs: t0 })).toBe(true);
      expect(await repository.delete(response.id, { keyId: "key_a", nowMs: t0 })).toBe(false);
    });
  });
}

repositoryContract("in memory", async () => ({ repository: createMemoryResponseRepository(), close: async () => undefined }));

describe.each(testDialects)("stored responses in the %s store", (dialect) => {
  let target: TestStoreTarget;
  let store: Store;
  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  });
  afterAll(async () => {
    await store?.dispose();
    await target?.cleanup();
  });
  repositoryContract(`${dialect} (migration 0004)`, async () => ({ repository: store.responses, close: async () => undefined }));

  it("the sweeper deletes expired responses at start and at each interval, on its clock", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      let nowMs = t0;
      const first = stored({ expiresAtMs: t0 - 1 });
      const second = stored({ expiresAtMs: t0 + day });
      await store.responses.insert(first);
      await store.responses.insert(second);
      const sweeper = startResponseSweeper({
        repository: store.responses,
        logger: pino({ level: "silent" }),
        intervalMs: 1000,
        now: () => nowMs,
      });
      await vi.waitFor(async () => expect(await store.responses.find(first.id, { nowMs: t0 - 10 })).toBeUndefined());
      expect(await store.responses.find(second.id, { nowMs: t0 })).toBeDefined();
      nowMs = t0 + day;
      await vi.advanceTimersByTimeAsync(1000);
      await sweeper.dispose();
      expect(await store.responses.find(second.id, { nowMs: t0 })).toBeUndefined();
      // Their items went with them.
      const items = await store.db
        .selectFrom("response_items")
        .select("response_id")
        .where("response_id", "in", [first.id, second.id])
        .execute();
      expect(items).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
