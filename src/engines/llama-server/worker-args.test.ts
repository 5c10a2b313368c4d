import { describe, expect, it } from "vitest";
import { workerArgs } from "./worker-args.js";

describe("workerArgs", () => {
  const base = {
    modelPath: "m.gguf",
    contextTokens: 4096,
    parallel: 4,
    threads: 8,
    gpuLayers: 95,
    cpuMoeLayers: 86,
    flashAttention: true,
    batchSize: 512,
    cacheRamMiB: 0,
  };

  it("gives the KV pool of all slots as -c, the placement, the thread count, and moestro's prompt cache", () => {
    expect(workerArgs(base)).toEqual([
      "-m",
      "m.gguf",
      "-c",
      "16384",
      "-np",
      "4",
      "-t",
      "8",
      "-ngl",
      "95",
      "--n-cpu-moe",
      "86",
      "-fa",
      "on",
      "-b",
      "512",
      "--cache-ram",
      "0",
      "--metrics",
      "--no-webui",
    ]);
  });

  it("leaves --n-cpu-moe out when no experts stay in RAM, and appends extra arguments last", () => {
    const args = workerArgs({ ...base, cpuMoeLayers: 0, flashAttention: false, extraArgs: ["--mlock"] });
    expect(args).not.toContain("--n-cpu-moe");
    expect(args.slice(-1)).toEqual(["--mlock"]);
    expect(args[args.indexOf("-fa") + 1]).toBe("off");
  });
});
