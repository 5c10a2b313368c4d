import { createHash } from "node:crypto";
import { GgufFileType, readGgufFileInfo } from "node-llama-cpp";
import { defaultMaxContextTokens } from "../../../engines/inproc/llama-backend.js";
import type { OllamaWireModelDetails } from "../../../dialects/ollama/wire.js";
import { cachePerFileVersion } from "../../../util/file-version-cache.js";

/** What Ollama's model endpoints say about a GGUF file, read from its header (never its weights). */
export interface OllamaModelFacts {
  /** GGUF `general.architecture` (`qwen3moe`). */
  architecture: string;
  /** Weights, from the tensor shapes. */
  parameterCount: number;
  /** The quantization type (`Q4_K_M`, `Q8_0`), from `general.file_type`; `unknown` when absent. */
  quantization: string;
  /** `general.file_type` as a number, when present. */
  fileType: number | undefined;
  /** The context the model was trained with (`<arch>.context_length`), tokens; 0 when absent. */
  trainContextTokens: number;
  /** `<arch>.embedding_length`; 0 when absent. */
  embeddingLength: number;
  /** Whether its vocabulary has `<think>` and `</think>` (the engines' test, `ModelInfo.canThink`). */
  canThink: boolean;
  /** Whether its vocabulary has `<tool_call>` and `</tool_call>` (the engines' test, `ModelInfo.canCallTools`). */
  canCallTools: boolean;
  /** The GGUF's chat template (`tokenizer.chat_template`), `""` when it has none. */
  chatTemplate: string;
  /** The file's size, bytes. */
  sizeBytes: number;
  /** The file's modification time, epoch ms. */
  modifiedAtMs: number;
  /**
   * A stable 64-hex-digit id of the file (SHA-256 of its path, size and modification time: hashing gigabytes per
   * listing would be too slow). Ollama's clients use `digest` only to tell models apart.
   */
  digest: string;
}

/** Reads {@link OllamaModelFacts}, once per file version (its size and modification time). */
export interface OllamaModelFactsReader {
  /** The file's facts; `undefined` when it cannot be read (gone, not a GGUF). Never throws. */
  read(path: string): Promise<OllamaModelFacts | undefined>;
}

/** Large header arrays the facts do not need (the token list is read: it says whether the model thinks). */
const skippedKeys = ["tokenizer.ggml.merges", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"];

/** Creates an {@link OllamaModelFactsReader} that caches each file's facts until the file changes. */
export function createOllamaModelFactsReader(): OllamaModelFactsReader {
  return { read: cachePerFileVersion(readFacts) };
}

async function readFacts(path: string, sizeBytes: number, modifiedAtMs: number): Promise<OllamaModelFacts> {
  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, ignoreKeys: skippedKeys });
  const metadata = info.metadata as unknown as {
    general?: { architecture?: string; file_type?: number };
    tokenizer?: { ggml?: { tokens?: unknown }; chat_template?: unknown };
  };
  const architectureMetadata = info.architectureMetadata as unknown as { context_length?: number; embedding_length?: number };
  const tokens = metadata.tokenizer?.ggml?.tokens;
  const vocabulary = new Set(Array.isArray(tokens) ? (tokens as unknown[]) : []);
  let parameterCount = 0;
  for (const tensor of info.tensorInfo ?? [])
    parameterCount += tensor.dimensions.reduce<number>((product, size) => product * Number(size), 1);
  const fileType = metadata.general?.file_type;
  const typeName = fileType === undefined ? undefined : (GgufFileType as unknown as Record<number, string>)[fileType];
  return {
    architecture: String(metadata.general?.architecture ?? "unknown"),
    parameterCount,
    quantization: typeName === undefined ? "unknown" : typeName.replace(/^MOSTLY_/, ""),
    fileType,
    trainContextTokens: Number(architectureMetadata.context_length ?? 0),
    embeddingLength: Number(architectureMetadata.embedding_length ?? 0),
    canThink: vocabulary.has("<think>") && vocabulary.has("</think>"),
    canCallTools: vocabulary.has("<tool_call>") && vocabulary.has("</tool_call>"),
    chatTemplate: typeof metadata.tokenizer?.chat_template === "string" ? metadata.tokenizer.chat_template : "",
    sizeBytes,
    modifiedAtMs,
    digest: createHash("sha256").update(`${path}\n${sizeBytes}\n${modifiedAtMs}`).digest("hex"),
  };
}

/** A parameter count as Ollama shows it: `596.05M`, `30.5B`. */
export function formatParameterSize(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(2)}K`;
  return String(count);
}

/** Ollama's `details` of a model; every field non-empty (case D11), `unknown` where the header does not say. */
export function toOllamaDetails(facts: OllamaModelFacts | undefined): OllamaWireModelDetails {
  const family = facts?.architecture ?? "unknown";
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: [family],
    parameter_size: facts === undefined ? "unknown" : formatParameterSize(facts.parameterCount),
    quantization_level: facts?.quantization ?? "unknown",
  };
}

/**
 * The context a model runs with, tokens: a loaded model's own; else the configured one (`--ctx-size`), else what the
 * engines choose (the model's trained context, at most 4096).
 */
export function servedContextTokens(
  facts: OllamaModelFacts | undefined,
  loadedContextTokens: number | undefined,
  configured?: number,
): number {
  if (loadedContextTokens !== undefined) return loadedContextTokens;
  if (configured !== undefined) return configured;
  const trained = facts?.trainContextTokens ?? 0;
  return trained > 0 ? Math.min(trained, defaultMaxContextTokens) : defaultMaxContextTokens;
}
