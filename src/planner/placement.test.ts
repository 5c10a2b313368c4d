import { describe, expect, test } from "vitest";
import { syntheticMoeFacts } from "../../test/planner/synthetic-facts.js";
import { applyHardwareOverrides, defaultGpuClassId, setupFromCatalog, type HardwareSetup } from "./hardware.js";
import { estimateMemory } from "./memory-estimate.js";
import { llamaServerArgs, memoryMarginBytes, planPlacement } from "./placement.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

// A Qwen3-30B-A3B-sized MoE: 48 layers of 340 MiB routed experts and 20 MiB of attention, 160 MiB embedding and output.
const moe = syntheticMoeFacts({
  layers: 48,
  routedExpertBytesPerLayer: 340 * MiB,
  otherBytesPerLayer: 20 * MiB,
  inputEmbeddingBytes: 160 * MiB,
  outputBytes: 200 * MiB,
});
const dense = syntheticMoeFacts({
  layers: 32,
  routedExpertBytesPerLayer: 0,
  otherBytesPerLayer: 200 * MiB,
  inputEmbeddingBytes: 100 * MiB,
  outputBytes: 100 * MiB,
});

function gpuSetup(vramBytes: number, ramBytes: number): HardwareSetup {
  return applyHardwareOverrides(setupFromCatalog("rtx-4090"), { vramBytes, ramBytes });
}

describe("planPlacement", () => {
  const memory = estimateMemory(moe, { contextTokens: 4096, sequences: 1 });

  test("all on the GPU when everything fits; the input embedding stays in RAM", () => {
    const placement = planPlacement(moe, memory, gpuSetup(24 * GiB, 64 * GiB));
    expect(placement.kind).toBe("gpu");
    expect(placement.fits).toBe(true);
    expect(placement.gpuLayers).toBe(49);
    expect(placement.host.weightsBytes).toBe(160 * MiB);
    expect(placement.gpu!.weightsBytes).toBe(moe.weights.totalBytes - 160 * MiB);
    expect(llamaServerArgs("/m.gguf", placement, memory)).toEqual(["-m", "/m.gguf", "-c", "4096", "-np", "1", "-ngl", "49"]);
  });

  test("MoE on a small GPU: experts of the first N layers in RAM, the smallest N that fits", () => {
    const setup = gpuSetup(12 * GiB, 64 * GiB);
    const placement = planPlacement(moe, memory, setup);
    expect(placement.kind).toBe("gpu-cpu-experts");
    const n = placement.cpuExpertLayers;
    const gpuBudget = 12 * GiB - memoryMarginBytes(12 * GiB);
    const gpuNeeds = (layersInRam: number): number =>
      moe.weights.totalBytes - 160 * MiB - layersInRam * 340 * MiB + memory.kvCacheBytes + memory.computeBufferBytes;
    expect(gpuNeeds(n)).toBeLessThanOrEqual(gpuBudget);
    expect(gpuNeeds(n - 1)).toBeGreaterThan(gpuBudget);
    expect(placement.hostRoutedExpertBytes).toBe(n * 340 * MiB);
    expect(llamaServerArgs("/m.gguf", placement, memory)).toEqual([
      "-m",
      "/m.gguf",
      "-c",
      "4096",
      "-np",
      "1",
      "-ngl",
      "49",
      "--n-cpu-moe",
      String(n),
    ]);
  });

  test("KV cache grows with context × sequences and moves the split", () => {
    const big = estimateMemory(moe, { contextTokens: 32768, sequences: 4 });
    expect(big.kvCacheBytes).toBe(memory.kvCacheBytesPerToken * 32768 * 4);
    const placement = planPlacement(moe, big, gpuSetup(24 * GiB, 64 * GiB));
    expect(placement.kind).toBe("gpu-cpu-experts");
    expect(placement.gpu!.cacheBytes).toBe(big.kvCacheBytes);
    expect(llamaServerArgs("/m.gguf", placement, big).slice(2, 6)).toEqual(["-c", "131072", "-np", "4"]);
  });

  test("a dense model on a small GPU offloads the output and the last layers (-ngl k)", () => {
    const denseMemory = estimateMemory(dense, { contextTokens: 2048, sequences: 1 });
    const placement = planPlacement(dense, denseMemory, gpuSetup(4 * GiB, 64 * GiB));
    expect(placement.kind).toBe("gpu-cpu-layers");
    expect(placement.gpuLayers).toBeGreaterThan(1);
    expect(placement.gpuLayers).toBeLessThan(33);
    expect(placement.gpu!.totalBytes).toBeLessThanOrEqual(placement.gpu!.budgetBytes);
  });

  test("CPU only without a GPU, and a reason when RAM is too small", () => {
    const cpu = planPlacement(moe, memory, setupFromCatalog("ddr5-2ch"));
    expect(cpu.kind).toBe("cpu");
    expect(cpu.gpuLayers).toBe(0);
    const none = planPlacement(moe, memory, applyHardwareOverrides(setupFromCatalog("ddr5-2ch"), { ramBytes: 8 * GiB }));
    expect(none.fits).toBe(false);
    expect(none.kind).toBe("none");
    expect(none.reason).toMatch(/CPU only needs 17\.\d GiB of RAM .* has 7\.2 GiB/);
  });

  test("a GPU that fits nothing and RAM too small: the reason names both", () => {
    const none = planPlacement(moe, memory, gpuSetup(2 * GiB, 8 * GiB));
    expect(none.fits).toBe(false);
    expect(none.reason).toMatch(/GPU/);
    expect(none.reason).toMatch(/RAM/);
  });

  test("Apple unified memory: the GPU may use about 75% of it", () => {
    const fits = planPlacement(moe, memory, setupFromCatalog("m2-max"));
    expect(fits.kind).toBe("gpu");
    const tooSmall = planPlacement(moe, memory, applyHardwareOverrides(setupFromCatalog("m2-max"), { ramBytes: 20 * GiB }));
    expect(tooSmall.fits).toBe(false);
    expect(tooSmall.reason).toMatch(/working-set limit/);
  });
});

