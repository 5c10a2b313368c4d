import { type PrometheusSample, parsePrometheusText } from "../util/prometheus-text.js";

/**
 * What serves behind an upstream URL, which says which load metrics it publishes (docs/scale-out.md):
 * - `vllm`: vLLM's OpenAI-compatible server, `/metrics` always on;
 * - `sglang`: SGLang's server, `/metrics` with `--enable-metrics`;
 * - `llama-server`: llama.cpp's server, `/metrics` with `--metrics`;
 * - `moestro`: another moestro, `/metrics` (its admin key when key checks are on);
 * - `ollama`, `openai`, `dashscope`, `openai-compatible`: no load metrics (balanced by outstanding requests only).
 */
export type UpstreamKind = "vllm" | "sglang" | "llama-server" | "ollama" | "moestro" | "openai" | "dashscope" | "openai-compatible";

/** An upstream's own view of its load, read from its `/metrics`. A field is `undefined` when the text does not give it. */
export interface UpstreamLoad {
  /** Requests queued in the upstream, waiting for a free slot or KV-cache room, summed over its engines and models. */
  waiting?: number;
  /** Requests the upstream is generating for now, summed over its engines and models. */
  running?: number;
  /** The fraction of the upstream's KV cache in use, 0 to 1, the mean over its engines (each its own cache). */
  kvCacheUsage?: number;
}

/**
 * Where an upstream publishes its Prometheus metrics: `/metrics` at its server's root, beside the `/v1` of its
 * OpenAI-compatible base URL (`http://host:8000/v1` → `http://host:8000/metrics`; a path before `/v1`, as a
 * path-prefixing proxy adds, is kept: `http://proxy/vllm-0/v1` → `http://proxy/vllm-0/metrics`). All four kinds that
 * publish load metrics answer there.
 *
 * @param kind the upstream's kind.
 * @param baseUrl its OpenAI-compatible base URL, as configured.
 * @returns the metrics URL, or `undefined` for a kind that publishes no load metrics (`ollama`, `openai`, `dashscope`,
 *   `openai-compatible`).
 * @throws {TypeError} when `baseUrl` is not an absolute URL.
 */
export function loadMetricsUrl(kind: UpstreamKind, baseUrl: string): string | undefined {
  if (!publishesLoadMetrics(kind)) return undefined;
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "")}/metrics`;
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** Whether an upstream of this kind publishes load metrics that {@link parseUpstreamLoad} reads. */
function publishesLoadMetrics(kind: UpstreamKind): boolean {
  switch (kind) {
    case "vllm":
    case "sglang":
    case "llama-server":
    case "moestro":
      return true;
    case "ollama":
    case "openai":
    case "dashscope":
    case "openai-compatible":
      return false;
    default:
      return kind satisfies never;
  }
}

/**
 * Reads an upstream's load from the Prometheus text its `/metrics` answered, by the metric names each kind prints:
 *
 * - `vllm`: `vllm:num_requests_waiting`, `vllm:num_requests_running`, and `vllm:kv_cache_usage_perc` (a fraction
 *   despite its name; vLLM 0.9 renamed it from `vllm:gpu_cache_usage_perc`, which is read only when the new name is
 *   absent, since versions in between print both). Samples are labelled `model_name` and `engine` (one per data-parallel
 *   engine behind the API server); counts are summed over them.
 * - `sglang`: `sglang:num_queue_reqs`, `sglang:num_running_reqs`, `sglang:token_usage` (the fraction of the KV pool's
 *   tokens in use), or the same names with `sglang_` where a re-exporter rewrote the colon (SGLang Model Gateway's
 *   `/engine_metrics`). Samples carry `tp_rank`, `pp_rank`, `moe_ep_rank` (and `dp_rank` with `--dp`). By default only
 *   TP rank 0's scheduler publishes; with `--enable-metrics-for-all-schedulers` every rank repeats the figures of the
 *   same requests, so samples that differ only in those three labels are taken once (their largest), then summed over
 *   the rest (data-parallel ranks, models, workers).
 * - `llama-server`: `llamacpp:requests_deferred` (waiting for a slot) and `llamacpp:requests_processing` (slots busy).
 *   The llama.cpp commit moestro bundles publishes no KV-cache gauge (tools/server/server-task.cpp, `to_metrics`), so
 *   `kvCacheUsage` is read from `llamacpp:kv_cache_usage_ratio` only where a later llama-server prints it.
 * - `moestro`: `moestro_queue_depth` (requests waiting for a free sequence) and `moestro_sequences_in_use`, summed over
 *   its models (src/api/metrics.ts). moestro publishes no KV-cache fraction: `kvCacheUsage` is `undefined`.
 * - `ollama`, `openai`, `dashscope`, `openai-compatible`: `{}` (they publish no load metrics).
 *
 * A count whose family is declared (`# TYPE`) with no samples is 0 (prom-client prints a labelled gauge so when no model
 * is loaded); one neither declared nor sampled is `undefined`. `NaN` and infinite samples are ignored, and a KV-cache
 * fraction is clamped to 0..1. Malformed lines are skipped (see `parsePrometheusText`).
 *
 * @param kind the upstream's kind.
 * @param metricsText the body of its `/metrics`, Prometheus text format 0.0.4.
 * @returns its load; never throws.
 * @example
 * parseUpstreamLoad("vllm", 'vllm:num_requests_waiting{model_name="m",engine="0"} 2.0\n');
 * // { waiting: 2 }
 */
