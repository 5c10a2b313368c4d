import { execFile, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import type { WireCreatedApiKey, WireUsageRow } from "../../src/wire/admin.js";
import { openStore } from "../../src/store/index.js";
import pg from "pg";
import {
  createTestStoreTarget,
  hasPostgres,
  hasRedis,
  testDialects,
  testPostgresUrl,
  testRedisUrl,
  type TestStoreTarget,
} from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { killHard, moestroBin as bin, startServe } from "../helpers/serve-process.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const adminKey = "kill-test-admin-key-0123456789";
const run = promisify(execFile);

if (!existsSync(path.join(root, "dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (`npm test` does).");

/**
 * `moestro serve` of stories260K on `target`'s store, key checks on, as a child process; resolves once it listens.
 * `extraArgs` and `env` are added to the command line and the environment.
 */
async function startStudioServe(
  target: TestStoreTarget,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcessWithoutNullStreams; url: string }> {
  const args = [
    "--model",
    testModelPath("stories260K.gguf"),
    "--port",
    "0",
    "--threads",
    "1",
    "--parallel",
    "4",
    "--json",
    "--log-level",
    "warn",
  ];
  if (target.home !== undefined) args.push("--home", target.home);
  if (target.databaseUrl !== undefined) args.push("--database-url", target.databaseUrl);
  args.push(...extraArgs);
  const serve = startServe(args, { MOESTRO_ADMIN_KEY: adminKey, ...env });
  return { child: serve.child, url: await serve.url };
}

/** Runs the built CLI and parses its stdout as JSON. */
async function cli<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const { stdout } = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
  return JSON.parse(stdout) as T;
}

function complete(url: string, secret: string, requestId: string, maxTokens: number): Promise<Response> {
  return fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model: "stories260K", prompt: "Once upon a time", max_tokens: maxTokens, temperature: 0 }),
  });
}

describe.skipIf(!hasTestModels).each(testDialects)("the ledger across kill -9 (built CLI, %s store)", (dialect) => {
  let target: TestStoreTarget;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
  });
  afterAll(async () => {
    await Promise.all(children.map(killHard));
    await target?.cleanup();
  });

  it("keeps every row whose response was sent, loses none and doubles none; counts match after restart", async () => {
    const first = await startStudioServe(target);
    children.push(first.child);
    const remote = ["--url", first.url];
    const key = await cli<WireCreatedApiKey>(["keys", "create", "--name", "survivor", "--json", ...remote], {
      MOESTRO_ADMIN_KEY: adminKey,
    });
    expect(Object.keys(key)).toEqual(expect.arrayContaining(["id", "name", "prefix", "secret"]));

    const completedIds: string[] = [];
    for (let index = 0; index < 20; index++) {
      const id = `${dialect}-done-${index}`;
      const response = await complete(first.url, key.secret, id, 8);
      expect(response.status).toBe(200);
      await response.json();
      completedIds.push(id);
    }
    // Requests in flight when the server dies: each either finished (its row committed before its last byte) or not.
    const inFlight = Array.from({ length: 8 }, (_, index) => {
      const id = `${dialect}-flight-${index}`;
      return complete(first.url, key.secret, id, index % 2 === 0 ? 4 : 400)
        .then(async (response) => {
          await response.json();
          completedIds.push(id);
        })
        .catch(() => undefined);
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await killHard(first.child);
    await Promise.all(inFlight);

    const second = await startStudioServe(target);
    children.push(second.child);
    const rows = await cli<WireUsageRow[]>(["usage", "--by", "key", "--json", "--url", second.url], { MOESTRO_ADMIN_KEY: adminKey });
    const survivor = rows.find((row) => row.group === key.id)!;
    expect(survivor.requests).toBeGreaterThanOrEqual(completedIds.length);
    expect(survivor.requests).toBeLessThanOrEqual(20 + 8);

    const store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    try {
      const events = await store.usage.list({ keyId: key.id, limit: 1000 });
      const stored = new Set(events.map((event) => event.requestId));
      expect(stored.size).toBe(events.length);
      for (const id of completedIds) expect(stored.has(id), id).toBe(true);
      expect(events.every((event) => /-(done|flight)-\d+$/.test(event.requestId))).toBe(true);
      // The rollup moved in the same transactions: it matches the events exactly.
      expect((await store.usage.budgetUse(key.id, "1970-01-01")).spentMicroUsd).toBe(
        events.reduce((total, event) => total + event.costMicroUsd, 0),
      );
      const daily = await store.db.selectFrom("usage_daily").selectAll().where("key_id", "=", key.id).execute();
      expect(daily.reduce((total, row) => total + Number(row.requests), 0)).toBe(events.length);

      // The restarted server keeps counting from there, and the key still works.
      const before = events.length;
      for (let index = 0; index < 3; index++)
        expect((await complete(second.url, key.secret, `${dialect}-after-${index}`, 4)).status).toBe(200);
      expect(await store.usage.list({ keyId: key.id, limit: 1000 })).toHaveLength(before + 3);
    } finally {
      await store.dispose();
    }
    await killHard(second.child);
  });
});

