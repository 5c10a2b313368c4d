import { describe, expect, test } from "vitest";
import { syntheticMoeFacts } from "../../test/planner/synthetic-facts.js";
import { type DecodeOverhead, defaultDecodeOverhead, type HardwareSetup } from "./hardware.js";
import { estimateMemory } from "./memory-estimate.js";
import { planPlacement } from "./placement.js";
import { expertCoverageFraction, formatDecodeStep, predictSpeed } from "./speed.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const moe = syntheticMoeFacts({
  layers: 48,
  routedExpertBytesPerLayer: 340 * MiB,
  otherBytesPerLayer: 20 * MiB,
  inputEmbeddingBytes: 160 * MiB,
  outputBytes: 200 * MiB,
});

const device = (memoryBytes: number, bandwidthBytesPerSecond: number, flopsPerSecond = 1e15) => ({
  name: "test",
  memoryBytes,
  bandwidthBytesPerSecond,
  bandwidthEfficiency: 1,
  flopsPerSecond,
  computeEfficiency: 1,
  powerWatts: undefined,
});
// No per-token overhead unless a test asks for it, so that the roofline terms are checked alone.
const noOverhead = { stepSeconds: 0, vocabularyEntrySeconds: 0 };
const cpuSetup = (bandwidth: number, flops = 1e15, decodeOverhead: DecodeOverhead = noOverhead): HardwareSetup => ({
  id: "cpu",
  name: "cpu",
  gpu: undefined,
  host: device(256 * GiB, bandwidth, flops),
  unified: false,
  hostToGpuBytesPerSecond: undefined,
  powerWatts: 100,
  sources: [],
  decodeOverhead,
});

describe("expertCoverageFraction", () => {
  test("1 − (1 − used/count)^tokens", () => {
    expect(expertCoverageFraction(128, 8, 1)).toBeCloseTo(0.0625, 10);
    expect(expertCoverageFraction(128, 8, 4)).toBeCloseTo(1 - (120 / 128) ** 4, 10);
    expect(expertCoverageFraction(128, 8, 512)).toBeGreaterThan(0.9999);
  });
});

