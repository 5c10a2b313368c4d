import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { killHard, startServe } from "../helpers/serve-process.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const adminKey = "batch-restart-admin-key-0123456789";
const lineCount = 16;

if (!existsSync(path.join(root, "dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (`npm test` does).");

async function serve(target: TestStoreTarget): Promise<{ child: ChildProcessWithoutNullStreams; client: OpenAI }> {
  const args = [
    "--model",
    testModelPath("stories260K.gguf"),
    "--port",
    "0",
    "--threads",
    "1",
    "--parallel",
    "2",
    "--json",
    "--log-level",
    "warn",
  ];
  if (target.home !== undefined) args.push("--home", target.home);
  if (target.databaseUrl !== undefined) args.push("--database-url", target.databaseUrl);
  const started = startServe(args, { MOESTRO_ADMIN_KEY: adminKey });
  const url = await started.url;
  return { child: started.child, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: adminKey, maxRetries: 0 }) };
}

describe.skipIf(!hasTestModels).each(testDialects)("a batch cut by kill -9 (built CLI, %s store)", (dialect) => {
  let target: TestStoreTarget;
  const children: ChildProcessWithoutNullStreams[] = [];
  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
  });
  afterAll(async () => {
    await Promise.all(children.map(killHard));
    await target?.cleanup();
  });

  it("resumes after a restart from the unanswered lines: every line is answered exactly once", async () => {
    const first = await serve(target);
    children.push(first.child);
    const input = Array.from({ length: lineCount }, (_, index) =>
      JSON.stringify({
        custom_id: `req-${index}`,
        method: "POST",
        url: "/v1/completions",
        body: { model: "stories260K", prompt: `Once upon a time ${index}`, max_tokens: 48, temperature: 0 },
      }),
    ).join("\n");
    const file = await first.client.files.create({ file: new File([input], "restart.jsonl"), purpose: "batch" });
    const created = await first.client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    // Killed once a few lines are answered and the others are not.
    let answered = 0;
    for (let polls = 0; answered < 3; polls++) {
      if (polls > 600) throw new Error("the batch did not start");
      answered = (await first.client.batches.retrieve(created.id)).request_counts!.completed;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await killHard(first.child);
    expect(answered).toBeLessThan(lineCount);

    const second = await serve(target);
    children.push(second.child);
    let batch = await second.client.batches.retrieve(created.id);
    for (let polls = 0; batch.status !== "completed"; polls++) {
      if (polls > 1200) throw new Error(`the batch did not resume: ${JSON.stringify(batch)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      batch = await second.client.batches.retrieve(created.id);
    }
    expect(batch.request_counts).toEqual({ total: lineCount, completed: lineCount, failed: 0 });
    const output = (await (await second.client.files.content(batch.output_file_id!)).text()).trim().split("\n");
    const ids = output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    expect(ids).toEqual(Array.from({ length: lineCount }, (_, index) => `req-${index}`));
    await killHard(second.child);

    // The ledger has a row per answered line; a line cut by the kill has one more, settled as interrupted.
    await using store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    const rows = await store.db.selectFrom("usage_events").select(["request_id", "status"]).execute();
    const okRows = rows.filter((row) => row.status === "ok");
    expect(okRows).toHaveLength(lineCount);
    const answeredIds = output.map((line) => (JSON.parse(line) as { response: { request_id: string } }).response.request_id);
    expect(new Set(okRows.map((row) => row.request_id))).toEqual(new Set(answeredIds));
    expect(rows.filter((row) => row.status !== "ok").every((row) => row.status === "interrupted")).toBe(true);
  }, 180_000);
});