/**
 * stories260K at round prices: 1,000 micro-USD per prompt token and 2,000 per generated token. A completion of the test
 * prompt (5 tokens) with `max_tokens: 10` has a worst case of 25,000 micro-USD, and costs that when it runs to the end.
 */
const priceBook: PriceBookInput = {
  version: 1,
  prices: [flatLocalPrice("stories260K", { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 2_000_000_000 })],
};

/** Streams a completion and counts its chunks until it ends, fails or the server dies. */
function streamCompletion(
  url: string,
  secret: string,
  requestId: string,
  maxTokens: number,
): { chunks: () => number; done: Promise<{ status: number; finished: boolean; code?: string }> } {
  let chunks = 0;
  const done = (async () => {
    const response = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ model: "stories260K", prompt: "Once upon a time", max_tokens: maxTokens, temperature: 0, stream: true }),
    });
    if (response.status !== 200)
      return { status: response.status, finished: false, code: ((await response.json()) as { error: { code: string } }).error.code };
    let text = "";
    try {
      for await (const piece of response.body!.pipeThrough(new TextDecoderStream())) {
        text += piece;
        chunks = text.split("\n\n").filter((event) => event.startsWith("data: {")).length;
      }
    } catch {
      // The server died mid-stream.
    }
    return { status: 200, finished: text.includes("data: [DONE]") };
  })();
  return { chunks: () => chunks, done };
}

