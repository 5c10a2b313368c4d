import os from "node:os";
import { findHardwareByDeviceName, hardwareCatalog } from "./hardware-catalog.js";

/** The power a machine draws while its engine runs, as the time pricing of local requests assumes it. */
export interface MachinePower {
  /** Watts. */
  watts: number;
  /** Where the figure comes from, for people (`catalog rtx-4090 board power`, `estimate: 2 cores, 8 GiB`). */
  source: string;
}

/**
 * Power assumed for a GPU that the catalog does not know: 320 W, the board power of the RTX 3080/4080-class card whose
 * bandwidth the planner assumes for unknown GPUs (NVIDIA's published TGP of both, 320 W).
 */
export const unknownGpuPowerWatts = 320;

/**
 * The power of a host the catalog does not know, from its cores and memory:
 * `30 W + 10 W per core + 0.375 W per GiB of RAM`.
 * - 30 W: board, fans, storage and power-supply loss of a small server at load (a documented round figure, not
 *   measured here);
 * - 10 W per core: the catalog's desktop CPU, the Ryzen 9 7950X, 170 W TDP over 16 cores (10.6 W); server parts draw
 *   less per core (EPYC 9654: 3.75 W), so this errs high for big hosts;
 * - 0.375 W per GiB: about 3 W per 8 GiB DDR4/DDR5 DIMM under load.
 * An estimate: configure `watts` in the price book (`localTime`) for a measured figure.
 *
 * @param cores CPU cores the server may use.
 * @param memoryBytes the host's RAM.
 */
export function estimateHostPowerWatts(cores: number, memoryBytes: number): number {
  return Math.round(30 + 10 * Math.max(1, cores) + 0.375 * (memoryBytes / 2 ** 30));
}

/**
 * The planner's typical power for this machine, for the time pricing of local requests:
 * - a GPU that the server uses (`gpuDeviceNames`, as node-llama-cpp reports them): the catalog GPU's board power (the
 *   planner's `powerWatts` for a GPU setup: the host mostly waits while the GPU decodes), else {@link unknownGpuPowerWatts};
 * - an Apple machine whose CPU name names a catalog entry (`Apple M3 Ultra`): its measured maximum;
 * - any other host: {@link estimateHostPowerWatts} from its cores (`os.availableParallelism()`) and RAM (`os.totalmem()`).
 * Always an estimate. No probe is run: the server passes the GPU names it already knows, if any.
 */
export function thisMachinePower(
  options: { gpuDeviceNames?: readonly string[]; cpuName?: string; cores?: number; memoryBytes?: number } = {},
): MachinePower {
  const gpuName = options.gpuDeviceNames?.[0];
  if (gpuName !== undefined) {
    const entry = findHardwareByDeviceName(gpuName);
    return entry
      ? { watts: entry.typicalPowerWatts, source: `catalog ${entry.id}: typical power ${entry.typicalPowerWatts} W (${gpuName})` }
      : { watts: unknownGpuPowerWatts, source: `GPU ${gpuName} not in the catalog: ${unknownGpuPowerWatts} W assumed` };
  }
  const cpuName = options.cpuName ?? os.cpus()[0]?.model.trim() ?? os.arch();
  const normalized = cpuName.toLowerCase().replace(/[^a-z0-9]/g, "");
  const apple = hardwareCatalog.find(
    (entry) =>
      entry.kind === "unified" &&
      [entry.id, ...entry.aliases].some((name) => {
        const alias = name.toLowerCase().replace(/[^a-z0-9]/g, "");
        return alias.length >= 4 && normalized.includes(alias);
      }),
  );
  if (apple) return { watts: apple.typicalPowerWatts, source: `catalog ${apple.id}: typical power ${apple.typicalPowerWatts} W` };
  const cores = options.cores ?? os.availableParallelism();
  const memoryBytes = options.memoryBytes ?? os.totalmem();
  const watts = estimateHostPowerWatts(cores, memoryBytes);
  return {
    watts,
    source: `host not in the catalog: ${watts} W estimated from ${cores} cores and ${Math.round(memoryBytes / 2 ** 30)} GiB RAM (30 W + 10 W/core + 0.375 W/GiB)`,
  };
}