describe("hardware overrides", () => {
  test("--vram on a CPU-only setup adds a GPU of the default class, stated; --vram-bandwidth replaces its bandwidth", () => {
    const assumed = applyHardwareOverrides(setupFromCatalog("ddr5-8ch"), { vramBytes: 24 * GiB });
    expect(assumed.assumedGpuClass).toBe(defaultGpuClassId);
    expect(assumed.gpu).toMatchObject({ memoryBytes: 24 * GiB, bandwidthBytesPerSecond: 1008e9, bandwidthEfficiency: 0.6 });
    expect(assumed.hostToGpuBytesPerSecond).toBe(32e9);
    expect(assumed.sources.join("\n")).toMatch(
      /--vram without --vram-bandwidth: speeds assume an NVIDIA GeForce RTX 4090 24GB-class GPU \(catalog rtx-4090/,
    );
    const setup = applyHardwareOverrides(setupFromCatalog("ddr5-8ch"), { vramBytes: 24 * GiB, vramBandwidthBytesPerSecond: 1e12 });
    expect(setup.gpu).toMatchObject({ memoryBytes: 24 * GiB, bandwidthBytesPerSecond: 1e12, bandwidthEfficiency: 1 });
    expect(setup.assumedGpuClass).toBe("rtx-4090");
    // removing the GPU again drops the assumption
    expect(applyHardwareOverrides(assumed, { vramBytes: 0 })).not.toHaveProperty("assumedGpuClass");
    // a catalog GPU's figures are its own
    expect(applyHardwareOverrides(setupFromCatalog("h100"), { vramBytes: 40 * GiB })).not.toHaveProperty("assumedGpuClass");
  });

  test("--vram 0 removes the GPU; --mem-bandwidth is taken as effective", () => {
    const setup = applyHardwareOverrides(setupFromCatalog("h100"), { vramBytes: 0, memBandwidthBytesPerSecond: 100e9 });
    expect(setup.gpu).toBeUndefined();
    expect(setup.host).toMatchObject({ bandwidthBytesPerSecond: 100e9, bandwidthEfficiency: 1 });
    expect(setup.powerWatts).toBe(350);
  });
});
