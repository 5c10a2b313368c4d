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

  it("starts prompt lookup as llama.cpp's ngram-simple: pattern length and draft length, before extra arguments", () => {
    const args = workerArgs({ ...base, speculation: { type: "ngram", maxDraftTokens: 3, patternTokens: 2 }, extraArgs: ["--mlock"] });
    expect(args.slice(args.indexOf("--no-webui") + 1)).toEqual([
      "--spec-type",
      "ngram-simple",
      "--spec-ngram-simple-size-n",
      "2",
      "--spec-ngram-simple-size-m",
      "3",
      "--mlock",
    ]);
  });

  it("starts a draft model with its draft length, confidence, GPU layers and the worker's thread count", () => {
    const args = workerArgs({
      ...base,
      threads: 1,
      speculation: { type: "draft", draftModelPath: "d.gguf", maxDraftTokens: 16, minConfidence: 0, gpuLayers: "all" },
    });
    expect(args.slice(args.indexOf("--no-webui") + 1)).toEqual([
      "--spec-type",
      "draft-simple",
      "--spec-draft-model",
      "d.gguf",
      "--spec-draft-n-max",
      "16",
      "--spec-draft-n-min",
      "0",
      "--spec-draft-p-min",
      "0",
      "--spec-draft-ngl",
      "all",
      "--spec-draft-threads",
      "1",
      "--spec-draft-threads-batch",
      "1",
    ]);
    expect(
      workerArgs({
        ...base,
        speculation: { type: "draft", draftModelPath: "d.gguf", maxDraftTokens: 4, minConfidence: 0.5, gpuLayers: 0 },
      }),
    ).toEqual(expect.arrayContaining(["--spec-draft-ngl", "0", "--spec-draft-p-min", "0.5"]));
  });

  it("leaves the GPU-layer flags out for a binary that sees no GPU (a CPU build warns for each), and keeps -ngl 0 otherwise", () => {
    const draft = { type: "draft", draftModelPath: "d.gguf", maxDraftTokens: 4, minConfidence: 0.5, gpuLayers: 0 } as const;
    const cpu = workerArgs({ ...base, gpuLayers: 0, cpuMoeLayers: 0, hasGpuDevice: false, speculation: draft });
    expect(cpu).not.toContain("-ngl");
    expect(cpu).not.toContain("--spec-draft-ngl");
    expect(cpu).toEqual(expect.arrayContaining(["--spec-draft-threads", "8"]));
    // llama-server's default for -ngl is `auto` (offload what fits), not 0: a binary that may see a GPU gets the 0.
    for (const hasGpuDevice of [true, undefined]) {
      const args = workerArgs({ ...base, gpuLayers: 0, hasGpuDevice, speculation: draft });
      expect(args).toEqual(expect.arrayContaining(["-ngl", "0", "--spec-draft-ngl", "0"]));
    }
  });
});
