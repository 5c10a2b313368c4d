import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyService } from "../auth/key-service.js";
import { createApp } from "../api/app.js";
import type { ModelPlanner } from "../api/model-planner.js";
import type { WireModelPlan } from "../wire/console.js";
import { createStoredResultsReader } from "../api/stored-results.js";
import { createStaticModelRegistry } from "../engines/model-registry.js";
import { MoestroError } from "../errors/index.js";
import type { ModelPuller } from "../models/pull-model.js";
import type { ModelBackend } from "../spec/index.js";
import { openStore, type Store, type UsageRecord } from "../store/index.js";
import { ApiError } from "./api-error.js";
import { createConsoleClient, type ConsoleClient } from "./console-client.js";

const logger = pino({ level: "silent" });
// Only `info` is read by the routes these tests reach.
const fakeModel = (id: string) => ({ info: { id, path: `/models/${id}.gguf`, createdAtSeconds: 0 } }) as unknown as ModelBackend;

const samplePlan = (model: string): WireModelPlan => ({
  object: "moestro.plan",
  model,
  facts: {
    name: model,
    architecture: "qwen3moe",
    file_type: "Q4_K_M",
    file_size_bytes: 1000,
    context_tokens: 4096,
    layer_count: 48,
    total_parameters: 30.5e9,
    active_parameters: 3.3e9,
    expert_count: 128,
    expert_used_count: 8,
    shared_expert_count: 0,
    weights_bytes: 18e9,
    routed_expert_bytes: 16e9,
    active_bytes_per_token: 1.5e9,
    quantization: [],
  },
  hardware: { name: "test machine", sources: [] },
  memory: {
    context_tokens: 4096,
    sequences: 4,
    weights_bytes: 18e9,
    kv_cache_bytes: 1e9,
    recurrent_state_bytes: 0,
    compute_buffer_bytes: 3e8,
    output_buffer_bytes: 1e7,
    total_bytes: 19.31e9,
  },
  placement: {
    kind: "cpu",
    fits: true,
    reason: null,
    description: "CPU only",
    gpu_layers: 0,
    cpu_expert_layers: 0,
    gpu: null,
    host: { name: "cpu", budget_bytes: 6e10, weights_bytes: 18e9, cache_bytes: 1e9, compute_bytes: 3e8, total_bytes: 19.3e9 },
  },
  decode_tokens_per_second: 20,
  prefill_tokens_per_second: 200,
  llama_server_args: ["-m", "model.gguf"],
  worker_args: ["-m", "model.gguf", "-c", "4096", "-np", "1", "-t", "1", "-ngl", "0"],
  cloud: null,
  assumptions: [],
});

function usageRecord(index: number, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `request-${index}`,
    keyId: "key_1",
    model: index === 2 ? 'odd,"model"' : "m",
    endpoint: "chat.completions",
    stream: index % 2 === 0,
    status: "ok",
    promptTokens: 10 + index,
    cachedPromptTokens: 0,
    completionTokens: 20,
    reasoningTokens: 0,
    costMicroUsd: 1500,
    cloudModel: "qwen3.5-flash",
    cloudCostMicroUsd: 4000,
    startedAtMs: Date.parse("2026-05-01T10:00:00Z") + index * 1000,
    timeToFirstTokenMs: 12,
    latencyMs: 90,
    ...overrides,
  };
}

