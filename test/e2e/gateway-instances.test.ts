import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Anthropic from "@anthropic-ai/sdk";
import { Redis } from "ioredis";
import OpenAI from "openai";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminClient, type AdminClient } from "../../src/client/admin-client.js";
import { openStore } from "../../src/store/index.js";
import type { WireUsageRow } from "../../src/wire/admin.js";
import { hasPostgres, hasRedis, testPostgresUrl, testRedisUrl } from "../helpers/databases.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { killHard, moestroBin, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { answerAsAsked, chunkEvent, sleep, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const adminKey = "gateway-instances-admin-key-0123456789";
/** The model the stand-in upstream serves. */
const model = "shared-model";
/** Prompt tokens the stand-in reports for every request. */
const promptTokens = 5;
/** micro-USD per generated token in the test's price book (prompts are free): a request's cost is exactly known. */
const microUsdPerOutputToken = 1_000;

if (!existsSync(path.join(root, "dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (`npm test` does).");

/**
 * Two moestro gateways (`moestro serve --upstream`, built CLI, child processes) in front of one upstream, sharing one
 * PostgreSQL store (a schema of this test alone) and one Redis (a key prefix of this test alone), as
 * docs/scale-out.md tells N instances behind a load balancer to run. The upstream is a small real HTTP server that
 * streams exactly `max_tokens` tokens and reports `promptTokens` prompt tokens, so that a request's cost is known and
 * equal to its worst case: a budget of three requests admits exactly three, however they are spread.
 */
describe.skipIf(!hasPostgres || !hasRedis)("two gateways on one PostgreSQL and one Redis, in front of one upstream", () => {
  const schema = `moestro_gwinst_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const keyPrefix = `moestro-gwinst-${crypto.randomUUID().slice(0, 8)}`;
  let folder: string;
  let upstream: StandInUpstream;
  const processes: ServeProcess[] = [];
  let urls: [string, string];
  let admin: AdminClient;
  /** Every model request the test made: its id and the status it got, to hold the ledger against. */
  const requests: Array<{ requestId: string; status: number }> = [];

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-gwinst-"));
    // Streams the first token at once and the rest after 300 ms, so that requests sent together overlap; a whole answer
    // (a request that does not stream) comes after 300 ms.
    upstream = await startStandInUpstream([model], async ({ body }, response) => {
      const maxTokens = Number(body.max_completion_tokens ?? body.max_tokens ?? 4);
      if (body.stream !== true) {
        await sleep(300);
        const tokens = Array.from({ length: maxTokens }, (_, index) => `${index === 0 ? "" : " "}t${index}`);
        answerAsAsked(
          body,
          response,
          `${tokens.map((token) => chunkEvent({ content: token })).join("")}${chunkEvent({}, "length")}${usageEvent(promptTokens, maxTokens)}data: [DONE]\n\n`,
        );
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write(chunkEvent({ role: "assistant", content: "t0" }));
      await sleep(300);
      if (response.destroyed) return;
      for (let index = 1; index < maxTokens; index++) response.write(chunkEvent({ content: ` t${index}` }));
      response.end(`${chunkEvent({}, "length")}${usageEvent(promptTokens, maxTokens)}data: [DONE]\n\n`);
    });
    const priceBook = writePriceBook(folder, {
      version: 1,
      prices: [
        flatLocalPrice(model, { inputMicroUsdPerMillionTokens: 0, outputMicroUsdPerMillionTokens: microUsdPerOutputToken * 1_000_000 }),
      ],
    });
    const args = [
      ...["--upstream", `standin=${upstream.url}`, "--port", "0", "--json", "--log-level", "warn"],
      ...["--database-url", testPostgresUrl, "--database-schema", schema, "--price-book", priceBook],
      ...["--rate-limit-store", "redis", "--redis-url", testRedisUrl],
    ];
    const env = { MOESTRO_ADMIN_KEY: adminKey, MOESTRO_LIMITS__KEY_PREFIX: keyPrefix, MOESTRO_HOME: folder };
    processes.push(startServe(args, env), startServe(args, env));
    urls = (await Promise.all(processes.map((started) => started.url))) as [string, string];
    admin = createAdminClient({ baseUrl: urls[0], adminKey });
  });
  afterAll(async () => {
    await Promise.all(processes.map((started) => killHard(started.child)));
    await upstream?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: testPostgresUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
    const redis = new Redis(testRedisUrl);
    const leftovers = await redis.keys(`${keyPrefix}*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
    redis.disconnect();
  });

  /** A streamed chat completion through gateway `index`, read to its end; its status and error code. */
  const chat = async (index: number, secret: string, requestId: string, maxTokens: number) => {
    const response = await fetch(`${urls[index]}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ model, max_tokens: maxTokens, stream: true, messages: [{ role: "user", content: "Hi" }] }),
    });
    requests.push({ requestId, status: response.status });
    const text = await response.text();
    if (response.status !== 200) return { status: response.status, code: (JSON.parse(text) as { error: { code: string } }).error.code };
    return { status: 200, finished: text.includes("data: [DONE]"), upstream: response.headers.get("x-moestro-upstream") };
  };

  it("holds a key's budget exactly across both: of 8 concurrent requests 3 fit, and the ledger has one row each", async () => {
    // Created on the first gateway; used on both at once (keys are read from the store on every request).
    const key = await admin.createKey({ name: "budget", budget_micro_usd: 3 * 10 * microUsdPerOutputToken, budget_period: "day" });
    const ends = await Promise.all(Array.from({ length: 8 }, (_, index) => chat(index % 2, key.secret, `budget-${index}`, 10)));
    const served = ends.filter((end) => end.status === 200);
    expect(served).toHaveLength(3);
    expect(served.every((end) => end.finished && end.upstream === "standin")).toBe(true);
    expect(ends.filter((end) => end.status === 429 && end.code === "insufficient_quota")).toHaveLength(5);
    // The budget is reserved before a request is sent: the 5 refused ones never reached the upstream.
    const reached = upstream.posts.filter((post) => post.requestId?.startsWith("budget-")).map((post) => post.requestId);
    expect(reached.sort()).toEqual(
      requests
        .filter((request) => request.requestId.startsWith("budget-") && request.status === 200)
        .map((request) => request.requestId)
        .sort(),
    );
    // The period is committed now: either gateway refuses the next one, which never reaches the upstream either.
    const postsBefore = upstream.posts.length;
    expect(await chat(0, key.secret, "budget-after-0", 10)).toEqual({ status: 429, code: "insufficient_quota" });
    expect(await chat(1, key.secret, "budget-after-1", 1)).toEqual({ status: 429, code: "insufficient_quota" });
    expect(upstream.posts.length).toBe(postsBefore);

    const store = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schema });
    try {
      const rows = await store.usage.list({ keyId: key.id, limit: 100 });
      const servedIds = requests.filter((request) => request.requestId.startsWith("budget-") && request.status === 200);
      expect(rows.map((row) => row.requestId).sort()).toEqual(servedIds.map((request) => request.requestId).sort());
      expect(rows.every((row) => row.status === "ok" && row.upstream === "standin" && row.completionTokens === 10)).toBe(true);
      expect((await store.usage.budgetUse(key.id, "1970-01-01")).spentMicroUsd).toBe(30_000);
    } finally {
      await store.dispose();
    }
  });

  it("counts requests per minute once across both: the 4th of an RPM-3 key gets 429 in OpenAI's shape", async () => {
    const key = await admin.createKey({ name: "rpm", requests_per_minute: 3 });
    const clients = urls.map((url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key.secret, maxRetries: 0 }));
    for (const [turn, index] of [0, 1, 0].entries()) {
      const requestId = `rpm-${turn}`;
      const { response } = await clients[index]!.chat.completions.create(
        { model, max_tokens: 2, messages: [{ role: "user", content: "Hi" }] },
        { headers: { "x-request-id": requestId } },
      ).withResponse();
      requests.push({ requestId, status: response.status });
      expect(response.headers.get("x-ratelimit-remaining-requests")).toBe(String(2 - turn));
    }
    const refused = await clients[1]!.chat.completions
      .create({ model, max_tokens: 2, messages: [{ role: "user", content: "Hi" }] }, { headers: { "x-request-id": "rpm-3" } })
      .catch((error: unknown) => error);
    requests.push({ requestId: "rpm-3", status: 429 });
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const error = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0);
  });

  it("does the same in Anthropic's shape: the 3rd Messages request of an RPM-2 key is a rate_limit_error", async () => {
    const key = await admin.createKey({ name: "rpm-anthropic", requests_per_minute: 2 });
    const clients = urls.map((url) => new Anthropic({ baseURL: url, apiKey: key.secret, maxRetries: 0 }));
    for (const [turn, index] of [1, 0].entries()) {
      const requestId = `anthropic-${turn}`;
      const { response } = await clients[index]!.messages.create(
        { model, max_tokens: 2, messages: [{ role: "user", content: "Hi" }] },
        { headers: { "x-request-id": requestId } },
      ).withResponse();
      requests.push({ requestId, status: response.status });
    }
    const refused = await clients[1]!.messages
      .create({ model, max_tokens: 2, messages: [{ role: "user", content: "Hi" }] }, { headers: { "x-request-id": "anthropic-2" } })
      .catch((error: unknown) => error);
    requests.push({ requestId: "anthropic-2", status: 429 });
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect((refused as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({
      type: "error",
      error: { type: "rate_limit_error" },
    });
  });

  it("counts tokens per minute once across both: past a TPM limit the other gateway refuses too", async () => {
    // Each request is 5 prompt tokens and 10 generated: two through different gateways reach 30.
    const key = await admin.createKey({ name: "tpm", tokens_per_minute: 30 });
    expect(await chat(0, key.secret, "tpm-0", 10)).toMatchObject({ status: 200, finished: true });
    expect(await chat(1, key.secret, "tpm-1", 10)).toMatchObject({ status: 200, finished: true });
    // Tokens are counted as a response's last byte leaves, one Redis round trip later: wait until the first gateway
    // refuses a POST (an empty body: 400 while under the limit, and it runs no model), then ask the second.
    const emptyPost = async () =>
      (
        await fetch(`${urls[0]}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.secret}`, "content-type": "application/json" },
          body: "{}",
        })
      ).status;
    await expect.poll(emptyPost, { timeout: 5_000 }).toBe(429);
    const refused = await chat(1, key.secret, "tpm-2", 10);
    expect(refused).toEqual({ status: 429, code: "rate_limit_exceeded" });
  });

  it("shows the same usage on either gateway (moestro usage --url), equal to the ledger's rows", async () => {
    const usage = async (url: string) =>
      JSON.parse(
        (
          await run(process.execPath, [moestroBin, "usage", "--by", "key", "--json", "--url", url], {
            env: { ...process.env, MOESTRO_ADMIN_KEY: adminKey },
            encoding: "utf8",
          })
        ).stdout,
      ) as WireUsageRow[];
    const [first, second] = await Promise.all(urls.map(usage));
    expect(first).toEqual(second);
    const byName = new Map(first!.map((row) => [row.name, row]));
    // Served requests only: a refused one has no row.
    expect(byName.get("budget")).toMatchObject({ requests: 3, prompt_tokens: 15, completion_tokens: 30, cost_micro_usd: 30_000 });
    expect(byName.get("rpm")).toMatchObject({ requests: 3, completion_tokens: 6, cost_micro_usd: 6_000 });
    expect(byName.get("rpm-anthropic")).toMatchObject({ requests: 2, completion_tokens: 4 });
    expect(byName.get("tpm")).toMatchObject({ requests: 2, prompt_tokens: 10, completion_tokens: 20 });

    // One row per served request, whichever gateway served it, and none for a refused one.
    const store = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schema });
    try {
      const rows = await store.usage.list({ limit: 1000 });
      expect(rows.map((row) => row.requestId).sort()).toEqual(
        requests
          .filter((request) => request.status === 200)
          .map((request) => request.requestId)
          .sort(),
      );
      // Both gateways wrote rows.
      expect(new Set(rows.map((row) => row.instanceId)).size).toBe(2);
    } finally {
      await store.dispose();
    }
  });
});
