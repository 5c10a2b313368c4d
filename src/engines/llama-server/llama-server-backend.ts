import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type {
  BackendStats,
  EngineDetails,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  PlacementInfo,
  SpeculativeOptions,
  WorkerSpeculationInfo,
} from "../../spec/index.js";
import { MoestroError } from "../../errors/index.js";
import { SlotPool } from "../../util/slot-pool.js";
import { ContextCachePins } from "../context-cache.js";
import { EngineTimeClock } from "../engine-time.js";
import { Embeddings } from "../inproc/embeddings.js";
import { defaultMaxContextTokens, modelIdFromPath } from "../inproc/llama-backend.js";
import { createModelFrontend, type ModelFrontend } from "../inproc/model-frontend.js";
import { modelUnloadingError } from "../inproc/model-unloading-error.js";
import type { TokenSourceFactory } from "../inproc/token-source.js";
import { TokenRecovery } from "./token-recovery.js";
import { workerArgs, type WorkerLaunchOptions } from "./worker-args.js";
import { defaultMinAcceptance } from "../inproc/speculation.js";
import { AcceptanceWatch, defaultBackOffWindowTokens, resolveWorkerSpeculation, type AcceptanceWindow } from "./worker-speculation.js";
import { LlamaServerWorker } from "./worker-process.js";
import { workerTarget, type WorkerSlot, type WorkerTargetShared } from "./worker-target.js";
import { generateOnSlot, slotStats } from "../inproc/slot-generation.js";

