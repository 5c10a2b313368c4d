import path from "node:path";
import { GgufFileType, resolveChatWrapper, type GgufFileInfo, type GgufTensorInfo } from "node-llama-cpp";
import { MoestroError } from "../errors/index.js";
import { getGgmlTypeLayout, tensorSizeBytes } from "./ggml-types.js";
import type { ModelSource } from "./model-source.js";

/** What a tensor is for, as the planner sees it. */
export type TensorRole = "input-embedding" | "output" | "routed-expert" | "shared-expert" | "layer" | "other";

/**
 * Classifies a GGUF tensor by its llama.cpp name:
 * - `token_embd.*`: the input embedding table (looked up, one row per token);
 * - `output.*` and `output_norm.*`: the output head;
 * - `blk.N.*_exps.*` / `*_chexps.*`: routed experts (llama.cpp `LLM_FFN_EXPS_REGEX`, `common/common.h`);
 * - `blk.N.*_shexp.*`: shared experts, always active;
 * - any other `blk.N.*`: the rest of layer N (attention, norms, router, dense FFN, SSM);
 * - anything else (`rope_freqs`, vision towers): `other`.
 */
export function classifyTensor(name: string): { role: TensorRole; layerIndex: number | undefined } {
  const layerMatch = /^blk\.(\d+)\./.exec(name);
  const layerIndex = layerMatch ? Number(layerMatch[1]) : undefined;
  if (name.startsWith("token_embd.")) return { role: "input-embedding", layerIndex };
  if (name.startsWith("output.") || name.startsWith("output_norm.")) return { role: "output", layerIndex };
  if (layerIndex === undefined) return { role: "other", layerIndex };
  if (/_(ch)?exps(\.|$)/.test(name)) return { role: "routed-expert", layerIndex };
  if (/_shexp(\.|$)/.test(name)) return { role: "shared-expert", layerIndex };
  return { role: "layer", layerIndex };
}

/** Weight bytes of one repeating layer (`blk.N`). */
export interface LayerWeights {
  index: number;
  /** Bytes of the routed experts (`*_exps`), all experts together. 0 for dense layers. */
  routedExpertBytes: number;
  /** Bytes of everything else in the layer: attention or SSM, norms, the router, shared experts, dense FFN. */
  otherBytes: number;
  /** Whether the layer keeps a KV cache (full or sliding-window attention). */
  hasAttention: boolean;
  /** Whether the layer keeps a recurrent state (Mamba / Gated DeltaNet). */
  isRecurrent: boolean;
}

/** Tensors of one ggml type: how many, their parameters and bytes. */
export interface QuantizationShare {
  /** ggml type name (`Q4_K`, `Q6_K`, `F32`). */
  type: string;
  tensorCount: number;
  parameters: number;
  sizeBytes: number;
}

/** Chat features read from the GGUF's chat template. */
export interface ChatSupport {
  /** Whether the file embeds `tokenizer.chat_template`. */
  hasTemplate: boolean;
  /** node-llama-cpp's chat wrapper for the template (`Qwen 3`, `Qwen 3.5`, `Llama 3.1`); `null` without a template. */
  templateFamily: string | null;
  /** The template opens a `<think>` segment (a reasoning model). */
  supportsThinking: boolean;
  /** The template renders a `tools` list (function calling). */
  supportsTools: boolean;
}

/**
 * Facts about a model, read from its GGUF header alone (metadata and tensor infos; no weights are read).
 *
 * Parameter counts follow the convention of published model cards: everything stored counts, the input embedding
 * included (Qwen3-30B-A3B: 30.5B total, 3.3B active). Byte counts are the tensors' ggml sizes (see `ggml-types.ts`).
 */
