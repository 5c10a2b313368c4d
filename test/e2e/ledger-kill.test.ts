import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireCreatedApiKey, WireUsageRow } from "../../src/wire/admin.js";
import { openStore } from "../../src/store/index.js";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../helpers/databases.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");
const adminKey = "kill-test-admin-key-0123456789";
const run = promisify(execFile);

if (!existsSync(path.join(root, "dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (`npm test` does).");

/** The built CLI, `moestro serve`, as a child process; resolves once it prints its listening line. */
async function startServe(target: TestStoreTarget): Promise<{ child: ChildProcessWithoutNullStreams; url: string }> {
  const args = [
    bin,
    "serve",
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
  const child = spawn(process.execPath, args, { env: { ...process.env, MOESTRO_ADMIN_KEY: adminKey }, stdio: ["pipe", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    let errors = "";
    child.stderr.on("data", (data: Buffer) => (errors += data.toString()));
    child.stdout.on("data", (data: Buffer) => {
      output += data.toString();
      const line = output.split("\n").find((candidate) => candidate.includes('"listening"'));
      if (line !== undefined) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${errors}`)));
  });
  return { child, url };
}

function killHard(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
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
    const first = await startServe(target);
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

    const second = await startServe(target);
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
      expect(await store.usage.spendSince(key.id, "1970-01-01")).toBe(events.reduce((total, event) => total + event.costMicroUsd, 0));
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
