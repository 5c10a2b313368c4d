import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { openStore, type Store } from "../../src/store/index.js";
import { createTestStoreTarget, type TestStoreTarget, testDialects } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

const adminKey = "batch-e2e-admin-key-0123456789";

/** 1000 micro-USD per prompt token and 2000 per generated token real time; batch lines pay half (the default). */
const priceBook: PriceBookInput = {
  version: 1,
  prices: [flatLocalPrice("stories260K", { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 2_000_000_000 })],
};

/** A JSONL batch input file of `count` completions of stories260K. */
function completionLines(count: number, maxTokens = 8, model = "stories260K"): string {
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      custom_id: `line-${index}`,
      method: "POST",
      url: "/v1/completions",
      body: { model, prompt: `Once upon a time ${index}`, max_tokens: maxTokens, temperature: 0 },
    }),
  ).join("\n");
}

async function waitForBatch(client: OpenAI, id: string, done: (status: string) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (done(batch.status)) return batch;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${batch.status}: ${JSON.stringify(batch.request_counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(!hasTestModels).each(testDialects)("the Files and Batch APIs on a real server, %s store", (dialect) => {
  let target: TestStoreTarget;
  let test: TestServer;
  let store: Store;
  let folder: string;
  const clientFor = (apiKey: string) => new OpenAI({ baseURL: `${test.url}/v1`, apiKey, maxRetries: 0 });
  const createKey = async (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => {
    const response = await postJson(`${test.url}/v1/moestro/keys`, body, {
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; secret: string };
  };

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-batch-"));
    const priceBookPath = writePriceBook(folder, priceBook);
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      adminKey,
      home: target.home,
      databaseUrl: target.databaseUrl,
      metering: { priceBookPath },
      engine: { contextTokens: 256 },
    });
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  });
  afterAll(async () => {
    await test?.close();
    await store?.dispose();
    await target?.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  it("runs a batch end to end with the official client: files.create, batches.create and retrieve, files.content", async () => {
    const { secret, id: keyId } = await createKey({ name: "batcher" });
    const client = clientFor(secret);
    const file = await client.files.create({ file: await toFile(Buffer.from(completionLines(5)), "input.jsonl"), purpose: "batch" });
    expect(file).toMatchObject({ object: "file", purpose: "batch", filename: "input.jsonl", status: "processed" });
    // 30 days, as OpenAI keeps batch files.
    expect(file.expires_at! - file.created_at).toBe(30 * 86_400);
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    expect((await client.files.list()).data.map((listed) => listed.id)).toContain(file.id);

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/completions",
      completion_window: "24h",
      metadata: { job: "e2e" },
    });
    expect(created).toMatchObject({
      object: "batch",
      status: "validating",
      request_counts: { total: 5, completed: 0, failed: 0 },
      metadata: { job: "e2e" },
    });
    const batch = await waitForBatch(client, created.id, (status) => status === "completed");
    expect(batch.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    expect(batch.error_file_id).toBeNull();
    expect(batch.completed_at).toBeGreaterThanOrEqual(batch.created_at);
    const output = await (await client.files.content(batch.output_file_id!)).text();
    const lines = output
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.custom_id)).toEqual(["line-0", "line-1", "line-2", "line-3", "line-4"]);
    for (const line of lines) {
      expect(line.response.status_code).toBe(200);
      expect(line.response.body.object).toBe("text_completion");
      expect(line.error).toBeNull();
    }
    expect((await client.batches.list()).data.map((listed) => listed.id)).toContain(batch.id);

    // Each line is a ledger row of the key, billed at half the real-time price.
    const rows = await store.db.selectFrom("usage_events").selectAll().where("key_id", "=", keyId).execute();
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      // Prompt tokens served from the prefix cache pay 20% of the input price (the default cached-input rate).
      const cached = Number(row.cached_prompt_tokens);
      const realTime = (Number(row.prompt_tokens) - cached) * 1000 + cached * 200 + Number(row.completion_tokens) * 2000;
      expect(Number(row.cost_micro_usd)).toBe(Math.round(realTime / 2));
      expect(row.status).toBe("ok");
      // Its decode steps were metered (the batch line's barrier passes the engine-time meter on).
      expect(Number(row.engine_time_us)).toBeGreaterThan(0);
    }
    expect(new Set(lines.map((line) => line.response.request_id))).toEqual(new Set(rows.map((row) => row.request_id)));
  });

  it("runs chat completion, embedding and Responses lines too", async () => {
    const client = clientFor(adminKey);
    const chat = [0, 1].map((index) =>
      JSON.stringify({
        custom_id: `chat-${index}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: { model: "stories260K", messages: [{ role: "user", content: `Hello ${index}` }], max_tokens: 4 },
      }),
    );
    const embeddings = [0, 1].map((index) =>
      JSON.stringify({
        custom_id: `emb-${index}`,
        method: "POST",
        url: "/v1/embeddings",
        body: { model: "stories260K", input: `text ${index}` },
      }),
    );
    const responses = [0, 1].map((index) =>
      JSON.stringify({
        custom_id: `resp-${index}`,
        method: "POST",
        url: "/v1/responses",
        body: { model: "stories260K", input: `Hello ${index}`, max_output_tokens: 4, store: false },
      }),
    );
    for (const [endpoint, lines, object] of [
      ["/v1/chat/completions", chat, "chat.completion"],
      ["/v1/embeddings", embeddings, "list"],
      ["/v1/responses", responses, "response"],
    ] as const) {
      const file = await client.files.create({ file: new File([lines.join("\n")], "lines.jsonl"), purpose: "batch" });
      const created = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
      const batch = await waitForBatch(client, created.id, (status) => status === "completed");
      expect(batch.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
      const output = (await (await client.files.content(batch.output_file_id!)).text())
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(output.map((line) => line.response.body.object)).toEqual([object, object]);
    }
  });

  it("leaves a slot free for interactive requests: a batch holds at most parallel - 1 sequences", async () => {
    const client = clientFor(adminKey);
    const file = await client.files.create({ file: new File([completionLines(24, 64)], "slots.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    const seen: number[] = [];
    for (let status = created.status; status !== "completed"; status = (await client.batches.retrieve(created.id)).status) {
      const ps = (await (await fetch(`${test.url}/v1/moestro/ps`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as {
        data: Array<{ sequences_in_use: number }>;
      };
      seen.push(ps.data[0]?.sequences_in_use ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The server's default --parallel is 4.
    expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    expect(Math.max(...seen)).toBeGreaterThan(0);
  });

  it("refuses bad uploads and batch requests with OpenAI-shaped errors", async () => {
    const client = clientFor(adminKey);
    const upload = (text: string) => client.files.create({ file: new File([text], "bad.jsonl"), purpose: "batch" });
    await expect(upload("{not json")).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("Line 1 of the batch input file is not valid JSON"),
    });
    await expect(upload(completionLines(1).replace('"POST"', '"GET"'))).rejects.toMatchObject({ status: 400, param: "file" });
    await expect(upload(`${completionLines(1)}\n${completionLines(1)}`)).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("repeats the custom_id 'line-0' of line 1"),
    });
    await expect(upload("")).rejects.toMatchObject({ status: 400 });
    await expect(client.files.create({ file: new File([completionLines(1)], "x.jsonl"), purpose: "fine-tune" })).rejects.toMatchObject({
      status: 400,
      param: "purpose",
    });
    const file = await upload(completionLines(1));
    await expect(
      client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }),
    ).rejects.toMatchObject({ status: 400, param: "endpoint" });
    await expect(
      client.batches.create({ input_file_id: "file-nope", endpoint: "/v1/completions", completion_window: "24h" }),
    ).rejects.toMatchObject({ status: 400, param: "input_file_id" });
    await expect(
      client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "1h" as "24h" }),
    ).rejects.toMatchObject({ status: 400, param: "completion_window" });
    await expect(client.batches.retrieve("batch_nope")).rejects.toMatchObject({ status: 404 });
    await expect(client.files.retrieve("file-nope")).rejects.toMatchObject({ status: 404 });
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: "file", deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it("keeps each key's files and batches to itself, and runs lines under the key's model scope", async () => {
    const scoped = await createKey({ name: "scoped", models: ["other-model"] });
    const other = await createKey({ name: "other" });
    const client = clientFor(scoped.secret);
    const file = await client.files.create({ file: new File([completionLines(2)], "scoped.jsonl"), purpose: "batch" });
    await expect(clientFor(other.secret).files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    await expect(clientFor(other.secret).batches.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    const batch = await waitForBatch(client, created.id, (status) => status === "completed");
    expect(batch.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
    expect(batch.output_file_id).toBeNull();
    const errors = (await (await client.files.content(batch.error_file_id!)).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(errors.map((line) => [line.response.status_code, line.response.body.error.code])).toEqual([
      [403, "model_not_allowed"],
      [403, "model_not_allowed"],
    ]);
  });

  it("trips the key's budget on batch spend: later lines fail with insufficient_quota", async () => {
    // Each line costs at least (4 prompt tokens × 1000 + 8 × 2000) / 2 micro-USD; the budget covers about two.
    const { secret } = await createKey({ name: "budgeted", budget_micro_usd: 30_000, budget_period: "day" });
    const client = clientFor(secret);
    const file = await client.files.create({ file: new File([completionLines(8)], "budget.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    const batch = await waitForBatch(client, created.id, (status) => status === "completed");
    expect(batch.request_counts!.completed).toBeGreaterThan(0);
    expect(batch.request_counts!.failed).toBeGreaterThan(0);
    const errors = (await (await client.files.content(batch.error_file_id!)).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(new Set(errors.map((line) => line.response.body.error.code))).toEqual(new Set(["insufficient_quota"]));
  });

  it("cancels a batch: no line starts after, the answered ones are in its files", async () => {
    const client = clientFor(adminKey);
    // Far more work than can finish before the cancel lands, even on a fast, quiet machine (40 lines once all finished first).
    const file = await client.files.create({ file: new File([completionLines(400, 64)], "long.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h" });
    const cancelling = await client.batches.cancel(created.id);
    expect(["cancelling", "cancelled"]).toContain(cancelling.status);
    const batch = await waitForBatch(client, created.id, (status) => status === "cancelled");
    expect(batch.cancelled_at).not.toBeNull();
    expect(batch.request_counts!.completed + batch.request_counts!.failed).toBeLessThan(400);
  });
});