export interface ModelFacts {
  source: ModelSource;
  /** `general.name`, or the file name without `.gguf`. */
  name: string;
  /** `general.architecture` (`qwen3moe`, `llama`, `qwen35moe`). */
  architecture: string;
  /** llama.cpp's file type (`Q4_K_M`) from `general.file_type`, when set. */
  fileType: string | undefined;
  /** Bytes of the file as stored (local size, or the hub's listed size); `undefined` when the hub did not list it. */
  fileSizeBytes: number | undefined;
  /** Training context length (`{arch}.context_length`), in tokens. */
  contextTokens: number | undefined;
  /** Repeating layers (`{arch}.block_count`). */
  layerCount: number;
  /** Hidden size (`{arch}.embedding_length`). */
  hiddenSize: number;
  /** Rows of the embedding table. */
  vocabularySize: number;
  attention: {
    headCount: number;
    /** KV heads per attention layer (grouped-query attention). */
    kvHeadCount: number;
    /** Key and value dims per head (`attention.key_length` / `value_length`, default hidden / heads). */
    keyLength: number;
    valueLength: number;
    /** Layers that keep a KV cache. */
    layerCount: number;
  };
  /** Layers with a recurrent state and its size; `undefined` for pure transformers. */
  recurrent: { layerCount: number; stateBytesPerSequence: number } | undefined;
  /** Mixture-of-Experts layout; `undefined` for dense models. */
  moe:
    | {
        expertCount: number;
        expertUsedCount: number;
        /** Shared experts per layer (always active); 0 when the model has none. */
        sharedExpertCount: number;
        /** FFN width of one routed expert (`expert_feed_forward_length`), when set. */
        expertFeedForwardLength: number | undefined;
      }
    | undefined;
  parameters: {
    total: number;
    /** Parameters used per token: non-expert weights + expertUsedCount / expertCount × routed-expert weights. */
    active: number;
    routedExpert: number;
    sharedExpert: number;
    inputEmbedding: number;
    output: number;
  };
  weights: {
    /** All tensor bytes (what must sit in memory). */
    totalBytes: number;
    routedExpertBytes: number;
    sharedExpertBytes: number;
    inputEmbeddingBytes: number;
    /** Bytes of `output.weight` and `output_norm.weight` as stored (with a tied output, only the norm). */
    outputBytes: number;
    /** The model has no `output.weight` and multiplies by the input embedding (llama.cpp duplicates it for the output). */
    tiedOutput: boolean;
    /** Bytes of tensors outside the layers, the embedding and the output head. */
    otherBytes: number;
    layers: LayerWeights[];
  };
  /**
   * Bytes read from memory to decode one token of one sequence: every non-expert weight except the embedding table
   * (one row of it), plus expertUsedCount / expertCount of the routed experts (all of them are read when the output is
   * tied). The KV cache read is added per context position by the speed model.
   */
  activeBytesPerToken: number;
  /** Parameters in matrix multiplications per token (2 FLOPs each): active parameters without the embedding lookup. */
  matmulParametersPerToken: number;
  quantization: QuantizationShare[];
  chat: ChatSupport;
}

/** Options of {@link describeGguf}. */
export interface DescribeGgufOptions {
  source: ModelSource;
  /**
   * Whether to resolve the chat template with node-llama-cpp, which takes a while (docs/planner.md#parameters-moestro-show).
   * Defaults to `true`.
   */
  detectChat?: boolean;
}

function toNumber(value: number | bigint | undefined): number {
  return value === undefined ? 0 : Number(value);
}

function elementCount(tensor: GgufTensorInfo): number {
  return tensor.dimensions.reduce<number>((product, dimension) => product * Number(dimension), 1);
}

function numberField(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value) && value.length > 0) return Math.max(...value.map((item) => Number(item)));
  return undefined;
}

/**
 * Reads the chat features of a GGUF: the template family through node-llama-cpp's `resolveChatWrapper` (which matches
 * the Jinja template against its built-in wrappers), thinking from a `<think>` tag in the template or a thought segment
 * in the wrapper, tools from a `tools` variable in the template.
 */
export function detectChatSupport(info: GgufFileInfo, fileName?: string): ChatSupport {
  const template = info.metadata.tokenizer?.chat_template;
  if (typeof template !== "string" || template.length === 0) {
    return { hasTemplate: false, templateFamily: null, supportsThinking: false, supportsTools: false };
  }
  let family: string | null = null;
  let wrapperThinks = false;
  try {
    const wrapper = resolveChatWrapper({ fileInfo: info, filename: fileName, warningLogs: false }) as unknown as {
      wrapperName: string;
      variation?: string;
      settings?: { segments?: { thought?: unknown } };
    } | null;
    if (wrapper) {
      family = wrapper.variation ? `${wrapper.wrapperName} ${wrapper.variation}` : wrapper.wrapperName;
      wrapperThinks = wrapper.settings?.segments?.thought != null;
    }
  } catch {
    // An unparsable template still tells us about thinking and tools below.
    family = "unrecognized";
  }
  return {
    hasTemplate: true,
    templateFamily: family,
    supportsThinking: wrapperThinks || template.includes("<think>"),
    supportsTools: /\btools\b/.test(template),
  };
}

/**
 * Turns a GGUF header (read with `readGgufFileInfo(…, {readTensorInfo: true})`) into {@link ModelFacts}.
 *
 * Active parameters = non-expert weights + (expert_used_count / expert_count) × routed-expert weights, where routed
 * experts are the tensors named `*_exps` and shared experts (`*_shexp`) count as always active.
 *
 * @throws {MoestroError} `invalid_request` when the header has no tensor infos or declares an unknown tensor type.
 */
