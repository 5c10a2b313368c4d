import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { createTestStoreTarget, hasPostgres, type TestStoreTarget } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const adminKey = "batch-instances-admin-key-0123456789";

describe.skipIf(!hasTestModels || !hasPostgres)("batches on two instances sharing one PostgreSQL", () => {
  let target: TestStoreTarget;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    target = await createTestStoreTarget("postgres");
    for (let index = 0; index < 2; index++) {
      servers.push(
        await startTestServer({
          models: [{ path: testModelPath("stories260K.gguf") }],
          adminKey,
          databaseUrl: target.databaseUrl,
          engine: { contextTokens: 256 },
        }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await target?.cleanup();
  });

  it("serves a file uploaded on one instance from the other, and answers every line of each batch once", async () => {
    const [first, second] = servers.map((server) => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: adminKey, maxRetries: 0 }));
    const lines = Array.from({ length: 12 }, (_, index) =>
      JSON.stringify({
        custom_id: `x${index}`,
        method: "POST",
        url: "/v1/completions",
        body: { model: "stories260K", prompt: `Once ${index}`, max_tokens: 16 },
      }),
    ).join("\n");
    const file = await first!.files.create({ file: new File([lines], "shared.jsonl"), purpose: "batch" });
    expect((await second!.files.retrieve(file.id)).id).toBe(file.id);
    const batches = await Promise.all([
      first!.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" }),
      second!.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" }),
      first!.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" }),
    ]);
    for (const created of batches) {
      let batch = await second!.batches.retrieve(created.id);
      for (let polls = 0; batch.status !== "completed"; polls++) {
        if (polls > 1200) throw new Error(`batch ${created.id} is ${batch.status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        batch = await first!.batches.retrieve(created.id);
      }
      expect(batch.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    }
    await using store = await openStore({ databaseUrl: target.databaseUrl });
    const rows = await store.db.selectFrom("usage_events").select(["request_id", "status"]).execute();
    expect(rows.filter((row) => row.status === "ok")).toHaveLength(36);
    const answered = await store.db.selectFrom("batch_lines").select(["batch_id", "line_index"]).execute();
    expect(answered).toHaveLength(36);
  }, 120_000);
});
