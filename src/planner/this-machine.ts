import { readFile } from "node:fs/promises";
import os from "node:os";
import { getLlama, type Llama, LlamaLogLevel } from "node-llama-cpp";
import { findHardwareByDeviceName } from "./hardware-catalog.js";
import { defaultEfficiencies, deviceFromCatalog, type DeviceSpec, type HardwareSetup } from "./hardware.js";
import { formatBandwidth, formatBytes } from "../util/size-units.js";

/** What {@link probeHost} finds about this machine's CPU and RAM. */
export interface HostProbe {
  cpuName: string;
  /** CPU cores this process may use (`os.availableParallelism()`). */
  cores: number;
  /** Reported clock, in hertz (`os.cpus()[0].speed`). */
  clockHz: number;
  /** FP32 FLOPs per cycle per core assumed from the CPU flags: 32 with FMA (two 256-bit FMA pipes), 16 on arm64, else 8. */
  flopsPerCycle: number;
  totalMemoryBytes: number;
  /** RAM available now (`os.freemem()`, which reads `MemAvailable` on Linux). */
  availableMemoryBytes: number;
  /** Single-thread copy bandwidth (read + write bytes per second) of a buffer larger than the caches; undefined when skipped. */
  bandwidthBytesPerSecond: number | undefined;
}

/** What {@link probeGpu} finds: a GPU that node-llama-cpp can use. */
export interface GpuProbe {
  /** node-llama-cpp's backend (`cuda`, `vulkan`, `metal`). */
  backend: string;
  deviceNames: string[];
  totalBytes: number;
  freeBytes: number;
  /** Bytes shared with the CPU (Apple Silicon); 0 for discrete GPUs. */
  unifiedBytes: number;
}

/**
 * Measures single-threaded memory copy bandwidth: copies a `sizeBytes` buffer `rounds` times after one warm-up copy
 * (which also faults the pages in) and keeps the best round, counting each copied byte twice (read and write).
 * One thread does not saturate a multi-channel server, so this under-estimates big hosts; `plan --measure` calibrates
 * with a real decode. How long it takes: docs/planner.md#this-machine.
 *
 * @param sizeBytes the buffer copied. Defaults to 128 MiB.
 * @param rounds timed copies; the fastest counts. Defaults to 3.
 * @returns bytes per second.
 */
export function measureCopyBandwidth(sizeBytes = 128 * 2 ** 20, rounds = 3): number {
  const source = Buffer.alloc(sizeBytes, 1);
  const target = Buffer.allocUnsafe(sizeBytes);
  source.copy(target);
  let bestSeconds = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    source.copy(target);
    bestSeconds = Math.min(bestSeconds, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return (2 * sizeBytes) / bestSeconds;
}

/**
 * Probes this machine's CPU and RAM from `os` and `/proc/cpuinfo`, and (unless `measureBandwidth` is false) its copy
 * bandwidth with {@link measureCopyBandwidth}.
 */
export async function probeHost(options: { measureBandwidth?: boolean } = {}): Promise<HostProbe> {
  const cpus = os.cpus();
  const cpuInfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuInfo)?.[1]?.split(/\s+/) ?? [];
  const flopsPerCycle = flags.includes("fma") ? 32 : os.arch() === "arm64" ? 16 : 8;
  return {
    cpuName: cpus[0]?.model.trim() || os.arch(),
    cores: os.availableParallelism(),
    clockHz: (cpus[0]?.speed || 2000) * 1e6,
    flopsPerCycle,
    totalMemoryBytes: os.totalmem(),
    availableMemoryBytes: os.freemem(),
    bandwidthBytesPerSecond: options.measureBandwidth === false ? undefined : measureCopyBandwidth(),
  };
}

/**
 * Asks node-llama-cpp for a GPU (`getLlama({gpu: "auto", build: "never"})`, which takes a while:
 * docs/planner.md#this-machine): its backend, names and memory. Returns `undefined` on a CPU-only machine or when no
 * GPU binary loads.
 */
