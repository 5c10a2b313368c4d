import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createFakeApp, waitFor } from "../../test/helpers/fake-app.js";
import { createFakeBackend, endlessScript } from "../../test/helpers/fake-backend.js";
import { Metrics } from "../api/metrics.js";
import { loadMetricsUrl, parseUpstreamLoad, type UpstreamKind } from "./load-metrics.js";

/** A fixture's text; each file says in its `#` comments where its shape comes from and whether it is a fake. */
const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), "utf8");

describe("parseUpstreamLoad: vLLM and SGLang (hand-written fakes of their /metrics: they need a GPU)", () => {
  it("vLLM V1, two data-parallel engines: counts summed over engines, the KV-cache fraction their mean", () => {
    expect(parseUpstreamLoad("vllm", fixture("vllm-dp2.metrics.txt"))).toEqual({ waiting: 3, running: 78, kvCacheUsage: 0.75 });
  });

  it("vLLM reads kv_cache_usage_perc when it is there, and never adds the deprecated gpu_cache_usage_perc to it", () => {
    const text = fixture("vllm-dp2.metrics.txt").replace(/^vllm:gpu_cache_usage_perc(\{.*\}) .*$/gm, "vllm:gpu_cache_usage_perc$1 0.1");
    expect(parseUpstreamLoad("vllm", text).kvCacheUsage).toBe(0.75);
  });

  it("vLLM V0: the KV-cache fraction from gpu_cache_usage_perc (label model_name only)", () => {
    expect(parseUpstreamLoad("vllm", fixture("vllm-v0.metrics.txt"))).toEqual({ waiting: 5, running: 12, kvCacheUsage: 0.9731 });
  });

  it("SGLang as its documentation's example prints it (model_name only)", () => {
    expect(parseUpstreamLoad("sglang", fixture("sglang.metrics.txt"))).toEqual({ waiting: 2826, running: 28, kvCacheUsage: 0.28 });
  });

  it("SGLang with every scheduler publishing: TP ranks' copies taken once, data-parallel ranks summed", () => {
    expect(parseUpstreamLoad("sglang", fixture("sglang-dp2-tp2-all-schedulers.metrics.txt"))).toEqual({
      waiting: 5,
      running: 52,
      kvCacheUsage: 0.7,
    });
  });

  it("SGLang's names re-exported with sglang_ (SGLang Model Gateway's /engine_metrics), summed over workers", () => {
    const text = [
      'sglang_num_running_reqs{engine_type="unified",model_name="m",moe_ep_rank="0",pp_rank="0",tp_rank="0",worker_addr="grpc://10.0.0.1:8001"} 3',
      'sglang_num_running_reqs{engine_type="unified",model_name="m",moe_ep_rank="0",pp_rank="0",tp_rank="0",worker_addr="grpc://10.0.0.2:8001"} 4',
      'sglang_num_queue_reqs{engine_type="unified",model_name="m",moe_ep_rank="0",pp_rank="0",tp_rank="0",worker_addr="grpc://10.0.0.1:8001"} 1',
    ].join("\n");
    expect(parseUpstreamLoad("sglang", text)).toEqual({ waiting: 1, running: 7 });
  });
});

describe("parseUpstreamLoad: the rules every kind shares", () => {
  it("a count declared with no samples is 0; one neither declared nor sampled is undefined", () => {
    const text = "# HELP moestro_queue_depth Requests waiting.\n# TYPE moestro_queue_depth gauge\n";
    expect(parseUpstreamLoad("moestro", text)).toEqual({ waiting: 0 });
    expect(parseUpstreamLoad("vllm", "")).toEqual({});
    expect(parseUpstreamLoad("vllm", "<html>not metrics</html>")).toEqual({});
  });

  it("ignores NaN and infinite samples, clamps the KV-cache fraction to 0..1, and skips malformed lines", () => {
    const text = [
      'vllm:num_requests_waiting{engine="0"} NaN',
      'vllm:num_requests_waiting{engine="1"} 2',
      'vllm:num_requests_running{engine="0" 7',
      'vllm:kv_cache_usage_perc{engine="0"} 1.5',
      'vllm:kv_cache_usage_perc{engine="1"} +Inf',
    ].join("\n");
    expect(parseUpstreamLoad("vllm", text)).toEqual({ waiting: 2, kvCacheUsage: 1 });
  });

  it("kinds without load metrics answer {} and have no metrics URL; the others' is /metrics beside /v1", () => {
    const withMetrics: UpstreamKind[] = ["vllm", "sglang", "llama-server", "moestro"];
    const without: UpstreamKind[] = ["ollama", "openai", "dashscope", "openai-compatible"];
    for (const kind of withMetrics) expect(loadMetricsUrl(kind, "http://10.0.0.10:8000/v1")).toBe("http://10.0.0.10:8000/metrics");
    expect(loadMetricsUrl("vllm", "http://10.0.0.10:8000/v1/")).toBe("http://10.0.0.10:8000/metrics");
    expect(loadMetricsUrl("vllm", "https://proxy.internal/vllm-0/v1?x=1")).toBe("https://proxy.internal/vllm-0/metrics");
    expect(loadMetricsUrl("llama-server", "http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/metrics");
    expect(() => loadMetricsUrl("vllm", "not a url")).toThrow(TypeError);
    for (const kind of without) {
      expect(loadMetricsUrl(kind, "https://api.openai.com/v1")).toBeUndefined();
      expect(parseUpstreamLoad(kind, fixture("vllm-dp2.metrics.txt"))).toEqual({});
    }
  });

  it("each kind reads only its own names", () => {
    expect(parseUpstreamLoad("sglang", fixture("vllm-dp2.metrics.txt"))).toEqual({});
    expect(parseUpstreamLoad("llama-server", fixture("sglang.metrics.txt"))).toEqual({});
  });
});

describe("parseUpstreamLoad: llama-server (its /metrics as the bundled commit prints it, captured from the real binary)", () => {
  it("reads requests_deferred and requests_processing; that commit prints no KV-cache gauge", () => {
    expect(parseUpstreamLoad("llama-server", fixture("llama-server.metrics.txt"))).toEqual({ waiting: 1, running: 1 });
  });
});

describe("parseUpstreamLoad: moestro (its own GET /metrics, createApp and prom-client, on fake backends)", () => {
  it("sums queued requests and sequences in use over the loaded models", async () => {
    const backends = [
      createFakeBackend({ id: "a", parallelSequences: 1, script: () => endlessScript() }),
      createFakeBackend({ id: "b", parallelSequences: 2, script: () => endlessScript() }),
    ];
    const metrics = new Metrics({ loadedBackends: () => backends, modelMemoryBytes: () => new Map(), loadCount: () => 2 });
    const app = await createFakeApp(backends, { deps: { metrics } });
    const scrape = async (): Promise<string> => await (await app.fetch("/metrics")).text();
    expect(parseUpstreamLoad("moestro", await scrape())).toEqual({ waiting: 0, running: 0 });

    const controller = new AbortController();
    const streams = [..."aaabb"].map((model) =>
      app.post("/v1/completions", { model, prompt: "go", stream: true }, { signal: controller.signal }).catch(() => undefined),
    );
    // a: one sequence, two waiting; b: both sequences in use, none waiting.
    await waitFor(() => backends[0]!.stats().queuedRequests === 2 && backends[1]!.stats().sequencesInUse === 2, 5000);
    expect(parseUpstreamLoad("moestro", await scrape())).toEqual({ waiting: 2, running: 3 });
    controller.abort();
    await Promise.all(streams);
  });
});