export function describeGguf(info: GgufFileInfo, options: DescribeGgufOptions): ModelFacts {
  const tensors = info.fullTensorInfo ?? info.tensorInfo;
  if (tensors === undefined || tensors.length === 0) {
    throw new MoestroError("invalid_request", "The GGUF header lists no tensors; cannot count parameters.");
  }
  const architecture = String(info.metadata.general?.architecture ?? "unknown");
  const archMetadata = info.architectureMetadata as unknown as Record<string, unknown> & {
    attention?: Record<string, unknown>;
    ssm?: Record<string, unknown>;
  };

  let totalParameters = 0;
  let routedParameters = 0;
  let sharedParameters = 0;
  let inputEmbeddingParameters = 0;
  let outputParameters = 0;
  let totalBytes = 0;
  let routedBytes = 0;
  let sharedBytes = 0;
  let inputEmbeddingBytes = 0;
  let outputBytes = 0;
  let otherBytes = 0;
  let hasOutputMatrix = false;
  let inputEmbeddingRows = 0;
  const quantization = new Map<string, QuantizationShare>();
  const layers = new Map<number, LayerWeights & { names: string[] }>();

  for (const tensor of tensors) {
    const elements = elementCount(tensor);
    const sizeBytes = tensorSizeBytes(tensor.ggmlType, elements);
    const typeName = getGgmlTypeLayout(tensor.ggmlType).name;
    const share = quantization.get(typeName) ?? { type: typeName, tensorCount: 0, parameters: 0, sizeBytes: 0 };
    share.tensorCount++;
    share.parameters += elements;
    share.sizeBytes += sizeBytes;
    quantization.set(typeName, share);
    totalParameters += elements;
    totalBytes += sizeBytes;

    const { role, layerIndex } = classifyTensor(tensor.name);
    if (layerIndex !== undefined) {
      const layer = layers.get(layerIndex) ?? {
        index: layerIndex,
        routedExpertBytes: 0,
        otherBytes: 0,
        hasAttention: false,
        isRecurrent: false,
        names: [],
      };
      layer.names.push(tensor.name);
      if (role === "routed-expert") layer.routedExpertBytes += sizeBytes;
      else layer.otherBytes += sizeBytes;
      layers.set(layerIndex, layer);
    }
    switch (role) {
      case "input-embedding":
        inputEmbeddingParameters += elements;
        inputEmbeddingBytes += sizeBytes;
        inputEmbeddingRows = toNumber(tensor.dimensions[1]);
        break;
      case "output":
        outputParameters += elements;
        outputBytes += sizeBytes;
        if (tensor.name === "output.weight") hasOutputMatrix = true;
        break;
      case "routed-expert":
        routedParameters += elements;
        routedBytes += sizeBytes;
        break;
      case "shared-expert":
        sharedParameters += elements;
        sharedBytes += sizeBytes;
        break;
      case "layer":
        break;
      case "other":
        otherBytes += sizeBytes;
        break;
      default:
        role satisfies never;
    }
  }

  const layerCount = numberField(archMetadata.block_count) ?? layers.size;
  const hiddenSize = numberField(archMetadata.embedding_length) ?? 0;
  const headCount = numberField(archMetadata.attention?.head_count) ?? 0;
  const kvHeadCount = numberField(archMetadata.attention?.head_count_kv) ?? headCount;
  const defaultHeadDim = headCount > 0 ? hiddenSize / headCount : 0;
  const keyLength = numberField(archMetadata.attention?.key_length) ?? defaultHeadDim;
  const valueLength = numberField(archMetadata.attention?.value_length) ?? defaultHeadDim;

  // A layer keeps a KV cache when it has attention projections and no SSM tensors; Qwen3.5's Gated DeltaNet layers hold
  // `attn_qkv` and `ssm_*` tensors and keep a recurrent state instead (llama.cpp `llama_hparams::is_recurrent`).
  for (const layer of layers.values()) {
    layer.isRecurrent = layer.names.some((name) => /\.ssm_/.test(name));
    layer.hasAttention = !layer.isRecurrent && layer.names.some((name) => /\.attn_(k|qkv|kv_a_mqa|k_b)\.weight$/.test(name));
  }
  const layerList = [...layers.values()].sort((a, b) => a.index - b.index).map(({ names: _names, ...layer }) => layer);
  const attentionLayerCount = layerList.filter((layer) => layer.hasAttention).length;
  const recurrentLayerCount = layerList.filter((layer) => layer.isRecurrent).length;

  // Recurrent state per layer and sequence, F32: conv state (d_conv - 1) × (d_inner + 2 × n_group × d_state) plus SSM
  // state d_state × d_inner (llama.cpp `llama_hparams::n_embd_r` / `n_embd_s`, src/llama-hparams.cpp).
  let recurrent: ModelFacts["recurrent"];
  if (recurrentLayerCount > 0) {
    const convKernel = numberField(archMetadata.ssm?.conv_kernel) ?? 4;
    const stateSize = numberField(archMetadata.ssm?.state_size) ?? 16;
    const innerSize = numberField(archMetadata.ssm?.inner_size) ?? 2 * hiddenSize;
    const groupCount = numberField(archMetadata.ssm?.group_count) ?? 1;
    const perLayerValues = (convKernel - 1) * (innerSize + 2 * groupCount * stateSize) + stateSize * innerSize;
    recurrent = { layerCount: recurrentLayerCount, stateBytesPerSequence: recurrentLayerCount * perLayerValues * 4 };
  }

  const expertCount = numberField(archMetadata.expert_count) ?? 0;
  const expertUsedCount = numberField(archMetadata.expert_used_count) ?? 0;
  const isMoe = routedParameters > 0 && expertCount > 0 && expertUsedCount > 0;
  const activeFraction = isMoe ? Math.min(1, expertUsedCount / expertCount) : 1;
  const activeParameters = totalParameters - routedParameters * (1 - activeFraction);

  const tiedOutput = !hasOutputMatrix;
  const vocabularySize =
    inputEmbeddingRows ||
    numberField(archMetadata.vocab_size) ||
    (Array.isArray(info.metadata.tokenizer?.ggml?.tokens) ? info.metadata.tokenizer.ggml.tokens.length : 0);
  const embeddingRowBytes = vocabularySize > 0 ? inputEmbeddingBytes / vocabularySize : 0;
  const activeBytesPerToken =
    totalBytes - inputEmbeddingBytes + embeddingRowBytes - routedBytes * (1 - activeFraction) + (tiedOutput ? inputEmbeddingBytes : 0);
  const matmulParametersPerToken = activeParameters - inputEmbeddingParameters + (tiedOutput ? inputEmbeddingParameters : 0);

  const fileTypeNumber = numberField(info.metadata.general?.file_type);
  const fileTypeName = fileTypeNumber === undefined ? undefined : (GgufFileType[fileTypeNumber] as string | undefined);
  const source = options.source;
  const fileName = source.kind === "file" ? path.basename(source.path) : path.posix.basename(source.filePath);
  const sharedExpertCount = numberField(archMetadata.expert_shared_count) ?? (sharedParameters > 0 ? 1 : 0);

  return {
    source,
    name:
      typeof info.metadata.general?.name === "string" && info.metadata.general.name !== ""
        ? info.metadata.general.name
        : fileName.replace(/\.gguf$/i, ""),
    architecture,
    fileType: fileTypeName?.replace(/^(MOSTLY|ALL)_/, ""),
    fileSizeBytes: source.sizeBytes,
    contextTokens: numberField(archMetadata.context_length),
    layerCount,
    hiddenSize,
    vocabularySize,
    attention: { headCount, kvHeadCount, keyLength, valueLength, layerCount: attentionLayerCount },
    recurrent,
    moe: isMoe
      ? {
          expertCount,
          expertUsedCount,
          sharedExpertCount,
          expertFeedForwardLength: numberField(archMetadata.expert_feed_forward_length),
        }
      : undefined,
    parameters: {
      total: totalParameters,
      active: activeParameters,
      routedExpert: routedParameters,
      sharedExpert: sharedParameters,
      inputEmbedding: inputEmbeddingParameters,
      output: outputParameters,
    },
    weights: {
      totalBytes,
      routedExpertBytes: routedBytes,
      sharedExpertBytes: sharedBytes,
      inputEmbeddingBytes,
      outputBytes,
      tiedOutput,
      otherBytes,
      layers: layerList,
    },
    activeBytesPerToken,
    matmulParametersPerToken,
    quantization: [...quantization.values()].sort((a, b) => b.sizeBytes - a.sizeBytes),
    chat:
      options.detectChat === false
        ? {
            hasTemplate: typeof info.metadata.tokenizer?.chat_template === "string",
            templateFamily: null,
            supportsThinking: false,
            supportsTools: false,
          }
        : detectChatSupport(info, fileName),
  };
}
