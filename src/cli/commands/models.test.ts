import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { listenOnFreePort } from "../../../test/helpers/fake-app.js";
import { createFakeBackend } from "../../../test/helpers/fake-backend.js";
import { createApp } from "../../api/app.js";
import { createStaticModelRegistry } from "../../engines/model-registry.js";
import type { ModelRegistry } from "../../spec/index.js";
import { createModelCommands, formatLoadedModels } from "./models.js";

/** Runs `moestro ps ARGS` (the command alone, no process) and returns what it printed on stdout. */
async function runPs(args: string[]): Promise<string> {
  const ps = createModelCommands().find((command) => command.name() === "ps")!;
  ps.exitOverride();
  let printed = "";
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    await ps.parseAsync(args, { from: "user" });
  } finally {
    write.mockRestore();
  }
  return printed;
}

describe("moestro ps against a server (fake backends on a free port)", () => {
  const nowMs = Date.parse("2026-06-01T12:00:00Z");
  // A llama-server worker as its backend describes it; no process runs here.
  const worker = {
    pid: 31337,
    binary: "/opt/llama/llama-server",
    version: "version: 1 (80fb11a)",
    args: ["--model", "/models/big.gguf", "--n-gpu-layers", "99", "--n-cpu-moe", "30"],
    restarts: 1,
    startedAtMs: nowMs - 61_000,
  };
  const placement = { description: "experts of the first 30 layers in RAM, the rest on the GPU", gpuLayers: 99, cpuMoeLayers: 30 };
  let models: ModelRegistry;
  let served: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    models = createStaticModelRegistry([
      createFakeBackend({ id: "small" }),
      createFakeBackend({ id: "big", engine: { kind: "llama-server", placement, worker } }),
    ]);
    served = await listenOnFreePort(createApp({ models, logger: pino({ level: "silent" }), now: () => nowMs }));
    await models.load("small");
    await models.load("big");
  });
  afterAll(async () => {
    await served?.close();
    await models?.dispose();
  });

  it("prints an ENGINE column, and a worker's pid and restarts", async () => {
    const lines = (await runPs(["--url", served.url])).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+ENGINE\s+PID\s+RESTARTS\s+MEMORY\s+REQUESTS\s+SEQUENCES\s+UNLOADS\s+PLACEMENT$/);
    expect(lines[1]).toMatch(/^small\s+inproc\s+-\s+-\s+.*CPU only$/);
    expect(lines[2]).toMatch(
      /^big\s+llama-server\s+31337\s+1\s+.*experts of the first 30 layers in RAM, the rest on the GPU \(-ngl 99, --n-cpu-moe 30\)$/,
    );
  });

  it("--json prints the full objects: engine, placement, and the worker with its args and uptime", async () => {
    const printed = JSON.parse(await runPs(["--url", served.url, "--json"])) as Array<Record<string, unknown>>;
    expect(printed.map((model) => [model.id, model.engine])).toEqual([
      ["small", "inproc"],
      ["big", "llama-server"],
    ]);
    expect(printed[0]).toMatchObject({ placement: { description: "CPU only", gpu_layers: 0, cpu_moe_layers: 0 }, worker: null });
    expect(printed[1]).toMatchObject({
      placement: { gpu_layers: 99, cpu_moe_layers: 30 },
      worker: { pid: 31337, args: worker.args, restarts: 1, uptime: 61, binary: worker.binary, version: worker.version },
    });
  });

  it("says in one line what to do when no server answers", async () => {
    await expect(runPs(["--url", "http://127.0.0.1:9"])).rejects.toThrow(
      /^No moestro server answers at http:\/\/127\.0\.0\.1:9 \(.+\); start one with moestro serve, or pass --url\.$/,
    );
  });
});

