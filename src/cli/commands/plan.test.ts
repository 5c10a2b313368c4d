import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fakeHost, type Json, runPlan, runPlanJson } from "../../../test/helpers/plan-command.js";
import { parseDecodeFormula, printedDecodeTokensPerSecond } from "../../../test/planner/decode-formula.js";
import {
  ggufToolsSkipReason,
  hasGgufTools,
  qwen3_235b_a22b,
  qwen3_30b_a3b,
  repoRoot,
  writeQwen3MoeHeader,
} from "../../../test/planner/gguf-fixtures.js";
import { workerArgs } from "../../engines/llama-server/worker-args.js";

describe("scripts/gpu-check/plan.json", () => {
  test("has what check.py reads, and its workerArgs are those of its own placement (docs/planner.md#gpu-check)", () => {
    const plan = JSON.parse(readFileSync(path.join(repoRoot, "scripts/gpu-check/plan.json"), "utf8")) as Json;
    expect(plan.fits).toBe(true);
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    expect(plan.placement.gpu.totalBytes).toBeGreaterThan(0);
    expect(plan.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(plan.workerArgs).toEqual(
      workerArgs({
        modelPath: plan.workerArgs[1],
        contextTokens: plan.memory.contextTokens,
        parallel: plan.memory.sequences,
        threads: 15,
        gpuLayers: plan.placement.gpuLayers,
        cpuMoeLayers: plan.placement.cpuExpertLayers,
        flashAttention: true,
        batchSize: plan.memory.batchTokens,
        cacheRamMiB: 0,
      }),
    );
    expect(plan.workerArgs).toContain("--n-cpu-moe");
  });
});

describe("moestro plan without a model", () => {
  test("--list-hardware prints the catalog", async () => {
    expect(await runPlan(["--list-hardware"])).toMatch(/^h200 +gpu +141 GiB +4800 GB\/s +700 W/m);
  });
});

describe.skipIf(!hasGgufTools)("moestro plan on Qwen3-30B-A3B's real shape (header only)", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-plan-"));
    file = path.join(dir, "Qwen3-30B-A3B-Q4_K_M.gguf");
    await writeQwen3MoeHeader(file, qwen3_30b_a3b);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a 12 GiB GPU keeps attention on the GPU and some layers' experts in RAM: --n-cpu-moe N", async () => {
    const plan = await runPlanJson([file, "--vram", "12GiB", "--vram-bandwidth", "900", "--ram", "64GiB", "--parallel", "1", "-t", "3"]);
    expect(plan.fits).toBe(true);
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    const n = plan.placement.cpuExpertLayers;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(48);
    expect(plan.llamaServerArgs).toEqual(["-m", file, "-c", "4096", "-np", "1", "-ngl", "49", "--n-cpu-moe", String(n)]);
    expect(plan.workerArgs).toEqual([
      ...["-m", file, "-c", "4096", "-np", "1", "-t", "3", "-ngl", "49", "--n-cpu-moe", String(n)],
      ...["-fa", "on", "-b", "512", "--cache-ram", "384", "--metrics", "--no-webui"],
    ]);
    expect(plan.decodeTokensPerSecond).toBeGreaterThan(0);
  });

  test("an RTX 4090 with 64 GB: all on the GPU at 4096 × 1, experts spill at 32768 × 4", async () => {
    const small = await runPlanJson([file, "--hardware", "rtx-4090", "--parallel", "1"]);
    expect(small.placement.kind).toBe("gpu");
    const large = await runPlanJson([file, "--hardware", "rtx-4090", "--ctx", "32768", "--parallel", "4"]);
    expect(large.placement.kind).toBe("gpu-cpu-experts");
    expect(large.llamaServerArgs).toContain("--n-cpu-moe");
    expect(large.decodeTokensPerSecond).toBeLessThan(small.decodeTokensPerSecond);
  });
});

describe.skipIf(!hasGgufTools)("moestro plan on Qwen3-235B-A22B's real shape (header only), 2 CPU cores", () => {
  let dir: string;
  let file: string;
  const twoCores = { probeHost: async () => ({ ...fakeHost, cores: 2, clockHz: 2.45e9, bandwidthBytesPerSecond: 20e9 }) };
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-plan-"));
    file = path.join(dir, "Qwen3-235B-A22B-Q4_K_M.gguf");
    await writeQwen3MoeHeader(file, qwen3_235b_a22b);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("--vram without --vram-bandwidth: fit and placement answered, speed with a stated GPU class", async () => {
    const args = [file, "--vram", "24GiB", "--ram", "192GiB", "--parallel", "1"];
    const plan = await runPlanJson(args, twoCores);
    expect(plan.fits).toBe(true);
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    expect(plan.hardware.assumedGpuClass).toBe("rtx-4090");
    expect(plan.assumptions.join("\n")).toMatch(/--vram without --vram-bandwidth: speeds assume an NVIDIA GeForce RTX 4090 24GB-class GPU/);
    expect(plan.workerArgs).toEqual(expect.arrayContaining(["-ngl", "95", "--n-cpu-moe", String(plan.placement.cpuExpertLayers)]));
    const text = await runPlan(args, twoCores);
    expect(text).toMatch(/^ {2}- GPU: --vram without --vram-bandwidth: speeds assume/m);
  });

  test("experts in RAM on 2 cores are compute bound: the printed formula shows that term and gives the printed figure", async () => {
    const text = await runPlan([file, "--vram", "24GiB", "--ram", "192GiB", "--parallel", "1"], twoCores);
    const formula = parseDecodeFormula(text);
    expect(formula.kinds).toEqual(["bandwidth", "compute", "overhead"]);
    expect(Math.abs(1 / formula.recomputedSeconds / formula.printedTokensPerSecond - 1)).toBeLessThan(0.02);
    expect(Math.abs(1 / formula.recomputedSeconds / printedDecodeTokensPerSecond(text) - 1)).toBeLessThan(0.02);
  });

  test("with 100 GB/s and 16 cores the same placement is bandwidth bound: the formula shows bytes over bandwidth", async () => {
    const text = await runPlan([file, "--hardware", "rtx-4090", "--ram", "192GiB", "--mem-bandwidth", "100", "--parallel", "1"]);
    const formula = parseDecodeFormula(text);
    expect(formula.kinds).toEqual(["bandwidth", "bandwidth", "overhead"]);
    expect(Math.abs(1 / formula.recomputedSeconds / printedDecodeTokensPerSecond(text) - 1)).toBeLessThan(0.02);
  });
});
if (!hasGgufTools) test.skip(ggufToolsSkipReason, () => {});
