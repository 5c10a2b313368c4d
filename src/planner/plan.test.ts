import { describe, expect, test } from "vitest";
import { syntheticMoeFacts } from "../../test/planner/synthetic-facts.js";
import { cloudListPriceBook } from "../metering/cloud-list-prices.js";
import { estimateCost, findNearestCloudPrice, formatMicroUsd } from "./cost.js";
import { hardwareCatalog } from "./hardware-catalog.js";
import { parseDecodeFormula, printedDecodeTokensPerSecond } from "../../test/planner/decode-formula.js";
import { workerArgs } from "../engines/llama-server/worker-args.js";
import { applyHardwareOverrides, setupFromCatalog } from "./hardware.js";
import { setupFromProbes, type HostProbe } from "./this-machine.js";
import { calibrate, createPlan } from "./plan.js";
import { renderComparison, renderModelFacts, renderPlan } from "./render-text.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const a3b = syntheticMoeFacts({
  name: "Qwen3-30B-A3B",
  layers: 48,
  routedExpertBytesPerLayer: 340 * MiB,
  otherBytesPerLayer: 20 * MiB,
  inputEmbeddingBytes: 160 * MiB,
  outputBytes: 200 * MiB,
});
const a22b = syntheticMoeFacts({
  name: "Big-MoE",
  layers: 94,
  routedExpertBytesPerLayer: 1390 * MiB,
  otherBytesPerLayer: 40 * MiB,
  inputEmbeddingBytes: 320 * MiB,
  outputBytes: 490 * MiB,
});
const dense = syntheticMoeFacts({
  name: "Dense-8B",
  layers: 36,
  routedExpertBytesPerLayer: 0,
  otherBytesPerLayer: 120 * MiB,
  inputEmbeddingBytes: 300 * MiB,
  outputBytes: 300 * MiB,
});

describe("hardware catalog", () => {
  test("has the accelerators and hosts the issue names, each with a source", () => {
    const ids = hardwareCatalog.map((entry) => entry.id);
    for (const id of [
      "a100-40gb",
      "a100-80gb",
      "h100",
      "h200",
      "h20",
      "l40s",
      "rtx-4090",
      "m2-max",
      "m2-ultra",
      "m3-ultra",
      "m4-max",
      "ddr5-2ch",
      "ddr5-8ch",
    ]) {
      expect(ids).toContain(id);
    }
    for (const entry of hardwareCatalog) expect(entry.source.length).toBeGreaterThan(20);
  });

  test("names resolve by id or alias, ignoring case and punctuation", () => {
    expect(setupFromCatalog("A100").id).toBe("a100-80gb");
    expect(setupFromCatalog("RTX 4090").id).toBe("rtx-4090");
    expect(() => setupFromCatalog("tpu-v5")).toThrow(/Unknown hardware 'tpu-v5'. Known: a100-40gb/);
  });
});

describe("cost", () => {
  test("energy and hourly cost per 1M output tokens, in micro-USD", () => {
    const cost = estimateCost(1000, { powerWatts: 400, pricePerKwhUsd: 0.15, hourlyUsd: 2 }, a3b);
    // 10^6 tokens at 1000 tok/s = 1000 s; 400 W × 1000 s = 0.111 kWh × $0.15
    expect(cost.energyMicroUsdPerMillionOutputTokens).toBe(16667);
    expect(cost.hourlyMicroUsdPerMillionOutputTokens).toBe(555556);
    expect(cost.costMicroUsdPerMillionOutputTokens).toBe(555556);
    expect(formatMicroUsd(16667)).toBe("$0.0167");
    expect(formatMicroUsd(12_300_000)).toBe("$12.30");
    expect(estimateCost(1000, {}, a3b).costMicroUsdPerMillionOutputTokens).toBeUndefined();
  });

  test("the cloud price of the same model by name, else the nearest by active parameters", () => {
    const byName = findNearestCloudPrice(a3b)!;
    expect(byName.match).toBe("name");
    expect(byName.price.model).toBe("qwen3-30b-a3b-instruct-2507");
    expect(byName.outputMicroUsdPerMillionTokens).toBe(Math.round(3e6 / cloudListPriceBook.cnyPerUsd));
    const nearest = findNearestCloudPrice(a22b)!;
    expect(nearest.match).toBe("active-parameters");
    expect(nearest.price.model).toBe("qwen3-32b");
  });

  test("a hybrid model's thinking price is its cloud thinking counterpart's output price", () => {
    const byName = findNearestCloudPrice(a3b)!;
    expect(byName.price.thinkingCounterpart).toBe("qwen3-30b-a3b-thinking-2507");
    expect(byName.thinkingOutputMicroUsdPerMillionTokens).toBe(Math.round(7.5e6 / cloudListPriceBook.cnyPerUsd));
    expect(findNearestCloudPrice(a22b)!.thinkingOutputMicroUsdPerMillionTokens).toBe(Math.round(20e6 / cloudListPriceBook.cnyPerUsd));
  });
});