describe("predictSpeed", () => {
  const memory = estimateMemory(moe, { contextTokens: 4096, sequences: 4 });

  test("CPU decode = effective bandwidth / bytes read per token; the KV cache slows a full context", () => {
    const setup = cpuSetup(100e9);
    const speed = predictSpeed(moe, memory, planPlacement(moe, memory, setup), setup);
    expect(speed.decodeTokensPerSecond).toBeCloseTo(100e9 / moe.activeBytesPerToken, 6);
    expect(speed.decodeTokensPerSecondAtFullContext).toBeCloseTo(100e9 / (moe.activeBytesPerToken + memory.kvCacheBytesPerToken * 4096), 6);
    expect(speed.decodeBytesPerToken).toEqual({ gpu: 0, host: moe.activeBytesPerToken });
  });

  test("batched MoE decode reads the experts the sequences touch together, so it gains less than S×", () => {
    const setup = cpuSetup(100e9);
    const speed = predictSpeed(moe, memory, planPlacement(moe, memory, setup), setup);
    const stepBytes = moe.activeBytesPerToken + (expertCoverageFraction(128, 8, 4) - 8 / 128) * moe.weights.routedExpertBytes;
    expect(speed.aggregateDecodeTokensPerSecond).toBeCloseTo((4 * 100e9) / stepBytes, 6);
    expect(speed.aggregateDecodeTokensPerSecond).toBeGreaterThan(speed.decodeTokensPerSecond);
    expect(speed.aggregateDecodeTokensPerSecond).toBeLessThan(4 * speed.decodeTokensPerSecond);
  });

  test("CPU prefill is compute bound: FLOP/s / (2 × matmul parameters + attention)", () => {
    const setup = cpuSetup(100e9, 1e12);
    const speed = predictSpeed(moe, memory, planPlacement(moe, memory, setup), setup, { promptTokens: 512 });
    const output = moe.parameters.output;
    const flopsPerToken = 2 * (moe.matmulParametersPerToken - output) + (2 * output) / 512 + 2 * 48 * 32 * (128 + 128) * 256;
    expect(speed.prefillFlopsPerToken).toBeCloseTo(flopsPerToken, 0);
    expect(speed.prefillTokensPerSecond).toBeCloseTo(1e12 / flopsPerToken, 6);
  });

  test("experts in RAM: decode adds their bytes at RAM speed; prefill adds their PCIe copy", () => {
    const setup: HardwareSetup = {
      id: "split",
      name: "split",
      gpu: device(12 * GiB, 1000e9),
      host: device(64 * GiB, 50e9),
      unified: false,
      hostToGpuBytesPerSecond: 25e9,
      powerWatts: 300,
      sources: [],
      decodeOverhead: noOverhead,
    };
    const placement = planPlacement(moe, memory, setup);
    expect(placement.kind).toBe("gpu-cpu-experts");
    const speed = predictSpeed(moe, memory, placement, setup);
    const row = moe.weights.inputEmbeddingBytes / moe.vocabularySize;
    const hostBytes = (8 / 128) * placement.hostRoutedExpertBytes + row;
    const gpuBytes = moe.activeBytesPerToken - hostBytes;
    expect(speed.decodeBytesPerToken.host).toBeCloseTo(hostBytes, 3);
    expect(speed.decodeTokensPerSecond).toBeCloseTo(1 / (gpuBytes / 1000e9 + hostBytes / 50e9), 6);
    const noTransfer = 512 / Math.max((512 * speed.prefillFlopsPerToken) / 1e15, 0);
    expect(speed.prefillTokensPerSecond).toBeLessThan(noTransfer);
    const transferSeconds = (expertCoverageFraction(128, 8, 512) * placement.hostRoutedExpertBytes) / 25e9;
    expect(speed.prefillTokensPerSecond).toBeLessThanOrEqual(512 / transferSeconds);
  });

  test("each decode step pays the overhead: a step cost plus a vocabulary term per sequence", () => {
    const overhead = { stepSeconds: 1e-3, vocabularyEntrySeconds: 10e-9 };
    const setup = cpuSetup(100e9, 1e15, overhead);
    const speed = predictSpeed(moe, memory, planPlacement(moe, memory, setup), setup);
    const reading = moe.activeBytesPerToken / 100e9;
    const perSequence = 151936 * 10e-9;
    expect(speed.decodeStep.overheadSeconds).toBeCloseTo(1e-3 + perSequence, 12);
    expect(speed.decodeTokensPerSecond).toBeCloseTo(1 / (reading + 1e-3 + perSequence), 6);
    const stepBytes = moe.activeBytesPerToken + (expertCoverageFraction(128, 8, 4) - 8 / 128) * moe.weights.routedExpertBytes;
    expect(speed.aggregateDecodeTokensPerSecond).toBeCloseTo(4 / (stepBytes / 100e9 + 1e-3 + 4 * perSequence), 6);
  });

  test("without a setup overhead the default applies; a big model barely notices it, a tiny one is dominated by it", () => {
    const setup = { ...cpuSetup(100e9) };
    delete setup.decodeOverhead;
    const big = predictSpeed(moe, memory, planPlacement(moe, memory, setup), setup);
    expect(big.decodeStep.overheadSeconds).toBeCloseTo(
      defaultDecodeOverhead.stepSeconds + 151936 * defaultDecodeOverhead.vocabularyEntrySeconds,
      12,
    );
    // Qwen3-30B-A3B-sized reads at 100 GB/s: 23 ms per token, the overhead under a tenth of it
    expect(big.decodeStep.overheadSeconds / big.decodeStep.seconds).toBeLessThan(0.1);
    const tiny = syntheticMoeFacts({
      layers: 5,
      routedExpertBytesPerLayer: 0,
      otherBytesPerLayer: 200_000,
      inputEmbeddingBytes: 65_536,
      outputBytes: 65_536,
      vocabularySize: 512,
      hiddenSize: 64,
    });
    const tinyMemory = estimateMemory(tiny, { contextTokens: 512, sequences: 1 });
    const small = predictSpeed(tiny, tinyMemory, planPlacement(tiny, tinyMemory, setup), setup);
    expect(small.decodeStep.overheadSeconds / small.decodeStep.seconds).toBeGreaterThan(0.9);
  });

  test("formatDecodeStep prints the binding term of each device and the figure its numbers give", () => {
    const bandwidthBound = predictSpeed(moe, memory, planPlacement(moe, memory, cpuSetup(100e9, 1e15)), cpuSetup(100e9, 1e15));
    expect(bandwidthBound.decodeStep.terms.map((term) => term.binding)).toEqual(["bandwidth"]);
    expect(formatDecodeStep(bandwidthBound.decodeStep)).toMatch(/^1 \/ \([\d.]+ GiB \/ 100 GB\/s RAM \+ 0 ms overhead\) = [\d.]+ tok\/s$/);
    const computeBound = predictSpeed(moe, memory, planPlacement(moe, memory, cpuSetup(100e9, 1e9)), cpuSetup(100e9, 1e9));
    expect(computeBound.decodeStep.terms.map((term) => term.binding)).toEqual(["compute"]);
    expect(formatDecodeStep(computeBound.decodeStep)).toMatch(
      /^1 \/ \([\d.]+ GFLOP \/ 1 GFLOP\/s CPU compute \+ 0 ms overhead\) = [\d.]+ tok\/s$/,
    );
  });
});
