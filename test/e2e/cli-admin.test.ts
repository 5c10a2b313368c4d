import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireApiKey, WireCreatedApiKey, WireUsageRow } from "../../src/wire/admin.js";
import { openStore } from "../../src/store/index.js";
import pg from "pg";
import { createTestStoreTarget, hasPostgres, testDialects, testPostgresUrl, type TestStoreTarget } from "../helpers/databases.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");
const execute = promisify(execFile);

if (!existsSync(path.join(root, "dist/cli/index.js"))) throw new Error("dist/ is missing: run `npm run build` first (`npm test` does).");

describe.each(testDialects)("moestro keys and usage on the local %s store (built CLI)", (dialect) => {
  let target: TestStoreTarget;
  let storeFlags: string[];

  const cli = async (args: string[], extraEnv: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> => {
    // MOESTRO_URL unset: the commands must work on the store named by the flags. No admin key unless the test sets one.
    const env = { ...process.env, MOESTRO_URL: "", MOESTRO_HOME: "", MOESTRO_DATABASE_URL: "", MOESTRO_ADMIN_KEY: "", ...extraEnv };
    try {
      const { stdout, stderr } = await execute(process.execPath, [bin, ...args, ...storeFlags], { env, encoding: "utf8" });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    }
  };

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    storeFlags = target.home !== undefined ? ["--home", target.home] : ["--database-url", target.databaseUrl!];
  });
  afterAll(async () => {
    await target?.cleanup();
  });

  it("creates a key and prints its secret once: --json has secret beside id, name and prefix", async () => {
    const created = await cli([
      "keys",
      "create",
      "--name",
      "ci",
      "--models",
      "a, b",
      "--rpm",
      "5",
      "--tpm",
      "100",
      "--budget-usd",
      "1.5",
      "--budget-period",
      "day",
      "--expires-in",
      "30d",
      "--json",
    ]);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as WireCreatedApiKey;
    expect(key).toMatchObject({
      name: "ci",
      models: ["a", "b"],
      requests_per_minute: 5,
      tokens_per_minute: 100,
      budget_micro_usd: 1_500_000,
      budget_period: "day",
      revoked_at_ms: null,
    });
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    expect(key.id).toMatch(/^key_/);
    expect(key.expires_at_ms! - key.created_at_ms).toBe(30 * 86_400_000);

    const human = await cli(["keys", "create", "--name", "human", "--budget-usd", "2"]);
    expect(human.stdout).toMatch(/shown once/);
    expect(human.stdout).toMatch(/mst-[A-Za-z0-9_-]{43}/);
    // No admin key here: one line says the key is not checked until a server runs with one (the server route refuses then).
    const notice =
      /^moestro keys create: note: keys are not checked until `moestro serve` runs with an admin key \(--admin-key or MOESTRO_ADMIN_KEY/;
    expect(human.stderr).toMatch(notice);
    expect(human.stderr.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(created.stderr)).toEqual({ warning: { message: expect.stringMatching(/^keys are not checked until/), param: null } });
    const checked = await cli(["keys", "create", "--name", "checked", "--json"], { MOESTRO_ADMIN_KEY: "cli-admin-test-key-0123456789" });
    expect(checked.stderr).toBe("");
    await cli(["keys", "revoke", (JSON.parse(checked.stdout) as WireCreatedApiKey).id]);

    const listed = JSON.parse((await cli(["keys", "ls", "--json"])).stdout) as WireApiKey[];
    expect(listed.map((entry) => entry.name)).toEqual(["ci", "human"]);
    expect(listed.find((entry) => entry.name === "human")).toMatchObject({
      budget_micro_usd: 2_000_000,
      budget_period: "month",
      budget_use: { spent_micro_usd: 0, reserved_micro_usd: 0 },
    });
    expect(JSON.stringify(listed)).not.toContain(key.secret);
    const table = (await cli(["keys", "ls"])).stdout;
    expect(table).toContain("PREFIX");
    expect(table).toContain(key.prefix);
    expect(table).toContain("$1.50/day");
    expect(table).toMatch(/BUDGET\s+SPENT/);
    expect(table).toMatch(/\$1\.50\/day\s+\$0\.00\s/);

    const revoked = await cli(["keys", "revoke", key.prefix]);
    expect(revoked.stdout).toContain("Revoked API key 'ci'");
    expect((JSON.parse((await cli(["keys", "ls", "--json"])).stdout) as WireApiKey[]).map((entry) => entry.name)).toEqual(["human"]);
    const all = JSON.parse((await cli(["keys", "ls", "--all", "--json"])).stdout) as WireApiKey[];
    expect(all.find((entry) => entry.id === key.id)?.revoked_at_ms).toBeGreaterThan(0);
  });

  it("fails in one line, exit code 1, on a key that does not exist or a bad amount", async () => {
    const missing = await cli(["keys", "revoke", "key_0000000000000000"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("No API key");
    const badAmount = await cli(["keys", "create", "--name", "x", "--budget-usd", "1.2345678"]);
    expect(badAmount.code).not.toBe(0);
    expect(badAmount.stderr).toContain("USD");
  });

  it("prints usage by key, model or day as JSON rows, CSV or a table, with cost and the cloud equivalent", async () => {
    const store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    const [key] = await store.apiKeys.list({ includeRevoked: false });
    const base = {
      keyId: key!.id,
      endpoint: "chat.completions",
      stream: true,
      status: "ok" as const,
      cachedPromptTokens: 0,
      reasoningTokens: 0,
      latencyMs: 10,
      cloudModel: "qwen3.5-flash",
    };
    try {
      await store.usage.record(
        {
          ...base,
          requestId: "u1",
          model: "m1",
          promptTokens: 100,
          completionTokens: 50,
          costMicroUsd: 1_234_567,
          cloudCostMicroUsd: 30,
          startedAtMs: Date.parse("2026-02-01T10:00:00Z"),
        },
        Date.now(),
      );
      await store.usage.record(
        {
          ...base,
          requestId: "u2",
          model: "m2",
          promptTokens: 10,
          completionTokens: 5,
          costMicroUsd: 1,
          cloudCostMicroUsd: 3,
          startedAtMs: Date.parse("2026-02-02T10:00:00Z"),
          status: "aborted",
        },
        Date.now(),
      );
    } finally {
      await store.dispose();
    }
    const byKey = JSON.parse((await cli(["usage", "--json"])).stdout) as WireUsageRow[];
    expect(byKey).toEqual([
      {
        name: "human",
        group: key!.id,
        requests: 2,
        error_requests: 0,
        aborted_requests: 1,
        interrupted_requests: 0,
        usage_estimated_requests: 0,
        prompt_tokens: 110,
        cached_prompt_tokens: 0,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        completion_tokens: 55,
        reasoning_tokens: 0,
        total_tokens: 165,
        draft_tokens: 0,
        accepted_draft_tokens: 0,
        cost_micro_usd: 1_234_568,
        cost_usd: 1.234568,
        cloud_model: "qwen3.5-flash",
        cloud_cost_micro_usd: 33,
        cloud_cost_usd: 0.000033,
        // Time pricing (migration 0007): rows written without engine time or nano-USD costs read as no engine time and
        // their micro-USD costs × 1000.
        engine_time_ms: 0,
        cost_nano_usd: 1_234_568_000,
        cloud_cost_nano_usd: 33_000,
        difference_nano_usd: 33_000 - 1_234_568_000,
        cost_estimated: false,
        estimated_requests: 0,
        measured_micro_usd_per_million_output_tokens: (1_234_568_000 * 1000) / 55,
        pricing: null,
      },
    ]);
    const byModel = JSON.parse((await cli(["usage", "--by", "model", "--since", "2026-02-02", "--json"])).stdout) as WireUsageRow[];
    expect(byModel.map((row) => [row.name, row.requests])).toEqual([["m2", 1]]);
    const csv = (await cli(["usage", "--by", "day", "--csv"])).stdout.split("\r\n");
    expect(csv[0]).toBe(
      "name,group,requests,error_requests,aborted_requests,interrupted_requests,prompt_tokens,cached_prompt_tokens,cache_creation_input_tokens,cache_read_input_tokens,completion_tokens,reasoning_tokens,total_tokens,cost_micro_usd,cost_usd,cloud_model,cloud_cost_micro_usd,cloud_cost_usd,engine_time_ms,cost_nano_usd,cloud_cost_nano_usd,difference_nano_usd,cost_estimated,measured_micro_usd_per_million_output_tokens,usage_estimated_requests,draft_tokens,accepted_draft_tokens,estimated_requests",
    );
    expect(csv[1]).toBe(
      `2026-02-01,2026-02-01,1,0,0,0,100,0,0,0,50,0,150,1234567,1.234567,qwen3.5-flash,30,0.00003,0,1234567000,30000,-1234537000,false,${(1234567000 * 1000) / 50},0,0,0,0`,
    );
    expect(csv).toHaveLength(4);
    const table = (await cli(["usage", "--by", "model"])).stdout;
    expect(table).toContain("$1.23");
    // The pricing assumptions: this machine's estimated power at the default electricity price.
    expect(table).toMatch(/Cost here: engine time × \$0\.\d+\/hour = hardware \$0\/hour \+ \d+ W × \$0\.165\/kWh/);
    expect(table).toContain("an estimate");
    expect(table).toMatch(/total\s+2/);
    expect((await cli(["usage", "--since", "someday"])).stderr).toContain("--since");
    // An inverted range, and --details without --json, are errors naming the flags (exit 1), not an empty or plain table.
    const inverted = await cli(["usage", "--since", "1h", "--until", "2026-02-01"]);
    expect(inverted.code).toBe(1);
    expect(inverted.stdout).toBe("");
    expect(inverted.stderr).toMatch(/--since \(1h: .*\) must be before --until \(2026-02-01: 2026-02-01T00:00:00.000Z\)/);
    const details = await cli(["usage", "--details", "--csv"]);
    expect(details.code).toBe(1);
    expect(details.stderr).toContain("--details applies to --json only");
  });
});

describe.skipIf(!hasPostgres)("moestro keys and usage in a PostgreSQL schema of their own (built CLI)", () => {
  const schema = `moestro_cli_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const cli = async (args: string[], env: Record<string, string> = {}): Promise<string> => {
    const fullEnv = { ...process.env, MOESTRO_URL: "", MOESTRO_HOME: "", MOESTRO_DATABASE_URL: "", MOESTRO_DATABASE_SCHEMA: "", ...env };
    return (await execute(process.execPath, [bin, ...args], { env: fullEnv, encoding: "utf8" })).stdout;
  };

  afterAll(async () => {
    const client = new pg.Client({ connectionString: testPostgresUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  it("takes --database-schema (or MOESTRO_DATABASE_SCHEMA) and creates the schema on first use", async () => {
    const created = JSON.parse(
      await cli(["keys", "create", "--name", "in-schema", "--json", "--database-url", testPostgresUrl, "--database-schema", schema]),
    ) as WireCreatedApiKey;
    const listed = JSON.parse(
      await cli(["keys", "ls", "--json"], { MOESTRO_DATABASE_URL: testPostgresUrl, MOESTRO_DATABASE_SCHEMA: schema }),
    ) as WireApiKey[];
    expect(listed.map((key) => key.id)).toEqual([created.id]);
    expect(JSON.parse(await cli(["usage", "--json", "--database-url", testPostgresUrl, "--database-schema", schema]))).toEqual([]);
    const store = await openStore({ databaseUrl: testPostgresUrl, databaseSchema: schema });
    try {
      expect(store.schema).toBe(schema);
      expect((await store.apiKeys.list({ includeRevoked: true })).map((key) => key.name)).toEqual(["in-schema"]);
    } finally {
      await store.dispose();
    }
    const refused = await cli(["keys", "ls", "--database-url", testPostgresUrl, "--database-schema", "Not-A-Name"]).catch(
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toContain("databaseSchema");
  });
});