/** Options of {@link createLlamaServerBackend}. */
export interface LlamaServerBackendOptions {
  /** The llama.cpp binding of this process: loads the vocabulary (never the weights) and compiles grammars. */
  llama: Llama;
  /** Path of the GGUF file. */
  modelPath: string;
  /** The id clients send as `model`. Defaults to the file name without `.gguf`. */
  id?: string;
  /**
   * The llama-server binary and what it says it is (`checkLlamaServerBinary`), with whether it sees a GPU
   * (`llamaServerSeesGpu`; absent when unknown: the GPU-layer flags are passed).
   */
  binary: { path: string; version: string; hasGpuDevice?: boolean };
  /** Context window of each slot, tokens. Defaults to the model's training context, capped at 4096 (as in-process). */
  contextTokens?: number;
  /** Slots decoded together (`-np`). Defaults to 4. */
  parallel?: number;
  /** CPU threads of the worker (`-t`). */
  threads: number;
  /** Where the weights go: layers on the GPU and layers whose experts stay in RAM, with a description for `ps`. */
  placement: PlacementInfo;
  /** Flash attention (`-fa on|off`). Defaults to true. */
  flashAttention?: boolean;
  /** Tokens per evaluation batch (`-b`). Defaults to 512. */
  batchSize?: number;
  /** Host-RAM prompt cache of the worker, bytes (`--cache-ram`, in MiB). Defaults to 0 (off). */
  cacheRamBytes?: number;
  /** More llama-server arguments (models[].extraArgs). */
  extraArgs?: readonly string[];
  /**
   * Speculative decoding (models[].speculative), server-wide in the worker (`resolveWorkerSpeculation`): ignored, with a
   * warning, on recurrent and hybrid models and with `byDefault: false`. A window of `backOffWindowTokens` drafted
   * tokens accepted below `minAcceptance` restarts the worker without it (`backOff`; see `AcceptanceWatch`). Defaults
   * to none.
   */
  speculative?: SpeculativeOptions;
  /**
   * What the scheduler's estimate counts for the draft model (`speculative.draftModel`), bytes: released from the
   * estimate (`releasedMemoryBytes`) once the worker backed off and runs without it. Defaults to 0.
   */
  draftMemoryBytes?: number;
  /**
   * How long a back-off's restart waits for the streams under way on the speculating process, ms
   * (`LlamaServerWorker.restartWith`). Defaults to 2 minutes (`defaultDrainTimeoutMs`).
   */
  backOffDrainTimeoutMs?: number;
  /** Requests that may wait for a free slot; one more is answered 503 `server_busy`. Defaults to 64. */
  maxQueuedRequests?: number;
  /** Whether the model thinks when a request does not say. Defaults to true. */
  thinkingByDefault?: boolean;
  /** How long the worker may take to load the model, ms. Defaults to 10 minutes. */
  readyTimeoutMs?: number;
  /** Test seam, as `LlamaBackendOptions.createTokenSource`. */
  createTokenSource?: TokenSourceFactory;
  logger: Logger;
  /** Clock for `created` fields and the explicit cache's TTL (`cache_control`), epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Serves a model through a managed llama-server worker (`LlamaServerWorker`): this process loads only the vocabulary
 * (`vocabOnly`), renders prompts and parses output exactly as the in-process engine does (`ModelFrontend`), and the
 * worker holds the weights, the KV cache and the sampling. Each of moestro's sequences is one of the worker's slots
 * (`-np`), held by one request at a time and chosen, as in-process, by the longest prefix it shares with the prompt.
 *
 * Embeddings load the weights in this process on first use (llama-server serves either completions or embeddings);
 * that memory is outside the worker's estimate (docs/engines.md).
 *
 * @throws {MoestroError} `worker_failed` when the worker does not start (with its last log lines); what loading the
 *   vocabulary throws.
 */
export async function createLlamaServerBackend(options: LlamaServerBackendOptions): Promise<ModelBackend> {
  const model = await options.llama.loadModel({ modelPath: options.modelPath, vocabOnly: true });
  try {
    // A vocabulary-only load has no hyperparameters (`trainContextSize` is 0 there): read the GGUF metadata instead.
    const contextTokens =
      options.contextTokens ?? Math.min(model.fileInsights.trainContextSize ?? defaultMaxContextTokens, defaultMaxContextTokens);
    const parallel = options.parallel ?? 4;
    const id = options.id ?? modelIdFromPath(options.modelPath);
    const slots: WorkerSlot[] = Array.from({ length: parallel }, (_, index) => ({ id: index, tokens: [] }));
    const { speculation, warning } = resolveWorkerSpeculation(
      options.speculative,
      {
        id,
        isRecurrentOrHybrid: model.fileInsights.isRecurrent || model.fileInsights.isHybrid,
        blockCount: Number(model.fileInfo.architectureMetadata.block_count ?? 0),
      },
      options.placement,
    );
    if (warning !== undefined) options.logger.warn({ model: id }, warning);
    const launch: WorkerLaunchOptions = {
      modelPath: options.modelPath,
      contextTokens,
      parallel,
      threads: options.threads,
      gpuLayers: options.placement.gpuLayers,
      hasGpuDevice: options.binary.hasGpuDevice,
      cpuMoeLayers: options.placement.cpuMoeLayers,
      flashAttention: options.flashAttention ?? true,
      batchSize: Math.min(options.batchSize ?? 512, contextTokens),
      cacheRamMiB: Math.floor((options.cacheRamBytes ?? 0) / 2 ** 20),
      speculation,
      extraArgs: options.extraArgs,
    };
    const args = workerArgs(launch);
    const worker = await LlamaServerWorker.start({
      binary: options.binary.path,
      version: options.binary.version,
      args,
      modelId: id,
      logger: options.logger,
      readyTimeoutMs: options.readyTimeoutMs,
      // A new process holds no KV cache: forget what the slots held.
      onRestarted: () => {
        for (const slot of slots) slot.tokens = [];
      },
    });
    return new LlamaServerBackend(model, worker, slots, { ...options, id, contextTokens, parallel, launch });
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/**
 * A free worker slot's score for a prompt (the pool takes the highest): the prompt tokens it holds, less a penalty
 * larger than any prompt when it holds a live pinned prefix (`cache_control`) the prompt does not share whole. llama-
 * server has no way to pin a prompt in its cache, so moestro keeps pinned prefixes in their slots as long as another
 * slot is free; when one must be overwritten, llama-server's `--cache-ram` keeps it under its own LRU
 * (docs/context-cache.md).
 *
 * @param sharedTokens - how many leading prompt tokens the slot holds.
 * @param pinnedTokens - the longest live pinned prefix the slot holds (0 when none).
 */
export function pinAwareSlotScore(sharedTokens: number, pinnedTokens: number): number {
  return pinnedTokens > sharedTokens ? sharedTokens - 2 ** 30 : sharedTokens;
}

class LlamaServerBackend implements ModelBackend {
  readonly info: ModelInfo;
  readonly #model: LlamaModel;
  readonly #worker: LlamaServerWorker;
  readonly #pool: SlotPool<WorkerSlot>;
  readonly #frontend: ModelFrontend;
  readonly #targetShared: WorkerTargetShared;
  readonly #options: LlamaServerBackendOptions & { launch: WorkerLaunchOptions };
  readonly #pins: ContextCachePins;
  /** The worker's speculation for `ps`; `undefined` when it was started without. */
  #speculation: WorkerSpeculationInfo | undefined;
  #embeddings: Promise<{ model: LlamaModel; embeddings: Embeddings }> | undefined;
  #disposed = false;

  constructor(
    model: LlamaModel,
    worker: LlamaServerWorker,
    slots: WorkerSlot[],
    options: LlamaServerBackendOptions & { id: string; contextTokens: number; parallel: number; launch: WorkerLaunchOptions },
  ) {
    this.#model = model;
    this.#worker = worker;
    this.#options = options;
    this.#pins = new ContextCachePins({ now: options.now });
    this.#pool = new SlotPool(slots, { maxWaiting: options.maxQueuedRequests ?? 64 });
    this.#frontend = createModelFrontend({
      llama: options.llama,
      model,
      modelPath: options.modelPath,
      id: options.id,
      contextTokens: options.contextTokens,
      parallelSequences: options.parallel,
      thinkingByDefault: options.thinkingByDefault,
      createTokenSource: options.createTokenSource,
      logger: options.logger,
      now: options.now ?? Date.now,
    });
    this.info = this.#frontend.info;
    const speculation = options.launch.speculation;
    this.#speculation = speculation === undefined ? undefined : { type: speculation.type };
    const tokenTypes = model.fileInfo.metadata.tokenizer?.ggml?.token_type as readonly number[] | undefined;
    const tokenBytes = this.#frontend.shared.tokenBytes;
    this.#targetShared = {
      hold: () => worker.hold(),
      ready: () => worker.ready(),
      tokenBytes,
      // GGUF token type 3 is a control token (llama.cpp `LLAMA_TOKEN_TYPE_CONTROL`).
      recovery: new TokenRecovery(tokenBytes, this.info.vocabularySize, (token) => tokenTypes?.[token] === 3),
      detokenize: (tokens) => model.detokenize(tokens, true),
      contextTokens: this.info.contextTokens,
      modelId: this.info.id,
      logger: options.logger,
      clock: new EngineTimeClock(),
      speculates: speculation !== undefined,
      acceptanceWatch:
        speculation === undefined
          ? undefined
          : new AcceptanceWatch({
              modelId: this.info.id,
              minAcceptance: options.speculative?.minAcceptance ?? defaultMinAcceptance,
              windowTokens: options.speculative?.backOffWindowTokens,
              backOff: options.speculative?.backOff ?? true,
              warn: (window, message) => options.logger.warn(window, message),
              onBackOff: (window, message) => this.#backOff(window, message),
            }),
    };
  }

