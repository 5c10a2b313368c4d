import { z } from "zod";

const GiB = 2 ** 30;
const GB = 1e9;
const TFLOPS = 1e12;

/**
 * One accelerator or host in the built-in catalog (`moestro plan --hardware ID`).
 *
 * - `gpu`: a discrete GPU; the plan pairs it with the host `defaultHostId` for CPU-side memory.
 * - `unified`: an Apple M-series machine; one memory pool shared by the CPU and GPU.
 * - `cpu`: a CPU-only host (memory channels × DDR5 transfer rate).
 */
export const hardwareCatalogEntrySchema = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .describe("Id used by --hardware and --compare."),
  aliases: z.array(z.string()).describe("Other names accepted for the id (matched case-insensitively)."),
  name: z.string().describe("Human-readable name."),
  kind: z.enum(["gpu", "unified", "cpu"]),
  memoryBytes: z.number().int().positive().describe("Memory capacity, in bytes (GPU memory, unified memory or host RAM)."),
  bandwidthBytesPerSecond: z.number().positive().describe("Peak memory bandwidth, in bytes per second."),
  denseFlopsPerSecond: z
    .number()
    .positive()
    .describe("Peak dense FLOP/s without sparsity: BF16/FP16 tensor cores for NVIDIA GPUs, FP32 GPU ALUs for Apple, FP32 FMA for CPUs."),
  typicalPowerWatts: z
    .number()
    .positive()
    .describe("Board power (TDP/TGP) for GPUs, measured maximum for Macs, CPU package TDP for hosts."),
  hostToGpuBytesPerSecond: z
    .number()
    .positive()
    .optional()
    .describe("PCIe bandwidth per direction between host RAM and the GPU, in bytes per second."),
  defaultHostId: z.string().optional().describe("Catalog id of the host a GPU is paired with when the plan needs CPU memory."),
  source: z.string().min(1).describe("Where each figure comes from."),
  sourceUrl: z.string().url().optional(),
});

/** One catalog entry; see {@link hardwareCatalogEntrySchema} for each field's unit. */
export type HardwareCatalogEntry = z.infer<typeof hardwareCatalogEntrySchema>;

const nvidiaHostNote = "paired by default with an 8-channel DDR5 host (ddr5-8ch)";

/**
 * An A100 SXM catalog entry: both memory sizes share the GA100's compute (BF16 312 TFLOPS dense), 400 W and PCIe Gen4,
 * and differ in memory and bandwidth (NVIDIA A100 Tensor Core GPU datasheet).
 */
function a100SxmEntry(variant: { memoryGb: 40 | 80; memoryType: string; bandwidthGbPerSecond: number; aliases: string[] }) {
  const { memoryGb, memoryType, bandwidthGbPerSecond } = variant;
  return {
    id: `a100-${memoryGb}gb`,
    aliases: variant.aliases,
    name: `NVIDIA A100 ${memoryGb}GB SXM`,
    kind: "gpu",
    memoryBytes: memoryGb * GiB,
    bandwidthBytesPerSecond: bandwidthGbPerSecond * GB,
    denseFlopsPerSecond: 312 * TFLOPS,
    typicalPowerWatts: 400,
    hostToGpuBytesPerSecond: 32 * GB,
    defaultHostId: "ddr5-8ch",
    source: `NVIDIA A100 Tensor Core GPU datasheet: ${memoryGb}GB ${memoryType}, ${bandwidthGbPerSecond.toLocaleString("en-US")} GB/s, BF16 312 TFLOPS dense (624 sparse), 400 W, PCIe Gen4; ${nvidiaHostNote}`,
    sourceUrl: "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
  };
}

/**
 * The built-in hardware catalog. GPU capacities are NVIDIA's "GB" read as GiB (an 80 GB A100 reports 81,920 MiB);
 * FLOP/s are dense (NVIDIA datasheets print the 2:4-sparsity figure, twice as large, with an asterisk). PCIe is per
 * direction: Gen4 x16 ≈ 32 GB/s, Gen5 x16 ≈ 64 GB/s (datasheets print the bidirectional sum).
 *
 * Prices per hour are not in the catalog: rental prices vary too much to ship; pass `--hourly-usd`.
 */
