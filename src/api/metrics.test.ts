import { describe, expect, it } from "vitest";
import { createFakeApp } from "../../test/helpers/fake-app.js";
import { createFakeBackend } from "../../test/helpers/fake-backend.js";
import type { ModelBackend, WorkerSpeculationInfo } from "../spec/index.js";
import { Metrics } from "./metrics.js";

// Each fake worker's scrapeMetrics returns a fixed text faking a llama-server's `/metrics` (no worker process runs in
// unit tests); the names and lines follow llama.cpp's tools/server/server-task.cpp.
const llamaServerText = (promptTokens: number): string =>
  [
    "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.",
    "# TYPE llamacpp:prompt_tokens_total counter",
    `llamacpp:prompt_tokens_total ${promptTokens}`,
    "# HELP llamacpp:requests_processing Number of requests processing.",
    "# TYPE llamacpp:requests_processing gauge",
    "llamacpp:requests_processing 0",
    "",
  ].join("\n");

const placement = { description: "all on the GPU", gpuLayers: 49, cpuMoeLayers: 0 };
const workerBackend = (
  id: string,
  pid: number,
  scrapeMetrics: () => Promise<string | undefined>,
  speculation?: WorkerSpeculationInfo,
): ModelBackend =>
  createFakeBackend({
    id,
    engine: {
      kind: "llama-server",
      placement,
      worker: { pid, binary: "llama-server", version: "version: 1 (x)", args: [], restarts: pid % 3, startedAtMs: 0, speculation },
    },
    scrapeMetrics,
  });

describe("GET /metrics with llama-server workers (createApp, fake backends)", () => {
  it("appends each worker's metrics labelled by model, each family once, and leaves out a stuck worker within the time limit", async () => {
    const backends = [
      createFakeBackend({ id: "local" }),
      workerBackend("w1", 101, async () => llamaServerText(12), { type: "draft" }),
      workerBackend("w2", 102, async () => llamaServerText(30), { type: "draft", backedOff: { acceptance: 0, draftTokens: 512, atMs: 0 } }),
      workerBackend("stuck", 103, () => new Promise<string>(() => undefined)),
    ];
    const metrics = new Metrics(
      { loadedBackends: () => backends, modelMemoryBytes: () => new Map(), loadCount: () => backends.length },
      { workerScrapeTimeoutMs: 250 },
    );
    const app = await createFakeApp(backends, { deps: { metrics } });
    const scrape = async (): Promise<string[]> => {
      const startedAt = performance.now();
      const response = await app.fetch("/metrics");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/plain");
      const text = await response.text();
      // The stuck worker costs the time limit once, and /metrics answers.
      expect(performance.now() - startedAt).toBeLessThan(2000);
      return text.split("\n");
    };

    const lines = await scrape();
    // moestro's own metrics first, then the workers'.
    expect(lines.indexOf("# TYPE moestro_model_loaded gauge")).toBeLessThan(lines.indexOf("# TYPE llamacpp:prompt_tokens_total counter"));
    for (const family of ["llamacpp:prompt_tokens_total", "llamacpp:requests_processing"]) {
      expect(lines.filter((line) => line.startsWith(`# HELP ${family} `))).toHaveLength(1);
      expect(lines.filter((line) => line.startsWith(`# TYPE ${family} `))).toHaveLength(1);
    }
    const type = lines.indexOf("# TYPE llamacpp:prompt_tokens_total counter");
    expect(lines.slice(type + 1, type + 3)).toEqual([
      'llamacpp:prompt_tokens_total{model="w1"} 12',
      'llamacpp:prompt_tokens_total{model="w2"} 30',
    ]);
    expect(lines.filter((line) => line.includes('model="stuck"') && line.startsWith("llamacpp:"))).toEqual([]);
    expect(lines).toContain('moestro_worker_scrape_errors_total{model="stuck"} 1');
    expect(lines).toEqual(
      expect.arrayContaining([
        'moestro_model_loaded{model="local",engine="inproc"} 1',
        'moestro_model_loaded{model="w1",engine="llama-server"} 1',
        'moestro_worker_restarts{model="w2"} 0',
        'moestro_worker_restarts{model="stuck"} 1',
      ]),
    );
    // No restarts gauge for the in-process engine.
    expect(lines.filter((line) => line.startsWith('moestro_worker_restarts{model="local"'))).toEqual([]);
    // Speculation: 1 while a worker speculates, 0 once it backed off; no series for workers started without it.
    expect(lines.filter((line) => line.startsWith("moestro_worker_speculating{"))).toEqual([
      'moestro_worker_speculating{model="w1"} 1',
      'moestro_worker_speculating{model="w2"} 0',
    ]);

    // Each failed scrape counts.
    expect(await scrape()).toContain('moestro_worker_scrape_errors_total{model="stuck"} 2');
    await app.close();
  });
});
