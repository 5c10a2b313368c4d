import { GgufInsights, readGgufFileInfo, type GgufFileInfo, type Llama } from "node-llama-cpp";
import { defaultMaxContextTokens } from "./llama-backend.js";
import { defaultCacheRamBytes } from "../prefix-cache-budget.js";

export { defaultCacheRamBytes, maxDefaultCacheRamBytes } from "../prefix-cache-budget.js";

/** The context a model will be loaded with, as in `createLlamaBackend`. */
export interface ContextShape {
  /** Context window per sequence, tokens; defaults to the model's training context capped at 4096. */
  contextTokens?: number;
  /** Sequences. */
  parallel: number;
  /** Tokens per batch. */
  batchSize: number;
  /** The prefix cache's budget, bytes (`engine.cacheRamBytes`); defaults to {@link defaultCacheRamBytes}. */
  cacheRamBytes?: number;
  /** Whether to count the model's tokenizer process (a draft model has none). Defaults to true. */
  withTokenizerProcess?: boolean;
  /**
   * A speculative draft model loaded with the model (models[].speculative.draftModel): its weights and a context of the
   * same shape (the model's context window, `parallel` sequences) are added. Defaults to none.
   */
  draftModelPath?: string;
}

/**
 * The KV cache of one token in one sequence, bytes, from the GGUF header: for each layer, keys and values of every KV
 * head at 16 bits (llama.cpp's default F16 cache): `layers x kvHeads x (keyLength + valueLength) x 2`. The head sizes
 * default to `embedding_length / head_count` where the header has no `key_length`/`value_length` (llama models).
 * 0 when the header lacks the figures.
 */
export function estimateKvBytesPerToken(info: GgufFileInfo): number {
  const architecture = info.metadata.general?.architecture;
  const fields = (architecture === undefined ? undefined : (info.metadata as Record<string, unknown>)[architecture]) as
    | { block_count?: number; embedding_length?: number; attention?: Record<string, unknown> }
    | undefined;
  const attention = fields?.attention ?? {};
  const layers = fields?.block_count ?? 0;
  const heads = Number(attention.head_count ?? 0);
  const kvHeads = Number(attention.head_count_kv ?? heads);
  const headLength = heads > 0 && fields?.embedding_length ? fields.embedding_length / heads : 0;
  const keyLength = Number(attention.key_length ?? headLength);
  const valueLength = Number(attention.value_length ?? headLength);
  return Math.round(layers * kvHeads * (keyLength + valueLength) * 2) || 0;
}

/**
 * The prefix cache budget a model gets with `shape`, bytes: `shape.cacheRamBytes` when given, else
 * {@link defaultCacheRamBytes}; 0 for recurrent and hybrid models, whose state the in-process engine cannot cut to a
 * prefix (the cache is off there).
 */
export function resolveCacheRamBytes(info: GgufFileInfo, insights: GgufInsights, shape: ContextShape): number {
  if (insights.isRecurrent || insights.isHybrid) return 0;
  if (shape.cacheRamBytes !== undefined) return shape.cacheRamBytes;
  const contextTokens = shape.contextTokens ?? Math.min(insights.trainContextSize ?? defaultMaxContextTokens, defaultMaxContextTokens);
  return defaultCacheRamBytes(estimateKvBytesPerToken(info), contextTokens, shape.parallel);
}

/**
 * {@link resolveCacheRamBytes} from the model's file (reads only its GGUF header).
 *
 * @throws when the file cannot be read as GGUF.
 */
export async function cacheRamBytesForModel(llama: Llama, modelPath: string, shape: ContextShape): Promise<number> {
  const info = await readGgufFileInfo(modelPath);
  return resolveCacheRamBytes(info, await GgufInsights.from(info, llama), shape);
}

const tokenizerProcessFixedBytes = 100 * 1024 * 1024;
const tokenizerProcessBytesPerToken = 1100;

/**
 * The memory of a model's tokenizer process (`tokenizer-process.js`, one per loaded model): a Node.js process with
 * node-llama-cpp's CPU binding, plus a vocabulary-only copy of the model, bytes. A line through two measurements of the
 * process's resident set (docs/engine.md, "Long prompts"): about 94 MiB with stories260K's 512-token vocabulary and
 * 250 MiB with Qwen3's 151,936 tokens (and as many merges), after a long prompt; the fixed part is rounded up to leave
 * room for the prompt it holds.
 *
 * @param vocabularyTokens - the tokens of the model's vocabulary (`tokenizer.ggml.tokens`).
 */
export function estimateTokenizerProcessBytes(vocabularyTokens: number): number {
  return tokenizerProcessFixedBytes + tokenizerProcessBytesPerToken * vocabularyTokens;
}

/**
 * Estimates the memory a model needs once loaded with the given context: weights plus KV cache plus compute buffers,
 * RAM and VRAM together, plus its tokenizer process ({@link estimateTokenizerProcessBytes}) unless
 * `shape.withTokenizerProcess` is false, plus its prefix cache's budget ({@link resolveCacheRamBytes}: state files on
 * /dev/shm are RAM), plus the draft model of `shape.draftModelPath` with the same context (and no prefix cache of its
 * own), bytes. Reads only the
 * GGUF header; the model's figures are node-llama-cpp's `GgufInsights` estimates (`estimateModelResourceRequirementsV2`,
 * `estimateContextResourceRequirementsV2`), which follow llama.cpp's own allocation rules.
 *
 * @throws when the file cannot be read as GGUF.
 */
export async function estimateModelMemoryBytes(llama: Llama, modelPath: string, shape: ContextShape): Promise<number> {
  const info = await readGgufFileInfo(modelPath, { readTensorInfo: true });
  const insights = await GgufInsights.from(info, llama);
  const contextTokens = shape.contextTokens ?? Math.min(insights.trainContextSize ?? defaultMaxContextTokens, defaultMaxContextTokens);
  const model = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
  const context = await insights.estimateContextResourceRequirementsV2({
    contextSize: contextTokens,
    modelGpuLayers: 0,
    sequences: shape.parallel,
    batchSize: Math.min(shape.batchSize, contextTokens),
  });
  const vocabularyTokens = (info.metadata.tokenizer?.ggml?.tokens as readonly unknown[] | undefined)?.length ?? 0;
  const tokenizerBytes = shape.withTokenizerProcess === false ? 0 : estimateTokenizerProcessBytes(vocabularyTokens);
  const draftBytes =
    shape.draftModelPath === undefined
      ? 0
      : await estimateModelMemoryBytes(llama, shape.draftModelPath, {
          ...shape,
          contextTokens,
          withTokenizerProcess: false,
          draftModelPath: undefined,
          cacheRamBytes: 0,
        });
  return (
    model.cpuRam +
    model.gpuVram +
    context.cpuRam +
    context.gpuVram +
    tokenizerBytes +
    resolveCacheRamBytes(info, insights, { ...shape, contextTokens }) +
    draftBytes
  );
}

/**
 * The default memory budget: free RAM plus free VRAM now, as node-llama-cpp measures them (`getRamState`,
 * `getVramState`), less 10% headroom for the process itself.
 */
export async function measureMemoryBudgetBytes(llama: Llama): Promise<number> {
  const ram = await llama.getRamState();
  const vram = await llama.getVramState();
  const unified = vram.unifiedSize > 0;
  return Math.floor((ram.free + (unified ? 0 : vram.free)) * 0.9);
}
