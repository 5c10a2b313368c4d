import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { parsePrometheusText } from "./prometheus-text.js";

describe("parsePrometheusText", () => {
  it("reads names with colons, label sets, families and every value spelling of the format", () => {
    const text = [
      "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
      "# TYPE vllm:num_requests_waiting gauge",
      'vllm:num_requests_waiting{model_name="Qwen/Qwen3-235B-A22B-FP8",engine="0"} 3.0',
      'vllm:num_requests_waiting{engine="1" , model_name="Qwen/Qwen3-235B-A22B-FP8",} 1e+01',
      "llamacpp:prompt_tokens_total 1.23457e+06",
      "a_nan NaN",
      "a_inf +Inf",
      "a_minus_inf -Inf",
      "a_go_inf Inf",
      "a_negative -0.5",
      "a_dot .5",
      "with_timestamp 2 1712345678901",
      "empty_labels{} 4",
    ].join("\n");
    const { samples, families } = parsePrometheusText(text);
    expect(samples).toEqual([
      { name: "vllm:num_requests_waiting", labels: { model_name: "Qwen/Qwen3-235B-A22B-FP8", engine: "0" }, value: 3 },
      { name: "vllm:num_requests_waiting", labels: { engine: "1", model_name: "Qwen/Qwen3-235B-A22B-FP8" }, value: 10 },
      { name: "llamacpp:prompt_tokens_total", labels: {}, value: 1234570 },
      { name: "a_nan", labels: {}, value: Number.NaN },
      { name: "a_inf", labels: {}, value: Number.POSITIVE_INFINITY },
      { name: "a_minus_inf", labels: {}, value: Number.NEGATIVE_INFINITY },
      { name: "a_go_inf", labels: {}, value: Number.POSITIVE_INFINITY },
      { name: "a_negative", labels: {}, value: -0.5 },
      { name: "a_dot", labels: {}, value: 0.5 },
      { name: "with_timestamp", labels: {}, value: 2 },
      { name: "empty_labels", labels: {}, value: 4 },
    ]);
    expect(families.get("vllm:num_requests_waiting")).toEqual({
      type: "gauge",
      help: "Number of requests waiting to be processed.",
    });
  });

  it("unescapes label values and HELP text, and keeps commas, braces and spaces inside quotes", () => {
    const text = [
      "# HELP odd A \\\\ backslash\\nand a new line",
      'odd{path="C:\\\\models\\\\a.gguf",quote="say \\"hi\\"",multi="a\\nb",tricky="x}, y=\\"z\\"{"} 1',
    ].join("\n");
    const { samples, families } = parsePrometheusText(text);
    expect(samples[0]!.labels).toEqual({ path: "C:\\models\\a.gguf", quote: 'say "hi"', multi: "a\nb", tricky: 'x}, y="z"{' });
    expect(families.get("odd")!.help).toBe("A \\ backslash\nand a new line");
  });

  it("skips malformed lines, tells onInvalidLine, and reads the rest", () => {
    const invalid: Array<[string, number]> = [];
    const text = [
      "good 1",
      'unclosed{a="1" 2',
      'bad_escape{a="\\t"} 3',
      "not_a_number abc",
      "no_value",
      'missing_equals{a"1"} 4',
      "trailing_garbage 5 6 7",
      "{} 8",
      "also_good 9",
    ].join("\n");
    const { samples } = parsePrometheusText(text, { onInvalidLine: (line, lineNumber) => invalid.push([line, lineNumber]) });
    expect(samples.map((sample) => sample.name)).toEqual(["good", "also_good"]);
    expect(invalid.map(([, lineNumber]) => lineNumber)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  it("reads CRLF line ends, blanks and tabs between tokens, and other comments", () => {
    const text = '# a comment\r\n\r\n  spaced\t{ a = "1" }\t 2 \r\n# TYPE spaced gauge\r\n';
    const { samples, families } = parsePrometheusText(text);
    expect(samples).toEqual([{ name: "spaced", labels: { a: "1" }, value: 2 }]);
    expect(families.get("spaced")).toEqual({ type: "gauge" });
  });

  it("reads OpenMetrics' exemplars and # EOF, and Prometheus 3's quoted UTF-8 names", () => {
    const text = [
      "# TYPE request_seconds histogram",
      'request_seconds_bucket{le="0.5"} 4 # {trace_id="abc"} 0.3 1712345678.1',
      '{"my.metric.name", "label.with.dots"="v", plain="p"} 7',
      '# TYPE "my.metric.name" gauge',
      "# EOF",
    ].join("\n");
    const { samples, families } = parsePrometheusText(text);
    expect(samples).toEqual([
      { name: "request_seconds_bucket", labels: { le: "0.5" }, value: 4 },
      { name: "my.metric.name", labels: { "label.with.dots": "v", plain: "p" }, value: 7 },
    ]);
    expect(families.get("my.metric.name")).toEqual({ type: "gauge" });
  });

  it("reads every sample prom-client writes (counters, gauges with odd label values, histograms)", async () => {
    const registry = new Registry();
    new Counter({ name: "c_total", help: "c", labelNames: ["model"], registers: [registry] }).inc({ model: 'a "quoted"\\ id' }, 3);
    new Gauge({ name: "g", help: "g", registers: [registry] }).set(0.25);
    new Histogram({ name: "h_seconds", help: "h", buckets: [0.1, 1], registers: [registry] }).observe(0.5);
    const { samples } = parsePrometheusText(await registry.metrics());
    expect(samples).toEqual([
      { name: "c_total", labels: { model: 'a "quoted"\\ id' }, value: 3 },
      { name: "g", labels: {}, value: 0.25 },
      { name: "h_seconds_bucket", labels: { le: "0.1" }, value: 0 },
      { name: "h_seconds_bucket", labels: { le: "1" }, value: 1 },
      { name: "h_seconds_bucket", labels: { le: "+Inf" }, value: 1 },
      { name: "h_seconds_sum", labels: {}, value: 0.5 },
      { name: "h_seconds_count", labels: {}, value: 1 },
    ]);
  });
});
