import { Command, InvalidArgumentError } from "commander";
import { availableCores, defaultThreadCount, physicalCores } from "../../config/schema.js";
import { MoestroError } from "../../errors/index.js";
import { defaultMoestroHome, ModelStore } from "../../models/model-store.js";
import {
  applyHardwareOverrides,
  calibrate,
  createStoreModelResolver,
  createPlan,
  hardwareCatalog,
  measureThroughput,
  parseBandwidthBytesPerSecond,
  parseSizeBytes,
  probeGpu,
  probeHost,
  readModelFacts,
  renderComparison,
  renderPlan,
  setupFromCatalog,
  setupFromProbes,
  formatBandwidth,
  formatBytes,
  type Calibration,
  type GpuProbe,
  type HardwareOverrides,
  type HardwareSetup,
  type HostProbe,
  type MeasureOptions,
  type StoredModelResolver,
  type ThroughputMeasurement,
} from "../../planner/index.js";
import { parseInteger } from "../parse.js";

/** What `moestro plan` needs from outside; tests swap them. */
export interface PlanCommandDeps {
  /** Writes to stdout. Defaults to `process.stdout.write`. */
  write?: (text: string) => void;
  /** Environment for `HF_ENDPOINT` and `HF_TOKEN`. Defaults to `process.env`, read when the command runs. */
  env?: Record<string, string | undefined>;
  /** Probes this machine's CPU and RAM. Defaults to `probeHost`. */
  probeHost?: (options: { measureBandwidth: boolean }) => Promise<HostProbe>;
  /** Probes this machine's GPU. Defaults to `probeGpu` (node-llama-cpp). */
  probeGpu?: () => Promise<GpuProbe | undefined>;
  /** Runs the `--measure` prefill and decode. Defaults to `measureThroughput` (node-llama-cpp). */
  measure?: (modelPath: string, options: MeasureOptions) => Promise<ThroughputMeasurement>;
  /** Resolves names of the local store (see `StoredModelResolver`). Defaults to the store in `$MOESTRO_HOME` (`~/.moestro`). */
  resolveStoredModel?: StoredModelResolver;
}

interface PlanFlags {
  ram?: number;
  vram?: number;
  memBandwidth?: number;
  vramBandwidth?: number;
  ctx?: number;
  parallel?: number;
  batchSize?: number;
  watts?: number;
  priceKwh?: number;
  hourlyUsd?: number;
  hardware?: string;
  compare?: string[];
  measure?: boolean;
  threads?: number;
  json?: boolean;
  hubEndpoint?: string;
  listHardware?: boolean;
}

function commanderParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

function parsePositiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || value.trim() === "") throw new RangeError(`'${value}' is not a non-negative number.`);
  return number;
}

function parsePositiveInteger(value: string): number {
  const number = parseInteger(value);
  if (number < 1) throw new InvalidArgumentError(`'${value}' must be 1 or more.`);
  return number;
}

function renderCatalog(): string {
  const lines = hardwareCatalog.map(
    (entry) =>
      `${entry.id.padEnd(10)} ${entry.kind.padEnd(8)} ${formatBytes(entry.memoryBytes).padStart(9)} ${formatBandwidth(entry.bandwidthBytesPerSecond).padStart(10)} ${`${entry.typicalPowerWatts} W`.padStart(6)}  ${entry.name}`,
  );
  return `${"id".padEnd(10)} ${"kind".padEnd(8)} ${"memory".padStart(9)} ${"bandwidth".padStart(10)} ${"power".padStart(6)}  name\n${lines.join("\n")}\n`;
}

/**
 * `moestro plan <model>`: will the model fit, where should its experts live, how fast and how costly will it run.
 * Works from the GGUF header; `--measure` also runs a short real prefill and decode on this machine.
 */
