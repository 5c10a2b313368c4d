import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { openStore, type Store } from "../../src/store/index.js";
import { createTestStoreTarget, type TestStoreTarget, testDialects } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

const adminKey = "responses-e2e-admin-key-0123456789";
const day = 86_400_000;

/** 1000 micro-USD per prompt token and 2000 per generated token, so that a budget trips at a known size. */
const priceBook: PriceBookInput = {
  version: 1,
  prices: [
    flatLocalPrice("tiny-qwen3moe", { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 2_000_000_000 }),
  ],
};

describe.skipIf(!hasTestModels).each(testDialects)("stored responses, keys and budgets on a real server, %s store", (dialect) => {
  let target: TestStoreTarget;
  let test: TestServer;
  let store: Store;
  let folder: string;
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;
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
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-responses-"));
    const priceBookPath = writePriceBook(folder, priceBook);
    test = await startTestServer(
      {
        models: [{ path: testModelPath("tiny-qwen3moe.gguf"), thinking: false }],
        adminKey,
        home: target.home,
        databaseUrl: target.databaseUrl,
        metering: { priceBookPath },
        engine: { contextTokens: 1024 },
        responses: { retentionDays: 1 },
      },
      { now },
    );
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
  });
  afterAll(async () => {
    await test?.close();
    await store?.dispose();
    await target?.cleanup();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("keeps a response in the store for its key, meters it as endpoint responses, and forgets it after the retention period", async () => {
    const owner = await createKey({ name: "owner" });
    const other = await createKey({ name: "other" });
    const client = clientFor(owner.secret);
    const first = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Remember: the code word is kiwi.",
      max_output_tokens: 3,
    });
    // Stored with its prompt (docs/responses.md says so), in this store's own table.
    const row = await store.db.selectFrom("responses").selectAll().where("id", "=", first.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ key_id: owner.id, model: "tiny-qwen3moe", status: "incomplete" });
    expect(row.input_items_json).toContain("the code word is kiwi");
    expect(Number(row.expires_at) - Number(row.created_at)).toBe(day);

    expect((await client.responses.retrieve(first.id)).id).toBe(first.id);
    expect(
      await clientFor(other.secret)
        .responses.retrieve(first.id)
        .catch((error: unknown) => error),
    ).toBeInstanceOf(OpenAI.NotFoundError);
    const followUp = await client.responses.create({
      model: "tiny-qwen3moe",
      previous_response_id: first.id,
      input: "What is the code word?",
      max_output_tokens: 2,
      stream: true,
    });
    let completedId: string | undefined;
    for await (const event of followUp)
      if (event.type === "response.incomplete" || event.type === "response.completed") completedId = event.response.id;
    expect((await client.responses.inputItems.list(completedId!)).data).toHaveLength(3);

    // The ledger: one row per generation, endpoint responses, stream recorded.
    const rows = await store.usage.list({ keyId: owner.id, limit: 10 });
    expect(rows.map((entry) => [entry.endpoint, entry.stream])).toEqual(
      expect.arrayContaining([
        ["responses", false],
        ["responses", true],
      ]),
    );

    // A day later the response is expired: never served, then swept.
    clockOffsetMs = day;
    try {
      expect(await client.responses.retrieve(first.id).catch((error: unknown) => error)).toBeInstanceOf(OpenAI.NotFoundError);
      const continued = await client.responses
        .create({ model: "tiny-qwen3moe", previous_response_id: first.id, input: "Again?", max_output_tokens: 2 })
        .catch((error: unknown) => error);
      expect(continued).toMatchObject({ status: 400, param: "previous_response_id" });
      expect(await store.responses.deleteExpired(now())).toBeGreaterThanOrEqual(2);
      expect(await store.db.selectFrom("responses").select("id").where("id", "=", first.id).executeTakeFirst()).toBeUndefined();
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("trips a key's budget on /v1/responses with 429 insufficient_quota in OpenAI's envelope, streamed or not", async () => {
    const { secret } = await createKey({ name: "budget", budget_micro_usd: 60_000, budget_period: "day" });
    const client = clientFor(secret);
    // About 11 prompt tokens and 4 generated: about 19,000 micro-USD at worst, which fits.
    const small = await client.responses.create({ model: "tiny-qwen3moe", input: "Hi", max_output_tokens: 4 });
    expect(small.usage!.output_tokens).toBeGreaterThan(0);
    // 100 tokens could cost 200,000: refused before it runs.
    const refused = await client.responses
      .create({ model: "tiny-qwen3moe", input: "Hi", max_output_tokens: 100 })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused).toMatchObject({ status: 429, code: "insufficient_quota", type: "insufficient_quota" });
    const streamed = await postJson(
      `${test.url}/v1/responses`,
      { model: "tiny-qwen3moe", input: "Hi", max_output_tokens: 100, stream: true },
      { headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" } },
    );
    expect(streamed.status).toBe(429);
    expect(await streamed.json()).toEqual({
      error: { message: expect.any(String), type: "insufficient_quota", param: null, code: "insufficient_quota" },
    });
    // Without a key: 401 in OpenAI's shape.
    const anonymous = await postJson(`${test.url}/v1/responses`, { model: "tiny-qwen3moe", input: "Hi" });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: "missing_api_key" } });
  });
});
