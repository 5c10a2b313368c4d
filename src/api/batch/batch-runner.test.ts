import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, type TestStore } from "../../../test/helpers/databases.js";
import type { StoredBatch } from "../../store/index.js";
import type { BatchCaller } from "../app-env.js";
import { startBatchRunner } from "./batch-runner.js";

const logger = pino({ level: "silent" });

function inputLines(count: number): string {
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({ custom_id: `c${index}`, method: "POST", url: "/v1/completions", body: { model: "m", prompt: String(index) } }),
  ).join("\n");
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let tries = 0; ; tries++) {
    const value = await read();
    if (done(value)) return value;
    if (tries > 500) throw new Error(`still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the batch runner (SQLite store, a stand-in for the app)", () => {
  let opened: TestStore;
  beforeAll(async () => {
    opened = await openTestStore("sqlite");
  });
  afterAll(() => opened?.dispose());

  const createBatch = async (count: number, keyId?: string): Promise<StoredBatch> => {
    const repository = opened.store.batches;
    const fileId = `file-${crypto.randomUUID().slice(0, 8)}`;
    const content = inputLines(count);
    await repository.insertFile(
      { id: fileId, purpose: "batch", filename: "in.jsonl", bytes: content.length, lineCount: count, createdAtMs: Date.now() },
      content,
    );
    const batch: StoredBatch = {
      id: `batch_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`,
      endpoint: "/v1/completions",
      inputFileId: fileId,
      completionWindow: "24h",
      status: "validating",
      total: count,
      createdAtMs: Date.now(),
      expiresAtMs: Date.now() + 86_400_000,
      ...(keyId === undefined ? {} : { keyId }),
    };
    await repository.insertBatch(batch);
    return batch;
  };

  it("runs lines as the batch's key, waits out a rate limit, and files each answer by its status", async () => {
    const batch = await createBatch(3, "key_x");
    const callers: BatchCaller[] = [];
    let limited = false;
    const runner = startBatchRunner({
      repository: opened.store.batches,
      ownerId: "runner-a",
      logger,
      pollMs: 20,
      concurrency: 1,
      fetch: async (request, env) => {
        callers.push(env.moestroBatch);
        const body = (await request.json()) as { prompt: string };
        if (body.prompt === "0" && !limited) {
          limited = true;
          return Response.json(
            { error: { code: "rate_limit_exceeded", message: "slow down" } },
            { status: 429, headers: { "retry-after": "1" } },
          );
        }
        if (body.prompt === "2") return Response.json({ error: { code: "invalid_request", message: "bad" } }, { status: 400 });
        return Response.json({ object: "text_completion", prompt: body.prompt });
      },
    });
    try {
      const done = await until(
        () => opened.store.batches.findBatch(batch.id, {}),
        (found) => found?.status === "completed",
      );
      expect(callers.every((caller) => caller.keyId === "key_x" && caller.batchId === batch.id)).toBe(true);
      expect(callers).toHaveLength(4);
      const output = await opened.store.batches.fileContent(done!.outputFileId!, { nowMs: Date.now() });
      expect(
        output!
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line).custom_id),
      ).toEqual(["c0", "c1"]);
      const errors = await opened.store.batches.fileContent(done!.errorFileId!, { nowMs: Date.now() });
      expect(JSON.parse(errors!.trim())).toMatchObject({ custom_id: "c2", response: { status_code: 400 } });
    } finally {
      await runner.dispose();
    }
  });

  it("does not answer the lines a stop cuts; another runner resumes and answers each line once", async () => {
    const batch = await createBatch(4);
    const started: string[] = [];
    const first = startBatchRunner({
      repository: opened.store.batches,
      ownerId: "runner-b",
      isGone: async () => false,
      logger,
      pollMs: 20,
      concurrency: 2,
      fetch: async (request) => {
        const body = (await request.json()) as { prompt: string };
        started.push(body.prompt);
        if (body.prompt === "0") return Response.json({ prompt: body.prompt });
        // Hangs until the runner stops.
        return await new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason)));
      },
    });
    await until(
      async () => started.length,
      (count) => count >= 3,
    );
    await first.dispose();
    expect(await opened.store.batches.answeredLines(batch.id)).toEqual(new Set([0]));
    const calls: string[] = [];
    const second = startBatchRunner({
      repository: opened.store.batches,
      ownerId: "runner-c",
      logger,
      pollMs: 20,
      fetch: async (request) => {
        const body = (await request.json()) as { prompt: string };
        calls.push(body.prompt);
        return Response.json({ prompt: body.prompt });
      },
    });
    try {
      const done = await until(
        () => opened.store.batches.findBatch(batch.id, {}),
        (found) => found?.status === "completed",
      );
      expect(calls.sort()).toEqual(["1", "2", "3"]);
      const output = await opened.store.batches.fileContent(done!.outputFileId!, { nowMs: Date.now() });
      expect(
        output!
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line).custom_id),
      ).toEqual(["c0", "c1", "c2", "c3"]);
    } finally {
      await second.dispose();
    }
  });

  it("fails a batch whose input file is gone", async () => {
    const batch = await createBatch(1);
    await opened.store.batches.deleteFile(batch.inputFileId, { nowMs: Date.now() });
    const runner = startBatchRunner({
      repository: opened.store.batches,
      ownerId: "runner-d",
      logger,
      pollMs: 20,
      fetch: () => Response.json({}),
    });
    try {
      const failed = await until(
        () => opened.store.batches.findBatch(batch.id, {}),
        (found) => found?.status === "failed",
      );
      expect(failed?.errors?.[0]?.code).toBe("input_file_missing");
    } finally {
      await runner.dispose();
    }
  });
});