describe("formatLoadedModels", () => {
  it("says when no model is loaded, and shows - for a worker that restarts (no pid) and for an older server's answer", () => {
    expect(formatLoadedModels([])).toBe("No model is loaded.\n");
    const base = { memory_bytes: 1024, active_requests: 0, sequences_in_use: 0, expires_at: null, loaded_at: "2026-06-01T12:00:00.000Z" };
    const restarting = {
      ...base,
      id: "w",
      engine: "llama-server",
      placement: { description: "all on the GPU", gpu_layers: 49, cpu_moe_layers: 0 },
      worker: { pid: null, binary: "b", version: "v", args: [], restarts: 4, started_at: "2026-06-01T12:00:00.000Z", uptime: 0 },
    };
    const lines = formatLoadedModels([restarting, { ...base, id: "old" }])
      .trimEnd()
      .split("\n");
    expect(lines[1]).toMatch(/^w\s+llama-server\s+-\s+4\s+.*all on the GPU \(-ngl 49\)$/);
    expect(lines[2]).toMatch(/^old\s+-\s+-\s+-\s+.*never\s+-$/);
  });

  it("shows a worker's speculation after its engine: its type, or off once it backed off", () => {
    const base = { memory_bytes: 1024, active_requests: 0, sequences_in_use: 0, expires_at: null, loaded_at: "2026-06-01T12:00:00.000Z" };
    const worker = { pid: 7, binary: "b", version: "v", args: [], restarts: 0, started_at: "2026-06-01T12:00:00.000Z", uptime: 0 };
    const placement = { description: "CPU only", gpu_layers: 0, cpu_moe_layers: 0 };
    const lines = formatLoadedModels([
      { ...base, id: "on", engine: "llama-server", placement, worker: { ...worker, speculation: "draft" } },
      {
        ...base,
        id: "off",
        engine: "llama-server",
        placement,
        worker: { ...worker, speculation: "off (backed off: 0% of 512 drafted tokens accepted; restarted in 900 ms)" },
      },
    ])
      .trimEnd()
      .split("\n");
    expect(lines[1]).toMatch(/^on\s+llama-server \(speculative: draft\)\s+7\s+0\s+/);
    expect(lines[2]).toMatch(/^off\s+llama-server \(speculative: off\)\s+7\s+0\s+/);
  });

  it("lists the upstreams of a model served by upstreams under the models", () => {
    const pool = {
      id: "qwen3",
      memory_bytes: 0,
      active_requests: 1,
      sequences_in_use: 1,
      expires_at: null,
      loaded_at: "2026-06-01T12:00:00.000Z",
      engine: "upstream",
      placement: { description: "2 upstreams", gpu_layers: 0, cpu_moe_layers: 0 },
      worker: null,
      upstreams: [
        {
          ...{ name: "vllm-1", url: "http://gpu1:8000/v1", kind: "vllm", state: "healthy", weight: 1, in_flight: 1, requests_total: 10 },
          ...{ errors_total: 0, consecutive_failures: 0, latency_ms: 41.6, ejected_until: null, models: ["qwen3"] },
        },
        {
          ...{ name: "vllm-2", url: "http://gpu2:8000/v1", kind: "vllm", state: "ejected", weight: 1, in_flight: 0, requests_total: 3 },
          ...{ errors_total: 3, consecutive_failures: 3, latency_ms: null, ejected_until: "2026-06-01T12:00:10.000Z", models: ["qwen3"] },
        },
      ],
    };
    const lines = formatLoadedModels([pool]).trimEnd().split("\n");
    expect(lines[1]).toMatch(/^qwen3\s+upstream\s+-\s+-\s+.*2 upstreams$/);
    expect(lines[3]).toMatch(/^MODEL\s+UPSTREAM\s+STATE\s+IN FLIGHT\s+REQUESTS\s+ERRORS\s+LATENCY\s+URL$/);
    expect(lines[4]).toMatch(/^qwen3\s+vllm-1\s+healthy\s+1\s+10\s+0\s+42 ms\s+http:\/\/gpu1:8000\/v1$/);
    expect(lines[5]).toMatch(/^qwen3\s+vllm-2\s+ejected\s+0\s+3\s+3\s+-\s+http:\/\/gpu2:8000\/v1$/);
  });
});