  engine(): EngineDetails {
    const worker = this.#worker.info();
    return {
      kind: "llama-server",
      placement: this.#options.placement,
      worker: this.#speculation === undefined ? worker : { ...worker, speculation: structuredClone(this.#speculation) },
    };
  }

  releasedMemoryBytes(): number {
    return this.#speculation?.backedOff?.restartMs === undefined ? 0 : (this.#options.draftMemoryBytes ?? 0);
  }

  /**
   * Switches the worker's speculation off for good (`AcceptanceWatch`'s back-off): one warning, then a planned restart
   * without the speculative flags (`LlamaServerWorker.restartWith`: the streams under way finish first, new requests
   * wait). Once the new process is ready, the draft model's memory leaves the scheduler's estimate. A restart that
   * fails gives the worker up, as a failed crash restart does; requests then get its error.
   */
  #backOff(window: AcceptanceWindow, message: string): void {
    const { logger } = this.#options;
    const startedAt = performance.now();
    const backedOff: NonNullable<WorkerSpeculationInfo["backedOff"]> = {
      acceptance: window.acceptance,
      draftTokens: window.draftTokens,
      atMs: Date.now(),
    };
    this.#speculation = { ...this.#speculation!, backedOff };
    // New streams (after the restart, or resumed on the new process) neither ask for per-token timings nor count drafts.
    this.#targetShared.speculates = false;
    logger.warn({ ...window, windowTokens: this.#options.speculative?.backOffWindowTokens ?? defaultBackOffWindowTokens }, message);
    const args = workerArgs({ ...this.#options.launch, speculation: undefined });
    this.#worker.restartWith(args, { drainTimeoutMs: this.#options.backOffDrainTimeoutMs }).then(
      () => {
        // Unloaded meanwhile: the restart ended without starting a process.
        if (this.#disposed) return;
        const restartMs = Math.round(performance.now() - startedAt);
        if (this.#speculation?.backedOff === backedOff) backedOff.restartMs = restartMs;
        logger.info({ model: this.info.id, restartMs, pid: this.#worker.info().pid }, "llama-server worker restarted without speculation");
      },
      () => undefined, // `restartWith` logged it, and `ready()` gives requests its error.
    );
  }

  async scrapeMetrics(): Promise<string | undefined> {
    if (!this.#worker.isReady) return undefined;
    try {
      const response = await this.#worker.client.get("/metrics", { timeoutMs: 1_000 });
      return response.status === 200 ? response.text : undefined;
    } catch {
      return undefined;
    }
  }

  stats(): BackendStats {
    return slotStats(this.#frontend, this.#pool);
  }

  async generate(request: GenerateRequest): Promise<GenerationStream> {
    this.#ensureNotDisposed();
    if (this.#targetShared.speculates === true && request.logprobs !== undefined) {
      // llama-server sends no probabilities for the tokens of a speculative step (`result.probs` is left empty, "TODO"
      // in tools/server/server-context.cpp), and its speculation cannot be turned off per request.
      throw new MoestroError(
        "invalid_request",
        `Model '${this.info.id}' decodes speculatively in a llama-server worker (models[].speculative), which reports no log probabilities for drafted tokens: logprobs are not available on it. Ask without logprobs, or use a model without speculative decoding.`,
        { param: "logprobs" },
      );
    }
    return await generateOnSlot(
      {
        frontend: this.#frontend,
        pool: this.#pool,
        sharedPrefixLength: (slot, promptTokens) =>
          pinAwareSlotScore(commonPrefixLength(slot.tokens, promptTokens), this.#pins.pinnedLength(slot.tokens)),
        target: (slot) => workerTarget(slot, this.#targetShared),
        pins: this.#pins,
      },
      request,
    );
  }

  async countPromptTokens(request: GenerateRequest): Promise<number> {
    this.#ensureNotDisposed();
    return (await this.#frontend.preparer.prepare(request)).promptTokens.length;
  }

  async embed(
    inputs: ReadonlyArray<string | readonly number[]>,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number; engineTimeMs: number }> {
    this.#ensureNotDisposed();
    this.#embeddings ??= (async () => {
      this.#options.logger.info({ model: this.info.id }, "loading the weights in-process for embeddings (the worker serves completions)");
      const model = await this.#options.llama.loadModel({ modelPath: this.#options.modelPath, gpuLayers: 0 });
      const embeddings = new Embeddings({
        model,
        tokenizer: this.#frontend.tokenizer,
        contextTokens: this.info.contextTokens,
        vocabularySize: this.info.vocabularySize,
        threads: this.#options.threads,
      });
      return { model, embeddings };
    })();
    const { embeddings } = await this.#embeddings;
    return await embeddings.embed(inputs, options);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.rejectAll(modelUnloadingError());
    await this.#worker.stop();
    await this.#frontend.tokenizer.dispose();
    const embeddings = await this.#embeddings?.catch(() => undefined);
    if (embeddings) {
      await embeddings.embeddings.dispose();
      await embeddings.model.dispose();
    }
    await this.#model.dispose();
  }

  #ensureNotDisposed(): void {
    if (this.#disposed) throw modelUnloadingError();
  }
}

/** How many leading tokens `a` and `b` share. */
function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a[index] === b[index]) index++;
  return index;
}
