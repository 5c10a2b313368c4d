/**
 * The command line of a llama-server worker: the one place that turns moestro's engine settings and the planner's
 * placement into llama-server flags, used by the worker itself, by `moestro plan --json` (`workerArgs`) and by
 * `scripts/gpu-check.sh` (through the plan's JSON). Flag names from llama.cpp's `common/arg.cpp` at the commit
 * node-llama-cpp 3.21.1 ships.
 */

/** What a worker is started with, apart from where it listens and its key (added by the worker manager). */
export interface WorkerLaunchOptions {
  /** Path of the GGUF file (the first part of a split model). */
  modelPath: string;
  /** Context window of each sequence, tokens. llama-server's `-c` is the KV pool of all slots: `contextTokens × parallel`. */
  contextTokens: number;
  /** Slots decoded together (`-np`). */
  parallel: number;
  /** CPU threads (`-t`); always given, as moestro gives node-llama-cpp a thread count. */
  threads: number;
  /** Layers on the GPU (`-ngl`); 0 on a machine without a GPU. */
  gpuLayers: number;
  /** Layers (from the first) whose routed experts stay in host RAM (`--n-cpu-moe`); 0 leaves the flag out. */
  cpuMoeLayers: number;
  /** Flash attention (`-fa on|off`). */
  flashAttention: boolean;
  /** Tokens per evaluation batch (`-b`). */
  batchSize: number;
  /** Host-RAM prompt cache, MiB (`--cache-ram`); 0 turns it off. llama-server's own default is 8192. */
  cacheRamMiB: number;
  /** More arguments, appended last (models[].extraArgs): llama-server takes the last of a repeated flag. */
  extraArgs?: readonly string[];
}

/**
 * The llama-server arguments of a worker, without `--host`, `--port` and `--api-key`:
 * `-m FILE -c (contextTokens × parallel) -np N -t N -ngl N [--n-cpu-moe N] -fa on|off -b N --cache-ram MiB --metrics
 * --no-webui [extra…]`. `--metrics` makes `/metrics` answer (moestro scrapes it); `--no-webui` because clients reach
 * moestro, never the worker.
 *
 * @example
 * workerArgs({modelPath: "m.gguf", contextTokens: 4096, parallel: 4, threads: 8, gpuLayers: 95, cpuMoeLayers: 86,
 *   flashAttention: true, batchSize: 512, cacheRamMiB: 0})
 * // ["-m", "m.gguf", "-c", "16384", "-np", "4", "-t", "8", "-ngl", "95", "--n-cpu-moe", "86", "-fa", "on", ...]
 */
export function workerArgs(options: WorkerLaunchOptions): string[] {
  const args = [
    "-m",
    options.modelPath,
    "-c",
    String(options.contextTokens * options.parallel),
    "-np",
    String(options.parallel),
    "-t",
    String(options.threads),
    "-ngl",
    String(options.gpuLayers),
  ];
  if (options.cpuMoeLayers > 0) args.push("--n-cpu-moe", String(options.cpuMoeLayers));
  args.push(
    "-fa",
    options.flashAttention ? "on" : "off",
    "-b",
    String(options.batchSize),
    "--cache-ram",
    String(options.cacheRamMiB),
    "--metrics",
    "--no-webui",
  );
  args.push(...(options.extraArgs ?? []));
  return args;
}
