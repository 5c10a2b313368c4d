import { cachePerFileVersion } from "../util/file-version-cache.js";
import { type GgufFileInfo, readGgufFileInfo } from "node-llama-cpp";

/** What the model list says about a model without loading it, read from its GGUF header's metadata. */
export interface ModelHeaderFacts {
  /** GGUF `general.architecture` (`llama`, `qwen3moe`). */
  architecture: string;
  /** Routed experts per layer (`{arch}.expert_count`); `undefined` for a dense model. */
  expertCount: number | undefined;
  /** Routed experts used per token (`{arch}.expert_used_count`); `undefined` for a dense model. */
  expertUsedCount: number | undefined;
  /**
   * Whether the model can think: its vocabulary holds `<think>` and `</think>` as tokens of their own, the test the
   * in-process engine applies when it loads the model (`ModelInfo.canThink`).
   */
  canThink: boolean;
}

/** Reads {@link ModelHeaderFacts} once per GGUF file. */
export interface ModelHeaderFactsReader {
  /** The file's facts, or `undefined` when its header cannot be read (gone, not a GGUF); never throws. */
  read(path: string): Promise<ModelHeaderFacts | undefined>;
}

/** Options of {@link createModelHeaderFactsReader}. */
export interface ModelHeaderFactsReaderOptions {
  /** Reads a GGUF header's metadata (no tensor infos). Defaults to node-llama-cpp's `readGgufFileInfo`. */
  readHeader?: (path: string) => Promise<GgufFileInfo>;
}

/** Metadata the facts do not need: the largest arrays of a header after the token list. */
const skippedKeys = ["tokenizer.ggml.merges", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"];

/** The facts in a GGUF header's metadata. */
export function describeModelHeader(info: GgufFileInfo): ModelHeaderFacts {
  const metadata = info.architectureMetadata as unknown as Record<string, unknown>;
  const positive = (value: unknown): number | undefined => (typeof value === "number" && value > 0 ? value : undefined);
  const expertCount = positive(metadata.expert_count);
  const tokens: unknown = info.metadata.tokenizer?.ggml?.tokens;
  const vocabulary = Array.isArray(tokens) ? new Set(tokens) : new Set();
  return {
    architecture: String(info.metadata.general?.architecture ?? "unknown"),
    expertCount,
    expertUsedCount: expertCount === undefined ? undefined : positive(metadata.expert_used_count),
    canThink: vocabulary.has("<think>") && vocabulary.has("</think>"),
  };
}

/**
 * Creates a {@link ModelHeaderFactsReader} that keeps each file's facts until the file changes (its size or
 * modification time). A header read is metadata only (the token list included: a few MB for a 151k-token vocabulary),
 * never the weights.
 */
export function createModelHeaderFactsReader(options: ModelHeaderFactsReaderOptions = {}): ModelHeaderFactsReader {
  const readHeader =
    options.readHeader ??
    ((path: string) => readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false, ignoreKeys: skippedKeys }));
  return { read: cachePerFileVersion((path) => readHeader(path).then(describeModelHeader)) };
}