export function parseUpstreamLoad(kind: UpstreamKind, metricsText: string): UpstreamLoad {
  if (!publishesLoadMetrics(kind)) return {};
  const text = parsePrometheusText(metricsText);
  const read = (name: string, combine: "sum" | "mean", collapsedLabels: readonly string[] = []): number | undefined => {
    const samples = text.samples.filter((sample) => sample.name === name && Number.isFinite(sample.value));
    if (samples.length === 0) return combine === "sum" && text.families.has(name) ? 0 : undefined;
    const groups = [...groupMaxima(samples, collapsedLabels).values()];
    const sum = groups.reduce((total, value) => total + value, 0);
    return combine === "sum" ? sum : Math.min(1, Math.max(0, sum / groups.length));
  };
  const load = (waiting: number | undefined, running: number | undefined, kvCacheUsage: number | undefined): UpstreamLoad => ({
    ...(waiting === undefined ? {} : { waiting }),
    ...(running === undefined ? {} : { running }),
    ...(kvCacheUsage === undefined ? {} : { kvCacheUsage }),
  });
  switch (kind) {
    case "vllm":
      return load(
        read("vllm:num_requests_waiting", "sum"),
        read("vllm:num_requests_running", "sum"),
        read("vllm:kv_cache_usage_perc", "mean") ?? read("vllm:gpu_cache_usage_perc", "mean"),
      );
    case "sglang": {
      const ranks = ["tp_rank", "pp_rank", "moe_ep_rank"];
      const sglang = (name: string, combine: "sum" | "mean"): number | undefined =>
        read(`sglang:${name}`, combine, ranks) ?? read(`sglang_${name}`, combine, ranks);
      return load(sglang("num_queue_reqs", "sum"), sglang("num_running_reqs", "sum"), sglang("token_usage", "mean"));
    }
    case "llama-server":
      return load(
        read("llamacpp:requests_deferred", "sum"),
        read("llamacpp:requests_processing", "sum"),
        read("llamacpp:kv_cache_usage_ratio", "mean"),
      );
    case "moestro":
      return load(read("moestro_queue_depth", "sum"), read("moestro_sequences_in_use", "sum"), undefined);
    default:
      return {};
  }
}

/**
 * The samples grouped by their labels other than `collapsedLabels`, each group's largest value: samples that differ only
 * in a collapsed label are copies of one figure (SGLang's ranks), taken once.
 */
function groupMaxima(samples: readonly PrometheusSample[], collapsedLabels: readonly string[]): Map<string, number> {
  const groups = new Map<string, number>();
  for (const sample of samples) {
    const key = JSON.stringify(
      Object.entries(sample.labels)
        .filter(([label]) => !collapsedLabels.includes(label))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    groups.set(key, Math.max(groups.get(key) ?? Number.NEGATIVE_INFINITY, sample.value));
  }
  return groups;
}
