import { GgufInsights, readGgufFileInfo, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";
import type { Config } from "../config/index.js";
import { probeHost, probeLlamaGpu, setupFromProbes } from "../planner/index.js";
import type { ModelBackend, ModelEntry } from "../spec/index.js";
import { MoestroError } from "../errors/index.js";
import {
  chooseEngine,
  engineBuildCommand,
  planOnThisMachine,
  workerMemoryBytes,
  type EngineChoice,
  type WorkerPlan,
} from "./engine-choice.js";
import { createLlamaBackend, defaultMaxContextTokens } from "./inproc/llama-backend.js";
import { cacheRamBytesForModel, estimateModelMemoryBytes } from "./inproc/memory-estimate.js";
import { checkLlamaServerBinary, llamaServerSeesGpu, resolveLlamaServer } from "./llama-server/binary.js";
import { createLlamaServerBackend } from "./llama-server/llama-server-backend.js";
import { resolveWorkerSpeculation } from "./llama-server/worker-speculation.js";
import type { ModelSchedulerDeps } from "./model-scheduler.js";

/** Options of {@link createModelLoader}. */
export interface ModelLoaderOptions {
  config: Config;
  /** This process's llama.cpp binding (in-process models, and the vocabulary of worker models). */
  llama: Llama;
  /** moestro's data folder (`home/engines` holds built llama-server binaries). */
  home: string;
  logger: Logger;
  now?: () => number;
}

/** What the scheduler calls to load a model and to estimate it, whichever engine serves it. */
export type ModelLoader = Pick<ModelSchedulerDeps, "loadModel" | "estimateMemoryBytes"> & {
  /**
   * Resolves and checks the llama-server binary now when the config names one (`engine.llamaServer`) or asks for
   * workers (`engine.kind: llama-server`), so that a bad one is reported at start, not at a model's first load.
   *
   * @throws `checkLlamaServerBinary`'s error; `invalid_request` when workers are asked for and there is no binary.
   */
  checkBinary(): Promise<void>;
};

/**
 * Loads models on the engine each one gets (`chooseEngine`, docs/engines.md#choosing-the-engine): in-process with
 * node-llama-cpp, or in a llama-server worker started with the planner's placement for this machine. The choice is
 * made once per model path and kept, so that the memory estimate and the load agree. The llama-server binary is
 * resolved and checked (`--version`) when a model first needs it: `engine.llamaServer`, else the newest build in
 * `home/engines`.
 *
 * @throws from `loadModel`: what the engine's load throws; {@link chooseEngine}'s error when a worker is asked for and
 *   no binary exists; `checkLlamaServerBinary`'s error for a bad `--llama-server`.
 */
export function createModelLoader(options: ModelLoaderOptions): ModelLoader {
  const { config, llama, logger } = options;
  const engine = config.engine;
  const shape = { contextTokens: engine.contextTokens, parallel: engine.parallel, batchSize: engine.batchSize };
  // `workerCacheRamBytes`: the deprecated name of the setting, read when the new one is not set.
  const cacheShape = { ...shape, cacheRamBytes: engine.cacheRamBytes ?? engine.workerCacheRamBytes };
  const cacheRamBytes = (path: string) => cacheRamBytesForModel(llama, path, cacheShape);
  let binary: Promise<{ path: string; version: string; hasGpuDevice?: boolean } | undefined> | undefined;
  const getBinary = () =>
    (binary ??= (async () => {
      const found = await resolveLlamaServer({ configured: engine.llamaServer, home: options.home });
      if (found === undefined) return undefined;
      const checked = await checkLlamaServerBinary(found);
      // A binary without a GPU device gets no GPU-layer flags (it would warn for each: worker-args.ts).
      const hasGpuDevice = await llamaServerSeesGpu(checked.path);
      logger.info({ binary: checked.path, version: checked.version, hasGpuDevice }, "llama-server binary for workers");
      return hasGpuDevice === undefined ? checked : { ...checked, hasGpuDevice };
    })());
  let setup: ReturnType<typeof thisMachine> | undefined;
  const thisMachine = async () => setupFromProbes(await probeHost({ measureBandwidth: false }), await probeLlamaGpu(llama));
  const plans = new Map<string, Promise<WorkerPlan>>();
  const plan = (path: string): Promise<WorkerPlan> => {
    let planned = plans.get(path);
    if (planned === undefined) {
      planned = (async () => planOnThisMachine(path, await (setup ??= thisMachine()), shape))();
      plans.set(path, planned);
      planned.catch(() => plans.delete(path));
    }
    return planned;
  };
  const choices = new Map<string, Promise<EngineChoice>>();
  const choose = (entry: ModelEntry): Promise<EngineChoice> => {
    const key = `${entry.id}\u0000${entry.path}`;
    let chosen = choices.get(key);
    if (chosen === undefined) {
      chosen = (async () => {
        const requested = entry.engine?.kind ?? engine.kind;
        // A binary is looked for only when a worker could be chosen: `inproc` never needs one.
        const binaryAvailable = requested === "inproc" ? false : (await getBinary()) !== undefined;
        const choice = await chooseEngine({
          requested,
          hasGpu: llama.gpu !== false,
          binaryAvailable,
          plannedPlacement: () => plan(entry.path),
          overrides: { gpuLayers: entry.engine?.gpuLayers, cpuMoeLayers: entry.engine?.cpuMoeLayers },
          modelId: entry.id,
        });
        if (choice.warning) logger.warn({ model: entry.id }, choice.warning);
        logger.info({ model: entry.id, engine: choice.kind, placement: choice.placement.description, why: choice.reason }, "engine chosen");
        return choice;
      })();
      choices.set(key, chosen);
      chosen.catch(() => choices.delete(key));
    }
    return chosen;
  };

  /**
   * A worker's draft model (models[].speculative with a draft model, applied as `resolveWorkerSpeculation` decides):
   * its weights, KV cache and compute buffers with the target's context shape (llama-server gives the draft the same
   * `-c` and `-np`), as the in-process engine counts its draft; 0 without one.
   */
  const workerDraftBytes = async (entry: ModelEntry, placement: EngineChoice["placement"]): Promise<number> => {
    if (entry.speculative?.type !== "draft") return 0;
    const info = await readGgufFileInfo(entry.path);
    const insights = await GgufInsights.from(info, llama);
    const { speculation } = resolveWorkerSpeculation(
      entry.speculative,
      {
        id: entry.id,
        isRecurrentOrHybrid: insights.isRecurrent || insights.isHybrid,
        blockCount: Number(info.architectureMetadata.block_count ?? 0),
      },
      placement,
    );
    if (speculation?.type !== "draft") return 0;
    const contextTokens = engine.contextTokens ?? Math.min(insights.trainContextSize ?? defaultMaxContextTokens, defaultMaxContextTokens);
    return await estimateModelMemoryBytes(llama, speculation.draftModelPath, {
      ...shape,
      contextTokens,
      withTokenizerProcess: false,
      cacheRamBytes: 0,
    });
  };

  return {
    async checkBinary() {
      if (engine.llamaServer === undefined && engine.kind !== "llama-server") return;
      if ((await getBinary()) === undefined) {
        throw new MoestroError(
          "invalid_request",
          `models are to be served by llama-server workers (engine.kind llama-server), and there is no llama-server binary: build one with \`${engineBuildCommand}\` (about 15 minutes on 2 cores), or give one with --llama-server PATH.`,
          { param: "engine" },
        );
      }
    },
    async estimateMemoryBytes(entry) {
      const choice = await choose(entry);
      if (choice.kind === "inproc") {
        // A draft model is loaded with the model, with a context of the same shape: its weights and KV cache count too.
        const draftModelPath = entry.speculative?.type === "draft" ? entry.speculative.draftModel : undefined;
        return await estimateModelMemoryBytes(llama, entry.path, { ...cacheShape, draftModelPath });
      }
      const planned = await plan(entry.path);
      return (
        workerMemoryBytes(planned.workerBytes, await cacheRamBytes(entry.path), planned.vocabularyTokens) +
        (await workerDraftBytes(entry, choice.placement))
      );
    },
    async loadModel(entry): Promise<ModelBackend> {
      const choice = await choose(entry);
      const common = {
        llama,
        modelPath: entry.path,
        id: entry.id,
        threads: engine.threads!,
        parallel: engine.parallel,
        contextTokens: engine.contextTokens,
        batchSize: engine.batchSize,
        flashAttention: engine.flashAttention,
        maxQueuedRequests: engine.maxQueuedRequests,
        thinkingByDefault: entry.thinking ?? engine.thinking,
        cacheRamBytes: await cacheRamBytes(entry.path),
        logger,
        now: options.now,
      };
      const backend =
        choice.kind === "inproc"
          ? await createLlamaBackend({ ...common, speculative: entry.speculative, sharedPrefill: engine.sharedPrefill })
          : await createLlamaServerBackend({
              ...common,
              binary: (await getBinary())!,
              placement: choice.placement,
              extraArgs: entry.engine?.extraArgs,
              speculative: entry.speculative,
              // Released from the estimate when the worker backs off its speculation.
              draftMemoryBytes: await workerDraftBytes(entry, choice.placement),
            });
      logger.info(
        {
          model: backend.info.id,
          engine: choice.kind,
          architecture: backend.info.architecture,
          contextTokens: backend.info.contextTokens,
          parallel: backend.info.parallelSequences,
          chatWrapper: backend.info.chatWrapperName,
          cacheRamBytes: common.cacheRamBytes,
          ...(choice.kind === "llama-server" ? { pid: backend.engine().worker?.pid } : {}),
        },
        "model ready",
      );
      return backend;
    },
  };
}
