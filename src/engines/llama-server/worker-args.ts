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
  /**
   * Whether the binary sees a GPU (`llamaServerSeesGpu`: its `--list-devices`). `false` leaves `-ngl` and
   * `--spec-draft-ngl` out: a binary without a device ignores them and warns "no usable GPU found" for each, three lines
   * apiece. Defaults to true (unknown): the flags are passed, since llama-server's own default is `auto` (offload what
   * fits), not 0.
   */
  hasGpuDevice?: boolean;
  /** Layers (from the first) whose routed experts stay in host RAM (`--n-cpu-moe`); 0 leaves the flag out. */
  cpuMoeLayers: number;
  /** Flash attention (`-fa on|off`). */
  flashAttention: boolean;
  /** Tokens per evaluation batch (`-b`). */
  batchSize: number;
  /** Host-RAM prompt cache, MiB (`--cache-ram`); 0 turns it off. llama-server's own default is 8192. */
  cacheRamMiB: number;
  /** Speculative decoding of every slot ({@link WorkerSpeculation}); none when absent. */
  speculation?: WorkerSpeculation;
  /** More arguments, appended last (models[].extraArgs): llama-server takes the last of a repeated flag. */
  extraArgs?: readonly string[];
}

/**
 * A worker's speculative decoding, from models[].speculative (docs/engine.md, "Speculative decoding"). llama-server
 * speculates server-wide, for every slot and every request (its per-request fields are compiled out in this build).
 */
export type WorkerSpeculation =
  | {
      /**
       * Prompt lookup: llama.cpp's `ngram-simple`, which looks the last `patternTokens` tokens (the last sampled one
       * included) up in the slot's whole text (prompt and output, the latest occurrence first) and drafts the tokens
       * that followed.
       */
      type: "ngram";
      /** The most tokens drafted per step (`--spec-ngram-simple-size-m`). */
      maxDraftTokens: number;
      /** The length of the pattern looked up (`--spec-ngram-simple-size-n`, 1 to 1024). */
      patternTokens: number;
    }
  | {
      /** A draft model (llama.cpp's `draft-simple`, `--spec-draft-model`). */
      type: "draft";
      /** Path of the draft model's GGUF file. */
      draftModelPath: string;
      /** The most tokens drafted per step (`--spec-draft-n-max`). */
      maxDraftTokens: number;
      /** Drafting stops at a token whose draft probability is lower (`--spec-draft-p-min`, 0 to 1). */
      minConfidence: number;
      /**
       * The draft model's layers on the GPU (`--spec-draft-ngl`): `"all"` or a count. Its context has the target's
       * shape (llama-server gives it the same `-c` and `-np`), and it runs on the worker's thread count.
       */
      gpuLayers: number | "all";
    };

/**
 * The llama-server arguments of a worker, without `--host`, `--port` and `--api-key`:
 * `-m FILE -c (contextTokens × parallel) -np N -t N [-ngl N] [--n-cpu-moe N] -fa on|off -b N --cache-ram MiB --metrics
 * --no-webui [speculation…] [extra…]`; `-ngl` (and the draft's `--spec-draft-ngl`) only when the binary may see a GPU
 * (`hasGpuDevice` not false). `--metrics` makes `/metrics` answer (moestro scrapes it); `--no-webui` because
 * clients reach moestro, never the worker. Speculation (flags of `common/arg.cpp`):
 * - ngram: `--spec-type ngram-simple --spec-ngram-simple-size-n P --spec-ngram-simple-size-m N`;
 * - draft: `--spec-type draft-simple --spec-draft-model FILE --spec-draft-n-max N --spec-draft-n-min 0
 *   --spec-draft-p-min P [--spec-draft-ngl L] --spec-draft-threads T --spec-draft-threads-batch T` (the draft runs on the
 *   worker's thread count, given explicitly as every thread count is).
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
  ];
  const hasGpuDevice = options.hasGpuDevice !== false;
  if (hasGpuDevice) args.push("-ngl", String(options.gpuLayers));
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
  args.push(...speculationArgs(options.speculation, options.threads, hasGpuDevice));
  args.push(...(options.extraArgs ?? []));
  return args;
}

/** The speculative decoding flags of {@link workerArgs}; none without speculation. */
function speculationArgs(speculation: WorkerSpeculation | undefined, threads: number, hasGpuDevice: boolean): string[] {
  if (speculation === undefined) return [];
  if (speculation.type === "ngram") {
    return [
      "--spec-type",
      "ngram-simple",
      "--spec-ngram-simple-size-n",
      String(speculation.patternTokens),
      "--spec-ngram-simple-size-m",
      String(speculation.maxDraftTokens),
    ];
  }
  return [
    "--spec-type",
    "draft-simple",
    "--spec-draft-model",
    speculation.draftModelPath,
    "--spec-draft-n-max",
    String(speculation.maxDraftTokens),
    "--spec-draft-n-min",
    "0",
    "--spec-draft-p-min",
    String(speculation.minConfidence),
    ...(hasGpuDevice ? ["--spec-draft-ngl", String(speculation.gpuLayers)] : []),
    "--spec-draft-threads",
    String(threads),
    "--spec-draft-threads-batch",
    String(threads),
  ];
}