describe("the console's client against the app (no port)", () => {
  let folder: string;
  let store: Store;
  let client: ConsoleClient;
  let bare: ConsoleClient;
  const pulls: string[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-console-client-"));
    store = await openStore({ home: folder });
    // Row 2 has no engine: a row from before the ledger recorded it.
    const engines = ["inproc", "llama-server", undefined];
    for (const index of [0, 1, 2]) await store.usage.record(usageRecord(index, { engine: engines[index] }), Date.now());
    const resultsDir = path.join(folder, "results");
    mkdirSync(resultsDir);
    writeFileSync(path.join(resultsDir, "notes.json"), "{}");
    const puller: ModelPuller = {
      async *pull(ref) {
        pulls.push(ref);
        if (ref === "hf:missing/repo:Q4_0") throw new MoestroError("model_not_found", "No repository missing/repo on the hub.");
        yield { status: "resolving", model: "owner/repo:Q4_0", completedBytes: 0, totalBytes: undefined };
        for (const completedBytes of [0, 500, 1000])
          yield { status: "downloading", model: "owner/repo:Q4_0", file: "model.gguf", completedBytes, totalBytes: 1000 };
        yield { status: "done", model: "owner/repo:Q4_0", completedBytes: 1000, totalBytes: 1000 };
      },
      resolve: async () => ({ name: "owner/repo:Q4_0", files: [] }),
      checkRef: () => "owner/repo:Q4_0",
    };
    const planner: ModelPlanner = { plan: async (entry) => samplePlan(entry.id) };
    const keys = createKeyService({ keys: store.apiKeys });
    const app = createApp({
      models: createStaticModelRegistry([fakeModel("m"), fakeModel("owner/repo:Q8_0")]),
      logger,
      maxMemoryBytes: 24 * 2 ** 30,
      version: "9.9.9",
      puller,
      planner,
      results: createStoredResultsReader(resultsDir),
      admin: { keys, usage: store.usage, canManageKeys: false },
    });
    const viaApp = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => await app.request(String(url), init);
    client = createConsoleClient({ baseUrl: "http://moestro.test", fetch: viaApp });
    const bareApp = createApp({ models: createStaticModelRegistry([]), logger });
    bare = createConsoleClient({ baseUrl: "http://moestro.test/v1", fetch: async (url, init) => await bareApp.request(String(url), init) });
  });
  afterAll(async () => {
    await store?.dispose();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("reads the server's info: version, key checks, which parts it has and the memory budget", async () => {
    expect(await client.info()).toEqual({
      object: "moestro.info",
      version: "9.9.9",
      key_checks: false,
      features: { pull: true, plan: true, keys: false, usage: true, results: true },
      results_dir: path.join(folder, "results"),
      memory_budget_bytes: 24 * 2 ** 30,
    });
    expect((await bare.info()).features).toEqual({ pull: false, plan: false, keys: false, usage: false, results: false });
    expect((await bare.info()).memory_budget_bytes).toBeNull();
  });

  it("streams a pull's progress line by line, and raises the error line of a failed pull", async () => {
    const lines = [];
    for await (const progress of client.pullModel("hf:owner/repo:Q4_0")) lines.push(progress);
    expect(lines.map((line) => [line.status, line.completed_bytes, line.total_bytes])).toEqual([
      ["resolving", 0, null],
      ["downloading", 0, 1000],
      ["downloading", 500, 1000],
      ["downloading", 1000, 1000],
      ["done", 1000, 1000],
    ]);
    const failing = async () => {
      for await (const _ of client.pullModel("hf:missing/repo:Q4_0")) void _;
    };
    await expect(failing()).rejects.toMatchObject({ name: "ApiError", code: "model_not_found" });
    await expect(bare.pullModel("hf:owner/repo:Q4_0").next()).rejects.toMatchObject({ status: 404, code: "not_found" });
  });

  it("raises an ApiError, not a SyntaxError, for a pull line that is not JSON, and reads an error status without a JSON body", async () => {
    const answering =
      (body: string, status: number): typeof fetch =>
      async () =>
        new Response(body, { status, headers: { "content-type": "application/x-ndjson", "x-request-id": "req_1" } });
    const broken = createConsoleClient({
      baseUrl: "http://moestro.test",
      fetch: answering(
        '{"status":"resolving","model":"m","file":null,"completed_bytes":0,"total_bytes":null}\n<html>proxy error</html>\n',
        200,
      ),
    });
    const lines: unknown[] = [];
    const pulling = async () => {
      for await (const progress of broken.pullModel("hf:owner/repo:Q4_0")) lines.push(progress);
    };
    const error = await pulling().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 200, code: "invalid_response", requestId: "req_1" });
    expect((error as Error).message).toContain("<html>proxy error</html>");
    expect(lines).toHaveLength(1);
    const proxied = createConsoleClient({ baseUrl: "http://moestro.test", fetch: answering("Bad gateway", 502) });
    await expect(proxied.listModels()).rejects.toMatchObject({
      name: "ApiError",
      status: 502,
      code: null,
      message: "GET /v1/moestro/models answered HTTP 502: Bad gateway",
    });
  });

  it("plans a model by id (ids may hold '/'), 404s an unknown one, and says when the server has no planner", async () => {
    expect((await client.planModel("owner/repo:Q8_0")).facts).toMatchObject({ expert_count: 128, expert_used_count: 8 });
    await expect(client.planModel("nope")).rejects.toMatchObject({ status: 404, code: "model_not_found" });
    await expect(bare.planModel("m")).rejects.toMatchObject({ status: 404, code: "not_found" });
  });

  it("lists the ledger's rows oldest first, with has_more past the limit", async () => {
    const all = await client.listUsageEvents();
    expect(all.data.map((event) => event.request_id)).toEqual(["request-0", "request-1", "request-2"]);
    expect(all.data[0]).toMatchObject({
      key_id: "key_1",
      total_tokens: 30,
      cost_usd: 0.0015,
      cloud_cost_usd: 0.004,
      time_to_first_token_ms: 12,
    });
    expect(all.data.map((event) => event.engine)).toEqual(["inproc", "llama-server", null]);
    expect(all.has_more).toBe(false);
    const first = await client.listUsageEvents({ limit: 2 });
    expect([first.data.length, first.has_more]).toEqual([2, true]);
    const later = await client.listUsageEvents({ from: "2026-05-01T10:00:01Z" });
    expect(later.data.map((event) => event.request_id)).toEqual(["request-1", "request-2"]);
    await expect(client.listUsageEvents({ limit: 0 })).rejects.toBeInstanceOf(ApiError);
  });

  it("exports the ledger's rows as CSV: a header and one quoted-as-needed line per request", async () => {
    const lines = (await client.usageEventsCsv()).split("\r\n");
    expect(lines.at(-1)).toBe("");
    expect(lines[0]).toBe(
      "request_id,started_at,key_id,model,endpoint,stream,status,error_code,prompt_tokens,cached_prompt_tokens,completion_tokens,reasoning_tokens,total_tokens,cost_usd,cloud_model,cloud_cost_usd,time_to_first_token_ms,latency_ms,engine,upstream,attempts,cache_creation_input_tokens,cache_read_input_tokens,engine_time_ms,cost_nano_usd,cost_estimated,usage_estimated,requested_model",
    );
    expect(lines.slice(1, -1)).toEqual([
      "request-0,2026-05-01T10:00:00.000Z,key_1,m,chat.completions,true,ok,,10,0,20,0,30,0.0015,qwen3.5-flash,0.004,12,90,inproc,,,0,0,0,1500000,false,false,",
      "request-1,2026-05-01T10:00:01.000Z,key_1,m,chat.completions,false,ok,,11,0,20,0,31,0.0015,qwen3.5-flash,0.004,12,90,llama-server,,,0,0,0,1500000,false,false,",
      'request-2,2026-05-01T10:00:02.000Z,key_1,"odd,""model""",chat.completions,true,ok,,12,0,20,0,32,0.0015,qwen3.5-flash,0.004,12,90,,,,0,0,0,1500000,false,false,',
    ]);
  });

  it("lists stored results, and says when the server keeps none", async () => {
    expect(await client.listResults()).toEqual({ object: "list", results_dir: path.join(folder, "results"), data: [], skipped: [] });
    await expect(bare.listResults()).rejects.toMatchObject({ status: 404, code: "not_found" });
  });

  it("lists the models and the loaded ones (loading and unloading run in test/console/models.test.ts on real models)", async () => {
    expect((await client.listModels()).map((model) => [model.id, model.path])).toEqual([
      ["m", "/models/m.gguf"],
      ["owner/repo:Q8_0", "/models/owner/repo:Q8_0.gguf"],
    ]);
    expect(await client.listLoaded()).toEqual([]);
  });
});