export const hardwareCatalog: readonly HardwareCatalogEntry[] = Object.freeze(
  z.array(hardwareCatalogEntrySchema).parse([
    a100SxmEntry({ memoryGb: 40, memoryType: "HBM2", bandwidthGbPerSecond: 1555, aliases: ["a100-40", "a100 40gb"] }),
    a100SxmEntry({ memoryGb: 80, memoryType: "HBM2e", bandwidthGbPerSecond: 2039, aliases: ["a100", "a100-80", "a100 80gb"] }),
    {
      id: "h100",
      aliases: ["h100-sxm", "h100-80gb", "h100 sxm"],
      name: "NVIDIA H100 SXM 80GB",
      kind: "gpu",
      memoryBytes: 80 * GiB,
      bandwidthBytesPerSecond: 3350 * GB,
      denseFlopsPerSecond: 989 * TFLOPS,
      typicalPowerWatts: 700,
      hostToGpuBytesPerSecond: 64 * GB,
      defaultHostId: "ddr5-8ch",
      source: `NVIDIA H100 Tensor Core GPU datasheet (SXM): 80GB HBM3, 3.35 TB/s, BF16 1,979 TFLOPS with sparsity (989 dense), up to 700 W, PCIe Gen5; ${nvidiaHostNote}`,
      sourceUrl: "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet",
    },
    {
      id: "h200",
      aliases: ["h200-sxm", "h200 sxm", "nvidia h200"],
      name: "NVIDIA H200 SXM 141GB",
      kind: "gpu",
      memoryBytes: 141 * GiB,
      bandwidthBytesPerSecond: 4800 * GB,
      denseFlopsPerSecond: 989 * TFLOPS,
      typicalPowerWatts: 700,
      hostToGpuBytesPerSecond: 64 * GB,
      defaultHostId: "ddr5-8ch",
      source: `NVIDIA H200 product page and datasheet: 141GB HBM3e, 4.8 TB/s, BF16 1,979 TFLOPS with sparsity (989 dense, same GH100 compute as H100), up to 700 W, PCIe Gen5; ${nvidiaHostNote}`,
      sourceUrl: "https://www.nvidia.com/en-us/data-center/h200/",
    },
    {
      id: "h20",
      aliases: ["nvidia h20"],
      name: "NVIDIA H20 96GB",
      kind: "gpu",
      memoryBytes: 96 * GiB,
      bandwidthBytesPerSecond: 4000 * GB,
      denseFlopsPerSecond: 148 * TFLOPS,
      typicalPowerWatts: 400,
      hostToGpuBytesPerSecond: 64 * GB,
      defaultHostId: "ddr5-8ch",
      source: `No public NVIDIA datasheet; figures as widely reported (e.g. willitrunai.com GPU page, Geekbench/press coverage 2024): 96GB HBM3, 4.0 TB/s, FP16/BF16 148 TFLOPS dense, 400 W TDP, PCIe Gen5; ${nvidiaHostNote}`,
      sourceUrl: "https://willitrunai.com/es/gpus/h20-96gb",
    },
    {
      id: "l40s",
      aliases: ["nvidia l40s"],
      name: "NVIDIA L40S 48GB",
      kind: "gpu",
      memoryBytes: 48 * GiB,
      bandwidthBytesPerSecond: 864 * GB,
      denseFlopsPerSecond: 362.05 * TFLOPS,
      typicalPowerWatts: 350,
      hostToGpuBytesPerSecond: 32 * GB,
      defaultHostId: "ddr5-8ch",
      source: `NVIDIA L40S datasheet: 48GB GDDR6, 864 GB/s, BF16 362.05 TFLOPS dense (733 sparse), 350 W max, PCIe Gen4 x16 (64 GB/s bidirectional); ${nvidiaHostNote}`,
      sourceUrl: "https://resources.nvidia.com/en-us-l40s/l40s-datasheet-28413",
    },
    {
      id: "rtx-4090",
      aliases: ["4090", "rtx4090", "geforce rtx 4090", "nvidia geforce rtx 4090"],
      name: "NVIDIA GeForce RTX 4090 24GB",
      kind: "gpu",
      memoryBytes: 24 * GiB,
      bandwidthBytesPerSecond: 1008 * GB,
      denseFlopsPerSecond: 165.2 * TFLOPS,
      typicalPowerWatts: 450,
      hostToGpuBytesPerSecond: 32 * GB,
      defaultHostId: "ddr5-2ch",
      source:
        "NVIDIA Ada Lovelace GPU architecture whitepaper, appendix A: 24GB GDDR6X, 1,008 GB/s, BF16 tensor 165.2 TFLOPS dense with FP32 accumulate, 450 W TGP, PCIe Gen4 x16; paired by default with a dual-channel DDR5 desktop (ddr5-2ch)",
      sourceUrl: "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
    },
    {
      id: "m2-max",
      aliases: ["apple m2 max", "m2max"],
      name: "Apple M2 Max (38-core GPU, 96GB)",
      kind: "unified",
      memoryBytes: 96 * GiB,
      bandwidthBytesPerSecond: 400 * GB,
      denseFlopsPerSecond: 13.6 * TFLOPS,
      typicalPowerWatts: 145,
      source:
        "Apple newsroom, 'Apple unveils M2 Pro and M2 Max' (2023-01-17): up to 96GB unified memory at 400 GB/s, up to 38 GPU cores. FP32 FLOP/s derived: 38 cores × 128 ALUs × 2 × 1.4 GHz. Power: Apple support 102027 (Mac Studio M2 Max 30-core GPU, maximum 145 W at the wall)",
      sourceUrl: "https://support.apple.com/en-us/102027",
    },
    {
      id: "m2-ultra",
      aliases: ["apple m2 ultra", "m2ultra"],
      name: "Apple M2 Ultra (76-core GPU, 192GB)",
      kind: "unified",
      memoryBytes: 192 * GiB,
      bandwidthBytesPerSecond: 800 * GB,
      denseFlopsPerSecond: 27.2 * TFLOPS,
      typicalPowerWatts: 295,
      source:
        "Apple newsroom, 'Apple introduces M2 Ultra' (2023-06-05): up to 192GB unified memory at 800 GB/s, 76 GPU cores. FP32 FLOP/s derived: 76 × 128 × 2 × 1.4 GHz. Power: Apple support 102027 (Mac Studio M2 Ultra 76-core GPU, maximum 295 W at the wall)",
      sourceUrl: "https://support.apple.com/en-us/102027",
    },
    {
      id: "m3-ultra",
      aliases: ["apple m3 ultra", "m3ultra"],
      name: "Apple M3 Ultra (80-core GPU, 512GB)",
      kind: "unified",
      memoryBytes: 512 * GiB,
      bandwidthBytesPerSecond: 819 * GB,
      denseFlopsPerSecond: 28.7 * TFLOPS,
      typicalPowerWatts: 300,
      source:
        "Apple newsroom, Mac Studio with M3 Ultra (2025-03-05): up to 512GB unified memory at 819 GB/s, 80 GPU cores. FP32 FLOP/s derived: 80 × 128 × 2 × 1.4 GHz. Power is an estimate (similar to the M2 Ultra's 295 W maximum); Apple's per-model figure was not checked",
      sourceUrl: "https://www.apple.com/newsroom/2025/03/apple-unveils-new-mac-studio-the-most-powerful-mac-ever/",
    },
    {
      id: "m4-max",
      aliases: ["apple m4 max", "m4max"],
      name: "Apple M4 Max (40-core GPU, 128GB)",
      kind: "unified",
      memoryBytes: 128 * GiB,
      bandwidthBytesPerSecond: 546 * GB,
      denseFlopsPerSecond: 16.1 * TFLOPS,
      typicalPowerWatts: 150,
      source:
        "Apple newsroom, M4 Pro and M4 Max (2024-10-30): up to 128GB unified memory at 546 GB/s, 40 GPU cores. FP32 FLOP/s derived: 40 × 128 × 2 × 1.58 GHz. Power is an estimate (like the M2 Max's 145 W maximum)",
      sourceUrl: "https://www.apple.com/newsroom/2024/10/apple-introduces-m4-pro-and-m4-max/",
    },
    {
      id: "ddr5-2ch",
      aliases: ["dual-channel-ddr5", "ddr5-dual", "desktop"],
      name: "Desktop, dual-channel DDR5-5600, 64GB, 16 cores",
      kind: "cpu",
      memoryBytes: 64 * GiB,
      bandwidthBytesPerSecond: 89.6 * GB,
      denseFlopsPerSecond: 2.3 * TFLOPS,
      typicalPowerWatts: 170,
      source:
        "Derived: 2 channels × 5,600 MT/s × 8 bytes = 89.6 GB/s (JEDEC DDR5-5600). 64GB = 2 × 32GB DIMMs (assumed). FP32 FLOP/s: 16 cores × 4.5 GHz × 32 FLOP/cycle (two 256-bit FMA pipes, Zen 4-class desktop CPU); power: 170 W, the AMD Ryzen 9 7950X TDP",
    },
    {
      id: "ddr5-8ch",
      aliases: ["8-channel-ddr5", "ddr5-octa", "server"],
      name: "Server, 8-channel DDR5-4800, 512GB, 56 cores",
      kind: "cpu",
      memoryBytes: 512 * GiB,
      bandwidthBytesPerSecond: 307.2 * GB,
      denseFlopsPerSecond: 7.2 * TFLOPS,
      typicalPowerWatts: 350,
      source:
        "Derived: 8 channels × 4,800 MT/s × 8 bytes = 307.2 GB/s (Intel Xeon 4th gen 'Sapphire Rapids': 8 DDR5-4800 channels per socket). 512GB = 8 × 64GB DIMMs (assumed). FP32 FLOP/s: 56 cores × 2.0 GHz × 64 FLOP/cycle (two AVX-512 FMA units; AMX not counted); power: 350 W, the Xeon Platinum 8480+ TDP",
    },
    {
      id: "ddr5-12ch",
      aliases: ["12-channel-ddr5", "epyc-genoa"],
      name: "Server, 12-channel DDR5-4800, 768GB, 96 cores",
      kind: "cpu",
      memoryBytes: 768 * GiB,
      bandwidthBytesPerSecond: 460.8 * GB,
      denseFlopsPerSecond: 9.2 * TFLOPS,
      typicalPowerWatts: 360,
      source:
        "Derived: 12 channels × 4,800 MT/s × 8 bytes = 460.8 GB/s (AMD EPYC 9004 'Genoa': 12 DDR5-4800 channels per socket). 768GB = 12 × 64GB DIMMs (assumed). FP32 FLOP/s: 96 cores × 3.0 GHz × 32 FLOP/cycle; power: 360 W, the EPYC 9654 default TDP",
    },
  ]),
);

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * Finds a catalog entry by id or alias, ignoring case, spaces and punctuation (`H100`, `rtx 4090`, `A100`).
 *
 * @returns the entry, or `undefined` when nothing matches.
 */
export function findHardware(name: string): HardwareCatalogEntry | undefined {
  const wanted = normalizeName(name);
  return hardwareCatalog.find(
    (entry) => normalizeName(entry.id) === wanted || entry.aliases.some((alias) => normalizeName(alias) === wanted),
  );
}

/**
 * Finds the catalog GPU whose name a driver reports (`NVIDIA H200`, `NVIDIA GeForce RTX 4090`), for this machine's
 * bandwidth and FLOP/s. Matches an id or alias contained in the reported name; `undefined` when none is.
 */
export function findHardwareByDeviceName(deviceName: string): HardwareCatalogEntry | undefined {
  const reported = normalizeName(deviceName);
  const candidates = hardwareCatalog
    .filter((entry) => entry.kind === "gpu")
    .flatMap((entry) => [entry.id, ...entry.aliases].map((name) => ({ entry, name: normalizeName(name) })))
    .filter(({ name }) => name.length >= 3 && reported.includes(name))
    .sort((a, b) => b.name.length - a.name.length);
  return candidates[0]?.entry;
}
