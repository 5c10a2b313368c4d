import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { openStore, type Store } from "../../src/store/index.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const adminKey = "anthropic-e2e-admin-key-0123456789";
const model = "tiny-qwen3moe";

/** One token in or out costs 1000 micro-USD, so that a budget counts tokens. */
const priceBook: PriceBookInput = {
  version: 1,
  prices: [flatLocalPrice(model, { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 1_000_000_000 })],
};

// Keys, limits and budgets on Anthropic's routes: the access control and the metering of chat completions, answered in
// Anthropic's shapes, and the ledger's endpoint `messages`.
describe.skipIf(!hasTestModels)("Anthropic Messages API with API keys and budgets", () => {
  let test: TestServer;
  let home: string;
  let ledger: Store;

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "moestro-anthropic-"));
    const priceBookPath = writePriceBook(home, priceBook);
    test = await startTestServer({
      models: [{ path: testModelPath("tiny-qwen3moe.gguf") }],
      engine: { contextTokens: 1024 },
      adminKey,
      home,
      metering: { priceBookPath },
    });
    ledger = await openStore({ home });
  });
  afterAll(async () => {
    await test?.close();
    await ledger?.dispose();
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  const createKey = async (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => {
    const response = await fetch(`${test.url}/v1/moestro/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; secret: string };
  };
  const post = (pathAndQuery: string, body: unknown, headers: Record<string, string>) =>
    fetch(`${test.url}${pathAndQuery}`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
      body: JSON.stringify(body),
    });
  const hello = { model, max_tokens: 4, messages: [{ role: "user", content: "Hello" }] };

  it("D07: the key works as x-api-key and as Bearer, with ?beta=true and any anthropic-beta; a missing or wrong one is a 401 authentication_error", async () => {
    const { secret } = await createKey({ name: "d07" });
    const beta = { "anthropic-beta": "interleaved-thinking-2025-05-14,some-future-beta-2031-01-01" };
    for (const headers of [
      { "x-api-key": secret, ...beta },
      { authorization: `Bearer ${secret}`, ...beta },
    ]) {
      expect((await post("/v1/messages?beta=true", hello, headers)).status).toBe(200);
      expect((await post("/v1/messages/count_tokens?beta=true", { model, messages: hello.messages }, headers)).status).toBe(200);
    }
    for (const headers of [{}, { "x-api-key": "mst-notakeynotakeynotakey" }] as Array<Record<string, string>>) {
      for (const [route, body] of [
        ["/v1/messages?beta=true", hello],
        ["/v1/messages/count_tokens", { model, messages: hello.messages }],
      ] as const) {
        const response = await post(route, body, headers);
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({
          type: "error",
          error: { type: "authentication_error", message: expect.stringContaining("API key") },
        });
      }
    }
    const sdkError = await new Anthropic({ baseURL: test.url, apiKey: "mst-notakeynotakeynotakey", maxRetries: 0 }).messages
      .create(hello as Anthropic.MessageCreateParamsNonStreaming)
      .catch((caught: unknown) => caught);
    expect(sdkError).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it("a key's budget trips with a 429 rate_limit_error on /v1/messages, and the ledger records the endpoint messages", async () => {
    const probe = await createKey({ name: "probe" });
    const counted = await post("/v1/messages/count_tokens", { model, messages: hello.messages }, { "x-api-key": probe.secret });
    const { input_tokens: promptTokens } = (await counted.json()) as { input_tokens: number };
    // Exactly one request's worst case (its prompt and max_tokens at 1000 micro-USD a token): the first is admitted,
    // and whatever it spends leaves too little for a second.
    const { id, secret } = await createKey({
      name: "budget",
      budget_micro_usd: (promptTokens + hello.max_tokens) * 1000,
      budget_period: "day",
    });
    const client = new Anthropic({ baseURL: test.url, apiKey: secret, maxRetries: 0 });
    const first = await client.messages.stream(hello as Anthropic.MessageCreateParamsNonStreaming).finalMessage();
    expect(first.usage.input_tokens + (first.usage.cache_read_input_tokens ?? 0)).toBe(promptTokens);

    const response = await post("/v1/messages", hello, { "x-api-key": secret });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({
      type: "error",
      error: { type: "rate_limit_error", message: expect.stringContaining("budget") },
    });
    const sdkError = await client.messages.create(hello as Anthropic.MessageCreateParamsNonStreaming).catch((caught: unknown) => caught);
    expect(sdkError).toBeInstanceOf(Anthropic.RateLimitError);

    const rows = await ledger.usage.list({ keyId: id, limit: 10 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ endpoint: "messages", stream: true, status: "ok", model, promptTokens });
    expect(rows[0]!.completionTokens).toBe(first.usage.output_tokens);
  });
});
