import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createConsoleClient } from "../../../client/console-client.js";
import { ModelScheduler } from "../../../engines/model-scheduler.js";
import { createStaticModelRegistry } from "../../../engines/model-registry.js";
import type { ModelPuller } from "../../../models/pull-model.js";
import type { ModelBackend, WorkerInfo } from "../../../spec/index.js";
import { createFakeBackend } from "../../../../test/helpers/fake-backend.js";
import { createApp } from "../../app.js";

const logger = pino({ level: "silent" });

/** An app over a real scheduler whose loader makes model-free backends (only `info`, `engine`, `stats` and `dispose` are used). */
function createSchedulerApp() {
  const scheduler = new ModelScheduler({
    listEntries: async () => [{ id: "stories260K", path: "/nowhere/stories260K.gguf", source: "config" }],
    loadModel: async (entry) =>
      ({
        info: { id: entry.id, createdAtSeconds: 0 },
        engine: () => ({ kind: "inproc", placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 } }),
        stats: () => ({ sequencesInUse: 0, queuedRequests: 0, activeGenerations: 0, generatedTokensTotal: 0 }),
        dispose: async () => undefined,
      }) as unknown as ModelBackend,
    estimateMemoryBytes: async () => 1000,
    maxMemoryBytes: 1_000_000,
    logger,
  });
  const app = createApp({ models: scheduler, logger });
  const post = (path: string, body: unknown) =>
    app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { scheduler, post };
}

describe("POST /v1/moestro/models/load (createApp, real scheduler, model-free loader)", () => {
  it("loads a model and keeps it for keep_alive", async () => {
    const { scheduler, post } = createSchedulerApp();
    const response = await post("/v1/moestro/models/load", { model: "stories260K", keep_alive: "5m" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: "stories260K", loaded: true, memory_bytes: 1000 });
    expect(scheduler.listLoaded().map((model) => model.id)).toEqual(["stories260K"]);
    await scheduler.dispose();
  });

  it("refuses keep_alive 0 (it would unload at once) with 400 naming keep_alive, in every spelling", async () => {
    const { scheduler, post } = createSchedulerApp();
    for (const keepAlive of [0, "0", "0s", "0m", 0.0001]) {
      const response = await post("/v1/moestro/models/load", { model: "stories260K", keep_alive: keepAlive });
      expect(response.status, String(keepAlive)).toBe(400);
      const { error } = (await response.json()) as { error: { param: string; message: string; type: string } };
      expect(error).toMatchObject({ param: "keep_alive", type: "invalid_request_error" });
      expect(error.message).toContain("/v1/moestro/models/unload");
    }
    expect(scheduler.listLoaded()).toEqual([]);
    await scheduler.dispose();
  });

  it("refuses an unreadable keep_alive and an unknown model with 4xx", async () => {
    const { scheduler, post } = createSchedulerApp();
    expect((await post("/v1/moestro/models/load", { model: "stories260K", keep_alive: "soon" })).status).toBe(400);
    expect((await post("/v1/moestro/models/load", { model: "nope" })).status).toBe(404);
    await scheduler.dispose();
  });

  it("refuses a body without a model, or with a keep_alive of the wrong type, with 400 naming the field", async () => {
    const { scheduler, post } = createSchedulerApp();
    for (const [body, param] of [
      [{}, "model"],
      [{ model: "" }, "model"],
      [{ model: "stories260K", keep_alive: true }, "keep_alive"],
    ] as const) {
      const response = await post("/v1/moestro/models/load", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { error: unknown }).error).toMatchObject({ code: "invalid_request", param });
    }
    expect(scheduler.listLoaded()).toEqual([]);
    await scheduler.dispose();
  });

  it("answers a model unloaded again before the answer with loaded false and memory_bytes null, which the console client reads", async () => {
    // An unload that waited for the model ends the load with nothing loaded (ModelRegistry.load resolves undefined).
    const models = { ...createStaticModelRegistry([]), load: async () => undefined };
    const app = createApp({ models, logger });
    const client = createConsoleClient({
      baseUrl: "http://moestro.test",
      fetch: async (url, init) => await app.request(String(url), init),
    });
    await expect(client.loadModel("stories260K")).resolves.toEqual({ id: "stories260K", loaded: false, memory_bytes: null });
  });
});