export function createPlanCommand(deps: PlanCommandDeps = {}): Command {
  return new Command("plan")
    .description(
      "Plan where a model's weights and experts go, whether it fits, and its decode and prefill speed and cost, from the GGUF header.",
    )
    .argument("[model]", "a .gguf path, a pulled model's name, or a hub reference (hf:owner/repo:QUANT)")
    .option("--hardware <name>", "take the figures from the built-in catalog (see --list-hardware) instead of this machine")
    .option("--compare <names>", "one row per catalog entry, comma-separated (h20,a100,h100)", (value: string) =>
      value
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .option("--ram <size>", "host RAM (24GiB, 64GB, 512MiB); default: this machine's available RAM", commanderParser(parseSizeBytes))
    .option(
      "--vram <size>",
      "GPU memory; 0 for no GPU; default: this machine's free VRAM (a GPU added this way gets an RTX 4090's bandwidth and FLOP/s for the speeds)",
      commanderParser(parseSizeBytes),
    )
    .option(
      "--mem-bandwidth <GB/s>",
      "host (or unified) memory bandwidth, taken as effective; default: measured copy bandwidth",
      commanderParser(parseBandwidthBytesPerSecond),
    )
    .option("--vram-bandwidth <GB/s>", "GPU memory bandwidth, taken as effective", commanderParser(parseBandwidthBytesPerSecond))
    .option("-c, --ctx <tokens>", "context window per sequence (default: the model's, at most 4096)", parsePositiveInteger)
    .option("--parallel <n>", "sequences decoded together; each has its own KV cache (default 4, as moestro serve)", parsePositiveInteger)
    .option("-b, --batch-size <tokens>", "tokens per micro-batch, sizes the compute buffer (default 512)", parsePositiveInteger)
    .option(
      "--watts <W>",
      "power drawn while decoding (default: the hardware's typical power, when known)",
      commanderParser(parsePositiveNumber),
    )
    .option("--price-kwh <USD>", "electricity price per kWh, for the cost per 1M output tokens", commanderParser(parsePositiveNumber))
    .option("--hourly-usd <USD>", "machine price per hour, for the cost per 1M output tokens", commanderParser(parsePositiveNumber))
    .option(
      "--measure",
      "also run a short real prefill and decode on this machine, calibrate the per-token overhead or the effective bandwidth, and plan with them",
    )
    .option(
      "-t, --threads <n>",
      "CPU threads of the worker (-t in the llama-server line) and of --measure (default: as moestro serve, the physical cores minus one)",
      parsePositiveInteger,
    )
    .option("--hub-endpoint <url>", "hub base URL (env HF_ENDPOINT, default https://huggingface.co)")
    .option("--list-hardware", "print the hardware catalog and exit")
    .option(
      "--json",
      "print the plan as JSON (top-level fits, reason, decodeTokensPerSecond, prefillTokensPerSecond, workerArgs: the worker's llama-server arguments)",
    )
    .action(async (model: string | undefined, flags: PlanFlags) => {
      const write = deps.write ?? ((text: string) => void process.stdout.write(text));
      if (flags.listHardware) {
        write(flags.json ? `${JSON.stringify(hardwareCatalog, null, 2)}\n` : renderCatalog());
        return;
      }
      if (model === undefined)
        throw new MoestroError("invalid_request", "Give a model: moestro plan ./model.gguf (or hf:owner/repo:QUANT).", { param: "model" });
      if (flags.measure && (flags.hardware !== undefined || flags.compare !== undefined)) {
        throw new MoestroError("invalid_request", "--measure runs on this machine; leave out --hardware and --compare.", {
          param: "measure",
        });
      }
      const env = deps.env ?? process.env;
      const facts = await readModelFacts(model, {
        hubEndpoint: flags.hubEndpoint ?? env.HF_ENDPOINT,
        hubToken: env.HF_TOKEN,
        resolveStoredModel: deps.resolveStoredModel ?? createStoreModelResolver(new ModelStore(defaultMoestroHome(env))),
        detectChat: false,
      });
      const overrides: HardwareOverrides = {
        ramBytes: flags.ram,
        vramBytes: flags.vram,
        memBandwidthBytesPerSecond: flags.memBandwidth,
        vramBandwidthBytesPerSecond: flags.vramBandwidth,
        powerWatts: flags.watts,
      };
      const planOptions = {
        contextTokens: flags.ctx,
        sequences: flags.parallel,
        batchTokens: flags.batchSize,
        powerWatts: flags.watts,
        pricePerKwhUsd: flags.priceKwh,
        hourlyUsd: flags.hourlyUsd,
        // As `moestro serve` (src/config/load-config.ts): every physical core but one, never more than are available.
        threads:
          flags.threads ?? Math.min(defaultThreadCount({ physical: physicalCores(), available: availableCores() }), availableCores()),
      };

      if (flags.compare !== undefined) {
        const plans = flags.compare.map((name) =>
          createPlan(facts, applyHardwareOverrides(setupFromCatalog(name), overrides), planOptions),
        );
        write(flags.json ? `${JSON.stringify({ plans }, null, 2)}\n` : renderComparison(plans));
        return;
      }

      let setup: HardwareSetup;
      if (flags.hardware !== undefined) setup = setupFromCatalog(flags.hardware);
      else {
        const host = await (deps.probeHost ?? probeHost)({ measureBandwidth: flags.memBandwidth === undefined });
        const gpu = flags.vram === undefined ? await (deps.probeGpu ?? probeGpu)() : undefined;
        setup = setupFromProbes(host, gpu);
      }
      setup = applyHardwareOverrides(setup, overrides);
      let plan = createPlan(facts, setup, planOptions);

      let calibration: Calibration | undefined;
      if (flags.measure) {
        if (facts.source.kind !== "file")
          throw new MoestroError("invalid_request", "--measure needs a local .gguf file (hub models are not downloaded).", {
            param: "measure",
          });
        const onGpu = plan.placement.kind === "gpu" && setup.gpu !== undefined;
        const measured = await (deps.measure ?? measureThroughput)(facts.source.path, {
          threads: planOptions.threads,
          gpuLayers: onGpu ? "max" : 0,
        });
        calibration = calibrate(facts, setup, measured);
        plan = createPlan(facts, calibration.calibratedSetup, planOptions);
      }
      if (flags.json) {
        const measure = calibration === undefined ? undefined : { ...calibration, calibratedSetup: undefined };
        write(`${JSON.stringify({ ...plan, ...(measure ? { measure } : {}) }, null, 2)}\n`);
      } else write(renderPlan(plan, calibration));
    });
}
