import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceBookInput } from "../../src/metering/price-book.js";
import { openStore, type Store, type UsageRecord } from "../../src/store/index.js";
import type { WireUsageReport, WireUsageRow } from "../../src/wire/admin.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const execute = promisify(execFile);

/** $360 per hour of hardware, plus 100 W at $0.20 per kWh: 360,020,000 micro-USD per hour of engine time. */
const hourly = { microUsdPerHour: 360_000_000, watts: 100, microUsdPerKwh: 200_000 };
const microUsdPerHour = 360_000_000 + 0.1 * 200_000;

/** The time pricing's own formula (docs/studio.md): engine µs × micro-USD per hour / 3.6×10^6 = nano-USD. */
/** A record's cost in nano-USD: a record leaves `costNanoUsd` out when it is `costMicroUsd × 1000` (usage-record.ts). */
const nanoOf = (row: UsageRecord): number => row.costNanoUsd ?? row.costMicroUsd * 1000;
const expectedNanoUsd = (row: UsageRecord): number => ((row.engineTimeUs ?? 0) * microUsdPerHour) / 3.6e6;

// Issue 20, "Honest cost of local tokens": a local request costs its engine time times the configured hourly cost.
describe.skipIf(!hasTestModels).each(testEngines)("the cost of local tokens on a real server (%s engine)", (engine) => {
  let test: TestServer;
  let ledger: Store;
  let folder: string;
  let client: OpenAI;

  const settledRows = async (model: string, count: number): Promise<UsageRecord[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const rows = (await ledger.usage.list({ limit: 10_000 })).filter((row) => row.model === model);
      if ((rows.length >= count && rows.every((row) => row.status !== "running")) || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-local-cost-"));
    const book: PriceBookInput = {
      version: 1,
      localTime: hourly,
      prices: [
        // An explicit tiers entry overrides time pricing.
        flatLocalPrice("stories260K-moe", { inputMicroUsdPerMillionTokens: 1_000_000, outputMicroUsdPerMillionTokens: 2_000_000 }),
      ],
    };
    const priceBookPath = writePriceBook(folder, book);
    test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("stories260K-moe.gguf") }],
        home: folder,
        metering: { priceBookPath },
        engine: { contextTokens: 512, parallel: 4 },
      },
      { engine },
    );
    client = test.client;
    ledger = await openStore({ home: folder });
  });
  afterAll(async () => {
    await test?.close();
    await ledger?.dispose();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("costs a request its measured engine time × the configured hourly cost, within 5%, never 0, not an estimate", async () => {
    await client.chat.completions.create({
      model: "stories260K",
      messages: [{ role: "user", content: "Tell me a story about a cat." }],
      max_tokens: 40,
      temperature: 0,
    });
    await client.completions.create({ model: "stories260K", prompt: "Once", max_tokens: 1, temperature: 0 });
    // Ended by a stop sequence, which moestro finds (a worker's stream is cut before its last event).
    await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 40, stop: ["e"], temperature: 0 });
    const rows = await settledRows("stories260K", 3);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.status).toBe("ok");
      expect(row.engineTimeUs).toBeGreaterThan(0);
      // The engine's time is part of the request's: never more than its latency.
      expect(row.engineTimeUs! / 1000).toBeLessThanOrEqual(row.latencyMs + 1);
      expect(nanoOf(row)).toBeGreaterThan(0);
      expect(row.costMicroUsd).toBeGreaterThan(0);
      expect(Math.abs(nanoOf(row) - expectedNanoUsd(row))).toBeLessThanOrEqual(0.05 * expectedNanoUsd(row));
      expect(row.costEstimated).toBeUndefined();
    }
  });

  it("shares batched decode steps: concurrent requests' engine times add up to no more than the time they ran", async () => {
    const startedAt = performance.now();
    await Promise.all(
      ["A dog", "A bird", "A fish", "A tree"].map((prompt) =>
        client.completions.create({ model: "stories260K", prompt, max_tokens: 30, temperature: 0, user: "batch" }),
      ),
    );
    const wallMs = performance.now() - startedAt;
    const rows = (await settledRows("stories260K", 7)).slice(-4);
    expect(rows).toHaveLength(4);
    for (const row of rows) expect(nanoOf(row)).toBeGreaterThan(0);
    const engineMs = rows.reduce((total, row) => total + row.engineTimeUs! / 1000, 0);
    expect(engineMs).toBeGreaterThan(0);
    expect(engineMs).toBeLessThanOrEqual(wallMs * 1.05);
  });

  it("prices embeddings by engine time too", async () => {
    await client.embeddings.create({ model: "stories260K", input: ["a small embedding"] });
    const rows = (await settledRows("stories260K", 8)).filter((row) => row.endpoint === "embeddings");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.engineTimeUs).toBeGreaterThan(0);
    expect(nanoOf(rows[0]!)).toBeGreaterThan(0);
  });

  it("keeps an explicit tiers entry's token price, and records the engine time beside it", async () => {
    await client.completions.create({ model: "stories260K-moe", prompt: "Once upon", max_tokens: 5, temperature: 0 });
    const [row] = await settledRows("stories260K-moe", 1);
    expect(row!.engineTimeUs).toBeGreaterThan(0);
    // A record leaves out a nano-USD cost that is its micro-USD cost × 1000 (a whole micro-USD, as here).
    expect(nanoOf(row!)).toBe(row!.promptTokens * 1000 + row!.completionTokens * 2000);
  });

  it("shows cost here, the cloud list price, the difference and the assumptions in `moestro usage --json`, and the planner beside the ledger", async () => {
    const cli = async (args: string[]): Promise<string> => {
      const env = { ...process.env, MOESTRO_URL: "", MOESTRO_HOME: "", MOESTRO_DATABASE_URL: "" };
      const { stdout } = await execute(process.execPath, [path.join(root, "bin/moestro.js"), ...args, "--url", test.url], {
        env,
        encoding: "utf8",
      });
      return stdout;
    };
    const rows = JSON.parse(await cli(["usage", "--by", "model", "--json"])) as WireUsageRow[];
    const stories = rows.find((row) => row.group === "stories260K")!;
    expect(stories.cost_nano_usd).toBeGreaterThan(0);
    expect(stories.engine_time_ms).toBeGreaterThan(0);
    expect(stories.cloud_cost_nano_usd).toBeGreaterThan(0);
    expect(stories.difference_nano_usd).toBe(stories.cloud_cost_nano_usd! - stories.cost_nano_usd!);
    expect(stories.cost_estimated).toBe(false);
    expect(stories.measured_micro_usd_per_million_output_tokens).toBeGreaterThan(0);
    expect(stories.pricing).toMatchObject({
      basis: "time",
      rate: { micro_usd_per_hour: microUsdPerHour, watts: 100, watts_source: "configured", estimated: false },
    });
    expect(stories.pricing!.planned_single_micro_usd_per_million_output_tokens).toBeGreaterThan(0);
    expect(stories.pricing!.planned_busy_micro_usd_per_million_output_tokens).toBeGreaterThan(0);
    expect(rows.find((row) => row.group === "stories260K-moe")?.pricing?.basis).toBe("tokens");
    const report = JSON.parse(await cli(["usage", "--by", "key", "--json", "--details"])) as WireUsageReport;
    expect(report.time_rate).toMatchObject({ hardware_micro_usd_per_hour: 360_000_000, micro_usd_per_kwh: 200_000, estimated: false });
    const table = await cli(["usage", "--by", "model"]);
    expect(table).toContain("MEASURED /1M OUT");
    expect(table).toContain("Cost here: engine time × $360.02/hour");
    expect(table).not.toContain("an estimate");
  });
});

describe.skipIf(!hasTestModels)("the cost of local tokens with nothing configured", () => {
  let test: TestServer;
  let folder: string;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-local-cost-default-"));
    test = await startTestServer({ models: [{ path: testModelPath("stories260K.gguf") }], home: folder });
  });
  afterAll(async () => {
    await test?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("prices by the planner's power for this machine at the default electricity price, marked as an estimate", async () => {
    await test.client.completions.create({ model: "stories260K", prompt: "Once", max_tokens: 3, temperature: 0 });
    const deadline = Date.now() + 10_000;
    let report: WireUsageReport;
    for (;;) {
      report = (await (await fetch(`${test.url}/v1/moestro/usage?group_by=model`)).json()) as WireUsageReport;
      if (report.data[0]?.requests === 1 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const row = report.data[0]!;
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    expect(row.cost_estimated).toBe(true);
    expect(report.time_rate).toMatchObject({ hardware_micro_usd_per_hour: 0, micro_usd_per_kwh: 165_000, estimated: true });
    expect(report.time_rate!.watts_source).toMatch(/estimated from \d+ cores/);
  });
});