describe("createPlan", () => {
  test("JSON has top-level fits, decodeTokensPerSecond and prefillTokensPerSecond; no reason when it fits", () => {
    const plan = createPlan(a3b, setupFromCatalog("rtx-4090"), { sequences: 1, pricePerKwhUsd: 0.2 });
    const json = JSON.parse(JSON.stringify(plan)) as Record<string, unknown>;
    expect(json.fits).toBe(true);
    expect(json).not.toHaveProperty("reason");
    expect(typeof json.decodeTokensPerSecond).toBe("number");
    expect(typeof json.prefillTokensPerSecond).toBe("number");
    expect(plan.memory.contextTokens).toBe(4096);
    expect(plan.llamaServerArgs).toEqual(["-m", "/models/Qwen3-30B-A3B.gguf", "-c", "4096", "-np", "1", "-ngl", "49"]);
    // the worker's whole command line, from the one function that builds it; threads default to 1
    expect(plan.workerArgs).toEqual(
      workerArgs({
        modelPath: "/models/Qwen3-30B-A3B.gguf",
        contextTokens: 4096,
        parallel: 1,
        threads: 1,
        gpuLayers: 49,
        cpuMoeLayers: 0,
        flashAttention: true,
        batchSize: 512,
        cacheRamMiB: 384, // the slots' KV cache: 96 KiB a token × 4096
      }),
    );
    // the GPU's typical power prices the electricity
    expect(plan.cost.energyMicroUsdPerMillionOutputTokens).toBe(
      Math.round(((450 * (1e6 / plan.speed!.aggregateDecodeTokensPerSecond)) / 3.6e6) * 0.2 * 1e6),
    );
    expect(renderPlan(plan)).toMatch(
      /^llama-server -m \/models\/Qwen3-30B-A3B\.gguf -c 4096 -np 1 -t 1 -ngl 49 -fa on -b 512 --cache-ram 384 --metrics --no-webui$/m,
    );
  });

  test("assumptions say only what applies: routed experts for a MoE, none for a dense model", () => {
    const setup = setupFromCatalog("rtx-4090");
    const denseAssumptions = createPlan(dense, setup).assumptions.join("\n");
    expect(denseAssumptions).not.toMatch(/expert/i);
    expect(denseAssumptions).not.toMatch(/\bactive\b/);
    expect(denseAssumptions).toContain("compute buffer: 4 B × batch × (vocabulary + 4 × hidden), a heuristic");
    const moeAssumptions = createPlan(a3b, setup).assumptions.join("\n");
    expect(moeAssumptions).toContain("routed experts: each token uses expert_used_count of expert_count uniformly");
    expect(moeAssumptions).toContain("decode reads every active weight once per token");
  });

  test("a dense model's text names no active parameters and no experts: every parameter is used per token", () => {
    const plans = ["rtx-4090", "h100"].map((id) => createPlan(dense, setupFromCatalog(id), { pricePerKwhUsd: 0.15 }));
    const plan = renderPlan(plans[0]!);
    expect(plan).toMatch(/^Dense-8B: [\d.]+B parameters, [\d.]+ GiB of weights$/m);
    expect(plan).not.toMatch(/\bactive\b/);
    expect(plan).not.toMatch(/expert/i);
    expect(plan).toMatch(/^ {2}bytes per token = all weights − embedding table/m);
    expect(plan).toMatch(/^ {2}aggregate decode \(4 sequences\) = 4 \/ step time$/m);
    const comparison = renderComparison(plans);
    expect(comparison).toMatch(/^Dense-8B: [\d.]+B parameters$/m);
    expect(comparison).not.toMatch(/\bactive\b/);
    const facts = renderModelFacts(dense);
    expect(facts).toMatch(/^parameters: +[\d.]+B, all used per token$/m);
    expect(facts).toMatch(/^experts: +none \(dense\)$/m);
    expect(facts).toMatch(/^weights: +[\d.]+ GiB$/m);
    expect(facts).toMatch(/^read per token: +[\d.]+ GiB \(weights, one sequence\)$/m);
    expect(facts).not.toMatch(/\bactive\b/);
    expect(facts).not.toMatch(/routed/);
    // a MoE keeps its active figures
    expect(renderPlan(createPlan(a3b, setupFromCatalog("rtx-4090")))).toMatch(/^Qwen3-30B-A3B: [\d.]+B parameters, [\d.]+B active, /m);
    expect(renderModelFacts(a3b)).toMatch(/^read per token: .*\(active weights, one sequence\)$/m);
  });

  test("when it does not fit: fits false, a reason, null speeds, no flags", () => {
    const plan = createPlan(a22b, setupFromCatalog("rtx-4090"), {});
    expect(plan.fits).toBe(false);
    expect(plan.reason).toMatch(/RAM/);
    expect(plan.decodeTokensPerSecond).toBeNull();
    expect(plan.prefillTokensPerSecond).toBeNull();
    expect(plan.llamaServerArgs).toEqual([]);
    expect(plan.workerArgs).toEqual([]);
  });

  test("workerArgs: the placement's -ngl and --n-cpu-moe, the plan's context, sequences, batch and threads", () => {
    const plan = createPlan(a22b, setupFromCatalog("h100"), { contextTokens: 8192, sequences: 2, batchTokens: 256, threads: 15 });
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    const n = String(plan.placement.cpuExpertLayers);
    expect(plan.workerArgs).toEqual([
      ...["-m", "/models/Big-MoE.gguf", "-c", "16384", "-np", "2", "-t", "15", "-ngl", "95", "--n-cpu-moe", n],
      ...["-fa", "on", "-b", "256", "--cache-ram", "3008", "--metrics", "--no-webui"],
    ]);
    expect(plan.llamaServerArgs).toEqual(["-m", "/models/Big-MoE.gguf", "-c", "16384", "-np", "2", "-ngl", "95", "--n-cpu-moe", n]);
  });

  test("the printed decode formula gives the printed figure, bandwidth bound (a CPU host)", () => {
    const text = renderPlan(createPlan(a3b, setupFromCatalog("ddr5-2ch"), { sequences: 1 }));
    const formula = parseDecodeFormula(text);
    expect(formula.kinds).toEqual(["bandwidth", "overhead"]);
    expect(formula.recomputedSeconds * formula.printedTokensPerSecond).toBeCloseTo(1, 1);
    expect(Math.abs(1 / formula.recomputedSeconds / printedDecodeTokensPerSecond(text) - 1)).toBeLessThan(0.02);
  });

  test("the printed decode formula gives the printed figure, compute bound (experts in RAM on 2 CPU cores)", () => {
    const twoCores: HostProbe = {
      cpuName: "2-core VM",
      cores: 2,
      clockHz: 2.45e9,
      flopsPerCycle: 32,
      totalMemoryBytes: 256 * GiB,
      availableMemoryBytes: 192 * GiB,
      bandwidthBytesPerSecond: 20e9,
    };
    const setup = applyHardwareOverrides(setupFromProbes(twoCores, undefined), { vramBytes: 24 * GiB });
    const plan = createPlan(a22b, setup, { sequences: 1 });
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    const text = renderPlan(plan);
    const formula = parseDecodeFormula(text);
    expect(formula.kinds).toEqual(["bandwidth", "compute", "overhead"]);
    expect(text).toMatch(
      /^ {2}decode = 1 \/ \([\d.]+ GiB \/ 605 GB\/s GPU \+ [\d.]+ GFLOP \/ [\d.]+ GFLOP\/s CPU compute \+ [\d.]+ ms overhead\)/m,
    );
    expect(Math.abs(1 / formula.recomputedSeconds / formula.printedTokensPerSecond - 1)).toBeLessThan(0.02);
    expect(Math.abs(1 / formula.recomputedSeconds / printedDecodeTokensPerSecond(text) - 1)).toBeLessThan(0.02);
  });

  test("--compare: one row per device, where a 235B-class MoE runs best per dollar", () => {
    const plans = ["h20", "a100", "h100", "h200"].map((id) => createPlan(a22b, setupFromCatalog(id), { pricePerKwhUsd: 0.15 }));
    expect(plans.map((plan) => plan.placement.kind)).toEqual(["gpu-cpu-experts", "gpu-cpu-experts", "gpu-cpu-experts", "gpu"]);
    const text = renderComparison(plans);
    expect(text.split("\n").filter((line) => /^(h20|a100-80gb|h100|h200) /.test(line))).toHaveLength(4);
    expect(text).toMatch(/--n-cpu-moe \d+/);
  });

  test("calibrate: measured equal to predicted gives ratio 1 and the effective bandwidth used", () => {
    // decode 40 tok/s puts the calibrated bandwidth high enough that a 100 tok/s prefill stays compute bound
    const setup = applyHardwareOverrides(setupFromCatalog("ddr5-2ch"), { memBandwidthBytesPerSecond: 50e9 });
    const first = calibrate(a3b, setup, {
      prefillTokensPerSecond: 100,
      decodeTokensPerSecond: 40,
      promptTokens: 127,
      decodeTokens: 32,
      threads: 1,
      batchSize: 64,
      gpu: false,
    });
    const exact = calibrate(a3b, setup, {
      prefillTokensPerSecond: first.predictedPrefillTokensPerSecond,
      decodeTokensPerSecond: first.predictedDecodeTokensPerSecond,
      promptTokens: 127,
      decodeTokens: 32,
      threads: 1,
      batchSize: 64,
      gpu: false,
    });
    expect(exact.decodeRatio).toBeCloseTo(1, 6);
    expect(exact.effectiveBandwidthBytesPerSecond).toBeCloseTo(50e9, -3);
    // the calibrated setup predicts its own measurement
    const again = calibrate(a3b, first.calibratedSetup, first.measured);
    expect(again.decodeRatio).toBeCloseTo(1, 6);
    expect(again.prefillRatio).toBeCloseTo(1, 6);
    expect(first.calibratedSetup.host.memoryBytes).toBe(64 * GiB);
  });
});