export async function probeGpu(): Promise<GpuProbe | undefined> {
  let llama: Llama;
  try {
    llama = await getLlama({ gpu: "auto", build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
  } catch {
    return undefined;
  }
  try {
    return await probeLlamaGpu(llama);
  } finally {
    await llama.dispose();
  }
}

/**
 * The GPU of a llama.cpp binding already loaded (the server's own): its backend, names and memory, or `undefined` when
 * the binding runs on the CPU. Leaves `llama` open.
 */
export async function probeLlamaGpu(llama: Llama): Promise<GpuProbe | undefined> {
  if (llama.gpu === false) return undefined;
  const vram = await llama.getVramState();
  return {
    backend: llama.gpu,
    deviceNames: await llama.getGpuDeviceNames(),
    totalBytes: vram.total,
    freeBytes: vram.free,
    unifiedBytes: vram.unifiedSize,
  };
}

/** The bandwidth assumed for a GPU that is not in the catalog (500 GB/s, an RTX 3080/4080-class card). */
export const unknownGpuBandwidthBytesPerSecond = 500e9;

/**
 * Builds this machine's {@link HardwareSetup} from its probes:
 * - host: available RAM, the probed copy bandwidth taken as effective (or 20 GB/s when not probed), and peak FLOP/s =
 *   cores × clock × flopsPerCycle at the default CPU efficiency;
 * - GPU: node-llama-cpp's free VRAM, with bandwidth and FLOP/s from the catalog GPU whose name the driver reports
 *   (unknown GPUs get {@link unknownGpuBandwidthBytesPerSecond} and a note); on Apple, one unified pool.
 */
export function setupFromProbes(host: HostProbe, gpu: GpuProbe | undefined): HardwareSetup {
  const sources = [
    `RAM: ${formatBytes(host.availableMemoryBytes)} available of ${formatBytes(host.totalMemoryBytes)} (os.freemem)`,
    host.bandwidthBytesPerSecond === undefined
      ? "RAM bandwidth: not measured, 20 GB/s assumed (pass --mem-bandwidth or --measure)"
      : `RAM bandwidth: ${formatBandwidth(host.bandwidthBytesPerSecond)} single-thread copy, taken as effective (--measure calibrates it with a real decode)`,
    `CPU: ${host.cores} cores × ${(host.clockHz / 1e9).toFixed(2)} GHz × ${host.flopsPerCycle} FP32 FLOP/cycle (from /proc/cpuinfo flags) = peak`,
  ];
  const hostDevice: DeviceSpec = {
    name: `${host.cpuName} (${host.cores} cores)`,
    memoryBytes: host.availableMemoryBytes,
    bandwidthBytesPerSecond: host.bandwidthBytesPerSecond ?? 20e9,
    bandwidthEfficiency: 1,
    flopsPerSecond: host.cores * host.clockHz * host.flopsPerCycle,
    computeEfficiency: defaultEfficiencies.cpuCompute,
    powerWatts: undefined,
  };
  if (gpu === undefined) {
    return {
      id: "this-machine",
      name: `this machine: ${hostDevice.name}`,
      gpu: undefined,
      host: hostDevice,
      unified: false,
      hostToGpuBytesPerSecond: undefined,
      powerWatts: undefined,
      sources,
    };
  }
  const deviceName = gpu.deviceNames[0] ?? gpu.backend;
  const entry = findHardwareByDeviceName(deviceName);
  const catalogDevice = entry ? deviceFromCatalog(entry) : undefined;
  sources.push(
    entry
      ? `GPU: ${deviceName} (${gpu.backend}), ${formatBytes(gpu.freeBytes)} free; bandwidth and FLOP/s of catalog entry ${entry.id}`
      : `GPU: ${deviceName} (${gpu.backend}), ${formatBytes(gpu.freeBytes)} free; not in the catalog, ${formatBandwidth(unknownGpuBandwidthBytesPerSecond)} assumed (pass --vram-bandwidth)`,
  );
  const gpuDevice: DeviceSpec = {
    name: deviceName,
    memoryBytes: gpu.freeBytes,
    bandwidthBytesPerSecond: catalogDevice?.bandwidthBytesPerSecond ?? unknownGpuBandwidthBytesPerSecond,
    bandwidthEfficiency: catalogDevice?.bandwidthEfficiency ?? defaultEfficiencies.gpuBandwidth,
    flopsPerSecond: catalogDevice?.flopsPerSecond ?? 50e12,
    computeEfficiency: defaultEfficiencies.gpuCompute,
    powerWatts: catalogDevice?.powerWatts,
  };
  const unified = gpu.unifiedBytes > 0;
  return {
    id: "this-machine",
    name: `this machine: ${deviceName} + ${hostDevice.name}`,
    gpu: gpuDevice,
    host: unified
      ? { ...hostDevice, bandwidthBytesPerSecond: gpuDevice.bandwidthBytesPerSecond, bandwidthEfficiency: gpuDevice.bandwidthEfficiency }
      : hostDevice,
    unified,
    hostToGpuBytesPerSecond: unified ? undefined : (entry?.hostToGpuBytesPerSecond ?? 32e9),
    powerWatts: gpuDevice.powerWatts,
    sources,
  };
}
