import { describe, expect, it } from "vitest";
import { createFakeBackend } from "../../test/helpers/fake-backend.js";
import { mergeWorkerMetrics, scrapeWorkerMetrics } from "./worker-metrics.js";

// A llama-server's `/metrics` text, faked (no worker runs in unit tests): the lines follow the shape of llama.cpp's
// tools/server/server-task.cpp (HELP, TYPE, then an unlabelled sample; one labelled family).
const llamaServerText = (promptTokens: number, processing: number): string =>
  [
    "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.",
    "# TYPE llamacpp:prompt_tokens_total counter",
    `llamacpp:prompt_tokens_total ${promptTokens}`,
    "# HELP llamacpp:requests_processing Number of requests processing.",
    "# TYPE llamacpp:requests_processing gauge",
    `llamacpp:requests_processing ${processing}`,
    "# HELP llamacpp:spec_decode_num_accepted_tokens_per_pos_total Accepted draft tokens by position.",
    "# TYPE llamacpp:spec_decode_num_accepted_tokens_per_pos_total counter",
    'llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 3',
    "",
  ].join("\n");

describe("mergeWorkerMetrics", () => {
  it("labels every sample with its model, and gives each family's HELP and TYPE once, its samples of every model together", () => {
    const merged = mergeWorkerMetrics([
      { model: "a", text: llamaServerText(12, 0) },
      { model: "b", text: llamaServerText(30, 1) },
    ]);
    expect(merged).toBe(
      [
        "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.",
        "# TYPE llamacpp:prompt_tokens_total counter",
        'llamacpp:prompt_tokens_total{model="a"} 12',
        'llamacpp:prompt_tokens_total{model="b"} 30',
        "# HELP llamacpp:requests_processing Number of requests processing.",
        "# TYPE llamacpp:requests_processing gauge",
        'llamacpp:requests_processing{model="a"} 0',
        'llamacpp:requests_processing{model="b"} 1',
        "# HELP llamacpp:spec_decode_num_accepted_tokens_per_pos_total Accepted draft tokens by position.",
        "# TYPE llamacpp:spec_decode_num_accepted_tokens_per_pos_total counter",
        'llamacpp:spec_decode_num_accepted_tokens_per_pos_total{model="a",position="0"} 3',
        'llamacpp:spec_decode_num_accepted_tokens_per_pos_total{model="b",position="0"} 3',
        "",
      ].join("\n"),
    );
  });

  it("keeps a histogram's parts in its family, timestamps, escapes the model id, and renames a model label of the worker", () => {
    const text = [
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{le="0.1"} 1',
      'latency_seconds_bucket{le="+Inf"} 2',
      "latency_seconds_sum 0.3",
      "latency_seconds_count 2",
      "# a comment that is not HELP or TYPE",
      'odd{model="inner",path="a,b}\\"c"} 1 1700000000000',
      "empty{} 4",
      'broken{never="closed 1',
    ].join("\n");
    expect(mergeWorkerMetrics([{ model: 'm"1\\x', text }]).split("\n")).toEqual([
      "# TYPE latency_seconds histogram",
      'latency_seconds_bucket{model="m\\"1\\\\x",le="0.1"} 1',
      'latency_seconds_bucket{model="m\\"1\\\\x",le="+Inf"} 2',
      'latency_seconds_sum{model="m\\"1\\\\x"} 0.3',
      'latency_seconds_count{model="m\\"1\\\\x"} 2',
      'odd{model="m\\"1\\\\x",exported_model="inner",path="a,b}\\"c"} 1 1700000000000',
      'empty{model="m\\"1\\\\x"} 4',
      "",
    ]);
  });

  it("leaves out a family that moestro publishes itself, and answers nothing for no text", () => {
    const text = "# TYPE moestro_queue_depth gauge\nmoestro_queue_depth 9\n# TYPE mine gauge\nmine 1\n";
    expect(mergeWorkerMetrics([{ model: "a", text }], new Set(["moestro_queue_depth"]))).toBe('# TYPE mine gauge\nmine{model="a"} 1\n');
    expect(mergeWorkerMetrics([])).toBe("");
  });
});

describe("scrapeWorkerMetrics", () => {
  it("scrapes all at once, leaves out what throws, answers undefined or outlasts the time limit, and names each", async () => {
    const failures: string[] = [];
    const startedAt = performance.now();
    const scraped = await scrapeWorkerMetrics(
      [
        createFakeBackend({ id: "inproc" }),
        createFakeBackend({ id: "ok", scrapeMetrics: async () => llamaServerText(1, 0) }),
        createFakeBackend({ id: "stuck", scrapeMetrics: () => new Promise<string>(() => undefined) }),
        createFakeBackend({ id: "stuck-too", scrapeMetrics: () => new Promise<string>(() => undefined) }),
        createFakeBackend({ id: "gone", scrapeMetrics: async () => undefined }),
        createFakeBackend({ id: "throws", scrapeMetrics: async () => Promise.reject(new Error("ECONNREFUSED")) }),
      ],
      { timeoutMs: 250, onError: (model, reason) => failures.push(`${model} ${reason}`) },
    );
    // Two stuck workers cost one time limit, not two: the scrapes run in parallel.
    expect(performance.now() - startedAt).toBeLessThan(500);
    expect(scraped).toEqual([{ model: "ok", text: llamaServerText(1, 0) }]);
    expect(failures.sort()).toEqual(["gone unavailable", "stuck timeout", "stuck-too timeout", "throws error"]);
  });
});