describe.skipIf(!hasTestModels).each(testDialects)("requests cut by kill -9 (built CLI, %s store)", (dialect) => {
  let target: TestStoreTarget;
  let folder: string;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-kill-"));
  });
  afterAll(async () => {
    await Promise.all(children.map(killHard));
    await target?.cleanup();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("bills streams cut mid-way by their last heartbeat, as interrupted, before the restarted server listens", async () => {
    const serveArgs = ["--price-book", writePriceBook(folder, priceBook)];
    const heartbeat = { MOESTRO_METERING__HEARTBEAT_MS: "100" };
    const first = await startStudioServe(target, serveArgs, heartbeat);
    children.push(first.child);
    const key = await cli<WireCreatedApiKey>(["keys", "create", "--name", "cut", "--json", "--url", first.url], {
      MOESTRO_ADMIN_KEY: adminKey,
    });
    // Four streams, one per sequence, long enough (500 tokens) to be cut mid-way.
    const streams = Array.from({ length: 4 }, (_, index) => streamCompletion(first.url, key.secret, `${dialect}-cut-${index}`, 500));
    const deadline = Date.now() + 20_000;
    while (streams.some((stream) => stream.chunks() < 20) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few heartbeats with tokens in them
    const store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    try {
      const running = (await store.usage.listRunning()).filter((row) => row.keyId === key.id);
      await killHard(first.child);
      const ends = await Promise.all(streams.map((stream) => stream.done));
      const cut = ends.filter((end) => !end.finished).length;
      expect(cut).toBeGreaterThan(0);
      expect(running.length).toBeGreaterThanOrEqual(cut);
      // Admitted rows carry the instance that owns them and their heartbeat's tokens.
      for (const row of running) {
        expect(row.instanceId).toMatch(/^.+:\d+:[0-9a-f]{8}$/);
        expect(row.completionTokens).toBeGreaterThan(0);
      }
      // While the dead instance's rows are still running, a restarted server settles them before it says it listens.
      const second = await startStudioServe(target, serveArgs, heartbeat);
      children.push(second.child);
      const rows = await store.usage.list({ keyId: key.id, limit: 100 });
      expect(rows).toHaveLength(4);
      const interrupted = rows.filter((row) => row.status === "interrupted");
      expect(interrupted).toHaveLength(cut);
      for (const row of interrupted) {
        expect(row.completionTokens).toBeGreaterThan(0);
        expect(row.completionTokens).toBeLessThan(500);
        expect(row.costMicroUsd).toBe(5 * 1000 + row.completionTokens * 2000);
        expect(row.reservedMicroUsd).toBeUndefined();
        expect(row.latencyMs).toBeGreaterThan(0);
      }
      expect((await store.usage.budgetUse(key.id, "1970-01-01")).spentMicroUsd).toBe(
        rows.reduce((total, row) => total + row.costMicroUsd, 0),
      );
      const [report] = await cli<WireUsageRow[]>(["usage", "--by", "key", "--json", "--url", second.url], { MOESTRO_ADMIN_KEY: adminKey });
      expect(report).toMatchObject({ group: key.id, requests: 4, interrupted_requests: cut, aborted_requests: 0 });
      await killHard(second.child);
    } finally {
      await store.dispose();
    }
  });
});

describe.skipIf(!hasTestModels || !hasPostgres)("a budget shared by two server processes on one PostgreSQL", () => {
  const schema = `moestro_budget_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  let folder: string;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-budget-"));
  });
  afterAll(async () => {
    await Promise.all(children.map(killHard));
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: testPostgresUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  it("spends at most the budget when 8 streams hit a $0.05 budget through both at once", async () => {
    // Both in a schema of their own (--database-schema), sharing rate limits through Redis where it runs.
    const target = { dialect: "postgres" as const, databaseUrl: testPostgresUrl, cleanup: async () => undefined };
    const serveArgs = ["--price-book", writePriceBook(folder, priceBook), "--database-schema", schema];
    if (hasRedis) serveArgs.push("--rate-limit-store", "redis", "--redis-url", testRedisUrl);
    const servers = await Promise.all([startStudioServe(target, serveArgs), startStudioServe(target, serveArgs)]);
    children.push(...servers.map((server) => server.child));
    const key = await cli<WireCreatedApiKey>(
      ["keys", "create", "--name", "shared", "--budget-usd", "0.05", "--budget-period", "day", "--json"],
      {
        MOESTRO_ADMIN_KEY: adminKey,
        MOESTRO_URL: servers[0]!.url,
      },
    );
    // Each stream's worst case (and real cost) is 25,000 micro-USD: two fit in 50,000, whichever server they reach.
    const ends = await Promise.all(
      Array.from({ length: 8 }, (_, index) => streamCompletion(servers[index % 2]!.url, key.secret, `shared-${index}`, 10).done),
    );
    expect(ends.filter((end) => end.status === 200 && end.finished)).toHaveLength(2);
    expect(ends.filter((end) => end.status === 429 && end.code === "insufficient_quota")).toHaveLength(6);
    const store = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schema });
    try {
      // A row is settled just after the response's last byte leaves (docs/gateway.md, the ledger's three writes), so a
      // client that has read [DONE] may see it running for a moment.
      await expect
        .poll(async () => (await store.usage.list({ keyId: key.id })).map((row) => row.status), { timeout: 5_000 })
        .toEqual(["ok", "ok"]);
      const rows = await store.usage.list({ keyId: key.id });
      expect(new Set(rows.map((row) => row.instanceId)).size).toBeGreaterThanOrEqual(1);
      expect((await store.usage.budgetUse(key.id, "1970-01-01")).spentMicroUsd).toBe(50_000);
    } finally {
      await store.dispose();
    }
  });
});