describe("POST /v1/moestro/pull (createApp, fake puller)", () => {
  it("streams progress unbuffered by proxies, and logs a failure it sends as internal_error", async () => {
    const logged: Array<{ msg: string; requestId?: string; err?: { message: string } }> = [];
    const errorLogger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const puller: ModelPuller = {
      async *pull(ref) {
        yield { status: "resolving", model: ref, completedBytes: 0, totalBytes: undefined };
        throw new Error("disk on fire");
      },
      resolve: async (ref) => ({ name: ref, files: [] }),
      checkRef: (ref) => ref,
    };
    const app = createApp({ models: createStaticModelRegistry([]), logger: errorLogger, puller });
    for (const accept of ["text/event-stream", "application/x-ndjson"]) {
      const response = await app.request("/v1/moestro/pull", {
        method: "POST",
        headers: { "content-type": "application/json", accept, "x-request-id": `pull-${accept}` },
        body: JSON.stringify({ model: "hf:owner/repo:Q4_0" }),
      });
      expect(response.headers.get("content-type"), accept).toContain(accept);
      expect(response.headers.get("x-accel-buffering"), accept).toBe("no");
      expect(response.headers.get("cache-control"), accept).toBe("no-cache");
      const text = await response.text();
      expect(text, accept).toContain('"code":"internal_error"');
      expect(text, accept).not.toContain("disk on fire");
    }
    expect(logged.map((line) => [line.msg, line.requestId, line.err?.message])).toEqual([
      ["pull failed", "pull-text/event-stream", "disk on fire"],
      ["pull failed", "pull-application/x-ndjson", "disk on fire"],
    ]);
  });
});

describe("GET /v1/moestro/ps: which engine serves each loaded model (createApp, fake backends)", () => {
  const nowMs = Date.parse("2026-06-01T12:00:00Z");
  // A worker as the llama-server backend describes it: its placement and process are what the fake says, no process runs.
  const worker: WorkerInfo = {
    pid: 4242,
    binary: "/opt/llama/llama-server",
    version: "version: 1 (80fb11a)",
    args: ["--model", "/models/big.gguf", "--n-gpu-layers", "99", "--n-cpu-moe", "30", "--api-key", "***"],
    restarts: 2,
    startedAtMs: nowMs - 95_500,
  };
  const placement = { description: "experts of the first 30 layers in RAM, the rest on the GPU", gpuLayers: 99, cpuMoeLayers: 30 };

  it("shows engine and placement for each model, and a worker's pid, args, restarts and uptime, which the console client reads", async () => {
    const models = createStaticModelRegistry([
      createFakeBackend({ id: "small" }),
      createFakeBackend({ id: "big", engine: { kind: "llama-server", placement, worker } }),
    ]);
    const app = createApp({ models, logger, now: () => nowMs });
    await models.load("small");
    await models.load("big");
    const client = createConsoleClient({
      baseUrl: "http://moestro.test",
      fetch: async (url, init) => await app.request(String(url), init),
    });
    const loaded = await client.listLoaded();
    expect(loaded.map((model) => [model.id, model.engine])).toEqual([
      ["small", "inproc"],
      ["big", "llama-server"],
    ]);
    expect(loaded[0]).toMatchObject({ placement: { description: "CPU only", gpu_layers: 0, cpu_moe_layers: 0 }, worker: null });
    expect(loaded[1]!.placement).toEqual({ description: placement.description, gpu_layers: 99, cpu_moe_layers: 30 });
    expect(loaded[1]!.worker).toEqual({
      pid: 4242,
      binary: "/opt/llama/llama-server",
      version: "version: 1 (80fb11a)",
      args: worker.args,
      restarts: 2,
      started_at: "2026-06-01T11:58:24.500Z",
      // Whole seconds from startedAtMs to the app's clock.
      uptime: 95,
      // Started without speculative decoding.
      speculation: null,
    });
    await models.dispose();
  });

  it("reads the worker on each call: a restarting worker has no pid, and its uptime counts from the new process", async () => {
    let current = worker;
    const models = createStaticModelRegistry([
      createFakeBackend({ id: "big", engine: () => ({ kind: "llama-server", placement, worker: current }) }),
    ]);
    const app = createApp({ models, logger, now: () => nowMs });
    await models.load("big");
    const ps = async () => ((await (await app.request("/v1/moestro/ps")).json()) as { data: Array<{ worker: unknown }> }).data[0]!.worker;
    expect(await ps()).toMatchObject({ pid: 4242, restarts: 2, uptime: 95 });
    current = { ...worker, pid: null, restarts: 3, startedAtMs: nowMs + 10 };
    // A start time after the clock (it stepped back) shows 0 s, not a negative uptime.
    expect(await ps()).toMatchObject({ pid: null, restarts: 3, uptime: 0 });
    // A speculating worker, then one that backed off: restarting, then restarted.
    current = { ...worker, speculation: { type: "draft" } };
    expect(await ps()).toMatchObject({ speculation: "draft" });
    const backedOff = { acceptance: 0.021, draftTokens: 528, atMs: nowMs };
    current = { ...worker, speculation: { type: "draft", backedOff } };
    expect(await ps()).toMatchObject({ speculation: "off (backed off: 2% of 528 drafted tokens accepted; restarting)" });
    current = { ...worker, speculation: { type: "draft", backedOff: { ...backedOff, restartMs: 1840 } } };
    expect(await ps()).toMatchObject({ speculation: "off (backed off: 2% of 528 drafted tokens accepted; restarted in 1840 ms)" });
    await models.dispose();
  });
});
