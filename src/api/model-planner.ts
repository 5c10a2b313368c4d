import type { ModelEntry } from "../spec/index.js";
import {
  createPlan,
  probeHost as probeHostDefault,
  readModelFacts,
  setupFromProbes,
  type GpuProbe,
  type HostProbe,
  type ModelFacts,
  type Plan,
} from "../planner/index.js";
import type { WireDeviceUsage, WireModelPlan } from "../wire/console.js";

/** Plans the server's models on the machine it runs on (`GET /v1/moestro/plan`). */
export interface ModelPlanner {
  /**
   * Reads the model's GGUF header and plans it on this machine for the server's context shape (docs/planner.md).
   *
   * @throws the planner's errors: `invalid_request` for a file that is not a GGUF, the file system's when it is gone.
   */
  plan(entry: ModelEntry): Promise<WireModelPlan>;
  /**
   * The decode speeds the plan predicts for the model on this machine, tokens per second: one sequence alone, and all
   * the server's sequences together (a busy server); for the usage report's predicted cost per 1M output tokens.
   * Optional (test planners leave it out).
   *
   * @throws as {@link plan}.
   */
  decodeSpeeds?(entry: ModelEntry): Promise<{ singleTokensPerSecond: number; aggregateTokensPerSecond: number } | undefined>;
}

/** Options of {@link createModelPlanner}. */
export interface ModelPlannerOptions {
  /** Context window per sequence, tokens (the server's `--ctx-size`). Defaults to the model's, at most 4096. */
  contextTokens?: number;
  /** Sequences per model (the server's `--parallel`). Defaults to 4. */
  sequences?: number;
  /** Tokens per micro-batch (the server's `--batch-size`). Defaults to 512. */
  batchTokens?: number;
  /** CPU threads of a worker (the server's `engine.threads`), for the plan's `workerArgs`. Defaults to 1. */
  threads?: number;
  /** Probes this machine's CPU and RAM. Defaults to the planner's `probeHost` (copy bandwidth measured once, then reused). */
  probeHost?: (options: { measureBandwidth: boolean }) => Promise<HostProbe>;
  /** Probes the GPU. Defaults to none (CPU only); the server passes one built on its own llama.cpp binding. */
  probeGpu?: () => Promise<GpuProbe | undefined>;
}

/**
 * Creates a {@link ModelPlanner}. Facts are read once per file path (a header read, no weights); the host's copy
 * bandwidth is measured on the first plan and reused, while free RAM and VRAM are read on every plan, since loaded
 * models change them.
 */
export function createModelPlanner(options: ModelPlannerOptions = {}): ModelPlanner {
  const probeHost = options.probeHost ?? probeHostDefault;
  const factsByPath = new Map<string, Promise<ModelFacts>>();
  let bandwidthBytesPerSecond: number | undefined;
  const planOf = async (entry: ModelEntry): Promise<{ facts: ModelFacts; plan: Plan }> => {
    let facts = factsByPath.get(entry.path);
    if (facts === undefined) {
      facts = readModelFacts(entry.path, { detectChat: false });
      factsByPath.set(entry.path, facts);
      facts.catch(() => factsByPath.delete(entry.path));
    }
    const host = await probeHost({ measureBandwidth: bandwidthBytesPerSecond === undefined });
    bandwidthBytesPerSecond ??= host.bandwidthBytesPerSecond;
    const gpu = await options.probeGpu?.();
    const setup = setupFromProbes({ ...host, bandwidthBytesPerSecond: host.bandwidthBytesPerSecond ?? bandwidthBytesPerSecond }, gpu);
    const plan = createPlan(await facts, setup, {
      contextTokens: options.contextTokens,
      sequences: options.sequences,
      batchTokens: options.batchTokens,
      threads: options.threads,
    });
    return { facts: await facts, plan };
  };
  return {
    async plan(entry) {
      const { facts, plan } = await planOf(entry);
      return toWireModelPlan(entry.id, facts, plan);
    },
    async decodeSpeeds(entry) {
      const { plan } = await planOf(entry);
      if (plan.speed === null) return undefined;
      return {
        singleTokensPerSecond: plan.speed.decodeTokensPerSecond,
        aggregateTokensPerSecond: plan.speed.aggregateDecodeTokensPerSecond,
      };
    },
  };
}

/** A plan as `GET /v1/moestro/plan` shows it. */
export function toWireModelPlan(modelId: string, facts: ModelFacts, plan: Plan): WireModelPlan {
  const { memory, placement } = plan;
  const device = (name: string, usage: NonNullable<Plan["placement"]["gpu"]>): WireDeviceUsage => ({
    name,
    budget_bytes: usage.budgetBytes,
    weights_bytes: usage.weightsBytes,
    cache_bytes: usage.cacheBytes,
    compute_bytes: usage.computeBytes,
    total_bytes: usage.totalBytes,
  });
  return {
    object: "moestro.plan",
    model: modelId,
    facts: {
      name: facts.name,
      architecture: facts.architecture,
      file_type: facts.fileType ?? null,
      file_size_bytes: facts.fileSizeBytes ?? null,
      context_tokens: facts.contextTokens ?? null,
      layer_count: facts.layerCount,
      total_parameters: facts.parameters.total,
      active_parameters: facts.parameters.active,
      expert_count: facts.moe?.expertCount ?? null,
      expert_used_count: facts.moe?.expertUsedCount ?? null,
      shared_expert_count: facts.moe?.sharedExpertCount ?? null,
      weights_bytes: facts.weights.totalBytes,
      routed_expert_bytes: facts.weights.routedExpertBytes,
      active_bytes_per_token: facts.activeBytesPerToken,
      quantization: facts.quantization.map((share) => ({
        type: share.type,
        tensor_count: share.tensorCount,
        parameters: share.parameters,
        size_bytes: share.sizeBytes,
      })),
    },
    hardware: { name: plan.hardware.name, sources: [...plan.hardware.sources] },
    memory: {
      context_tokens: memory.contextTokens,
      sequences: memory.sequences,
      weights_bytes: memory.weightsBytes,
      kv_cache_bytes: memory.kvCacheBytes,
      recurrent_state_bytes: memory.recurrentStateBytes,
      compute_buffer_bytes: memory.computeBufferBytes,
      output_buffer_bytes: memory.outputBufferBytes,
      total_bytes:
        memory.weightsBytes + memory.kvCacheBytes + memory.recurrentStateBytes + memory.computeBufferBytes + memory.outputBufferBytes,
    },
    placement: {
      kind: placement.kind,
      fits: placement.fits,
      reason: placement.reason ?? null,
      description: placement.description,
      gpu_layers: placement.gpuLayers,
      cpu_expert_layers: placement.cpuExpertLayers,
      gpu: placement.gpu === undefined ? null : device(plan.hardware.gpu?.name ?? "GPU", placement.gpu),
      host: device(plan.hardware.host.name, placement.host),
    },
    decode_tokens_per_second: plan.decodeTokensPerSecond,
    prefill_tokens_per_second: plan.prefillTokensPerSecond,
    llama_server_args: [...plan.llamaServerArgs],
    worker_args: [...plan.workerArgs],
    cloud:
      plan.cost.cloud === undefined
        ? null
        : { model: plan.cost.cloud.price.model, output_micro_usd_per_million_tokens: plan.cost.cloud.outputMicroUsdPerMillionTokens },
    assumptions: [...plan.assumptions],
  };
}
