import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createConsoleClient } from "../../../client/console-client.js";
import { ModelScheduler } from "../../../engines/model-scheduler.js";
import type { ModelBackend, UpstreamInfo } from "../../../spec/index.js";
import { createApp } from "../../app.js";

const logger = pino({ level: "silent" });

const upstream = (name: string, models: string[], more: Partial<UpstreamInfo> = {}): UpstreamInfo => ({
  name,
  url: `http://10.0.0.1:8000/${name}/v1`,
  kind: "vllm",
  state: "healthy",
  weight: 1,
  inFlight: 0,
  requestsTotal: 0,
  errorsTotal: 0,
  consecutiveFailures: 0,
  latencyMs: undefined,
  ejectedUntilMs: undefined,
  models,
  ...more,
});

/**
 * An app whose scheduler has the pool `qwen3` loaded (its backend reports a local member and `gpu1`), beside the
 * upstreams the gateway reports: `gpu1` (qwen3), `gpu2` (ejected, qwen3 and `llama`), and `down` (never reached: no models).
 */
async function createUpstreamsApp() {
  const nowMs = Date.parse("2026-06-01T12:00:00Z");
  const gpu1 = upstream("gpu1", ["qwen3"], {
    inFlight: 2,
    queued: 3,
    kvCacheUsage: 0.5,
    requestsTotal: 10,
    errorsTotal: 1,
    latencyMs: 41.66,
    latencyP50Ms: 39.04,
    recentAttempts: 10,
    recentErrorRate: 0.1,
  });
  const gpu2 = upstream("gpu2", ["qwen3", "llama"], {
    state: "ejected",
    errorsTotal: 3,
    consecutiveFailures: 3,
    ejectedUntilMs: nowMs + 8000,
  });
  const down = upstream("down", [], { kind: "openai-compatible", state: "ejected", ejectedUntilMs: nowMs + 10_000 });
  const local = upstream("local", ["qwen3"], { url: "(this server: inproc)", kind: "inproc", requestsTotal: 4 });
  const scheduler = new ModelScheduler({
    listEntries: async () => [{ id: "qwen3", path: "", source: "upstream" }],
    loadModel: async (entry) =>
      ({
        info: { id: entry.id, createdAtSeconds: 0 },
        engine: () => ({
          kind: "upstream",
          placement: { description: "2 upstreams", gpuLayers: 0, cpuMoeLayers: 0 },
          upstreams: [local, gpu1],
        }),
        stats: () => ({ sequencesInUse: 0, queuedRequests: 0, activeGenerations: 0, generatedTokensTotal: 0 }),
        dispose: async () => undefined,
      }) as unknown as ModelBackend,
    estimateMemoryBytes: async () => 0,
    maxMemoryBytes: 1_000_000,
    logger,
  });
  await scheduler.load("qwen3", { keepAliveMs: -1 });
  const app = createApp({ models: scheduler, logger, now: () => nowMs, upstreams: () => [gpu1, gpu2, down] });
  const client = createConsoleClient({ baseUrl: "http://moestro.test", fetch: (url, init) => Promise.resolve(app.request(url, init)) });
  return { scheduler, app, client };
}

describe("GET /v1/moestro/upstreams (createApp, real scheduler)", () => {
  it("lists every upstream, one that serves nothing yet included, with its load, errors, latency and cooldown", async () => {
    const { scheduler, client } = await createUpstreamsApp();
    const list = await client.listUpstreams();
    expect(list.at).toBe("2026-06-01T12:00:00.000Z");
    expect(list.data.map((entry) => [entry.name, entry.state, entry.models])).toEqual([
      ["gpu1", "healthy", ["qwen3"]],
      ["gpu2", "ejected", ["qwen3", "llama"]],
      ["down", "ejected", []],
    ]);
    expect(list.data[0]).toMatchObject({
      url: "http://10.0.0.1:8000/gpu1/v1",
      kind: "vllm",
      in_flight: 2,
      queued: 3,
      kv_cache_usage: 0.5,
      requests_total: 10,
      errors_total: 1,
      latency_ms: 41.7,
      latency_p50_ms: 39,
      recent_attempts: 10,
      recent_error_rate: 0.1,
      ejected_until: null,
    });
    // What is not known is null, never absent: a kind that publishes no queue, an upstream that never answered.
    expect(list.data[1]).toMatchObject({
      queued: null,
      latency_ms: null,
      latency_p50_ms: null,
      recent_attempts: 0,
      recent_error_rate: null,
      ejected_until: "2026-06-01T12:00:08.000Z",
    });
    await scheduler.dispose();
  });

  it("gives each pool its members: a loaded pool's from its backend (the local member first), another's from the upstreams", async () => {
    const { scheduler, client } = await createUpstreamsApp();
    const { pools } = await client.listUpstreams();
    expect(pools.map((pool) => [pool.model, pool.loaded, pool.members.map((member) => member.name)])).toEqual([
      ["qwen3", true, ["local", "gpu1"]],
      ["llama", false, ["gpu2"]],
    ]);
    await scheduler.dispose();
  });

  it("answers empty lists on a server without upstreams, and ps shows a pool's upstreams with the same fields", async () => {
    const { scheduler, app } = await createUpstreamsApp();
    const bare = createApp({ models: scheduler, logger });
    expect(await (await bare.request("/v1/moestro/upstreams")).json()).toMatchObject({ object: "list", data: [], pools: [] });
    const ps = (await (await app.request("/v1/moestro/ps")).json()) as { data: Array<{ upstreams: Array<Record<string, unknown>> }> };
    expect(ps.data[0]!.upstreams[1]).toMatchObject({ name: "gpu1", queued: 3, latency_p50_ms: 39, recent_error_rate: 0.1 });
    await scheduler.dispose();
  });
});
