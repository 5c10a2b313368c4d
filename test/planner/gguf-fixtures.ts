import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The shared GGUF tools (`../shared/tools/gguf` beside the checkout; docs/test-models.md). */
export const ggufToolsDir = path.resolve(repoRoot, "../shared/tools/gguf");

/** Whether `gguf-write.mjs` is there; tests that build GGUFs skip when it is not. */
export const hasGgufTools = existsSync(path.join(ggufToolsDir, "gguf-write.mjs"));

/** Why those tests skip. */
export const ggufToolsSkipReason = `GGUF fixture tests skipped: ${ggufToolsDir}/gguf-write.mjs not found (the shared tools sit beside the checkout in ../shared)`;

if (!hasGgufTools) console.warn(ggufToolsSkipReason);

interface MetadataValue {
  type: number;
  value: unknown;
  elemType?: number;
}

interface GgufWriter {
  writeGguf(
    filePath: string,
    metadata: Record<string, MetadataValue>,
    tensors: Array<{ name: string; dims: number[]; type: number }>,
    alignment?: number,
    options?: { headerOnly?: boolean },
  ): { headerBytes: number; declaredDataBytes?: number };
  GGMLType: { F32: number; F16: number; Q4_0: number; Q8_0: number; Q4_K: number; Q6_K: number };
  u32(value: number): MetadataValue;
  f32(value: number): MetadataValue;
  str(value: string): MetadataValue;
}

async function loadWriter(): Promise<GgufWriter> {
  return (await import(pathToFileURL(path.join(ggufToolsDir, "gguf-write.mjs")).href)) as GgufWriter;
}

/** The shape of a Qwen3-MoE model (`qwen3moe` in llama.cpp). */
export interface Qwen3MoeShape {
  name: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  experts: number;
  expertsUsed: number;
  expertFfn: number;
  vocabulary: number;
  contextTokens: number;
}

/** Qwen3-30B-A3B (Hugging Face `Qwen/Qwen3-30B-A3B` config.json): published as 30.5B total, 3.3B activated. */
export const qwen3_30b_a3b: Qwen3MoeShape = {
  name: "Qwen3-30B-A3B",
  hidden: 2048,
  layers: 48,
  heads: 32,
  kvHeads: 4,
  headDim: 128,
  experts: 128,
  expertsUsed: 8,
  expertFfn: 768,
  vocabulary: 151936,
  contextTokens: 40960,
};

/** Qwen3-235B-A22B (`Qwen/Qwen3-235B-A22B` config.json): published as 235B total, 22B activated. */
export const qwen3_235b_a22b: Qwen3MoeShape = {
  name: "Qwen3-235B-A22B",
  hidden: 4096,
  layers: 94,
  heads: 64,
  kvHeads: 4,
  headDim: 128,
  experts: 128,
  expertsUsed: 8,
  expertFfn: 1536,
  vocabulary: 151936,
  contextTokens: 40960,
};

/**
 * Writes a header-only GGUF (metadata and tensor infos, no weights) with the tensors llama.cpp's `qwen3moe` loader
 * expects and a Q4_K_M-like mix: Q6_K for the output matrix and, in the "more bits" layers of llama.cpp's
 * `use_more_bits` rule (the first and last eighth, and every third in between), for attn_v and ffn_down_exps; Q4_K for
 * the other matrices; F32 for norms and the router.
 */
export async function writeQwen3MoeHeader(filePath: string, shape: Qwen3MoeShape): Promise<void> {
  const gguf = await loadWriter();
  const { F32, Q4_K, Q6_K } = gguf.GGMLType;
  const arch = "qwen3moe";
  const metadata: Record<string, MetadataValue> = {
    "general.architecture": gguf.str(arch),
    "general.name": gguf.str(shape.name),
    "general.file_type": gguf.u32(15), // MOSTLY_Q4_K_M
    "general.alignment": gguf.u32(32),
    [`${arch}.block_count`]: gguf.u32(shape.layers),
    [`${arch}.context_length`]: gguf.u32(shape.contextTokens),
    [`${arch}.embedding_length`]: gguf.u32(shape.hidden),
    [`${arch}.feed_forward_length`]: gguf.u32(shape.expertFfn * 8),
    [`${arch}.attention.head_count`]: gguf.u32(shape.heads),
    [`${arch}.attention.head_count_kv`]: gguf.u32(shape.kvHeads),
    [`${arch}.attention.key_length`]: gguf.u32(shape.headDim),
    [`${arch}.attention.value_length`]: gguf.u32(shape.headDim),
    [`${arch}.rope.freq_base`]: gguf.f32(1000000),
    [`${arch}.attention.layer_norm_rms_epsilon`]: gguf.f32(1e-6),
    [`${arch}.expert_count`]: gguf.u32(shape.experts),
    [`${arch}.expert_used_count`]: gguf.u32(shape.expertsUsed),
    [`${arch}.expert_feed_forward_length`]: gguf.u32(shape.expertFfn),
  };
  const moreBits = (layer: number): boolean =>
    layer < shape.layers / 8 || layer >= (7 * shape.layers) / 8 || (layer - Math.floor(shape.layers / 8)) % 3 === 2;
  const { hidden: h, heads, kvHeads, headDim: d, experts: e, expertFfn: f, vocabulary: v } = shape;
  const tensors: Array<{ name: string; dims: number[]; type: number }> = [
    { name: "token_embd.weight", dims: [h, v], type: Q4_K },
    { name: "output_norm.weight", dims: [h], type: F32 },
    { name: "output.weight", dims: [h, v], type: Q6_K },
  ];
  for (let layer = 0; layer < shape.layers; layer++) {
    const p = `blk.${layer}.`;
    const big = moreBits(layer) ? Q6_K : Q4_K;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [h], type: F32 },
      { name: `${p}attn_q.weight`, dims: [h, heads * d], type: Q4_K },
      { name: `${p}attn_k.weight`, dims: [h, kvHeads * d], type: Q4_K },
      { name: `${p}attn_v.weight`, dims: [h, kvHeads * d], type: big },
      { name: `${p}attn_output.weight`, dims: [heads * d, h], type: Q4_K },
      { name: `${p}attn_q_norm.weight`, dims: [d], type: F32 },
      { name: `${p}attn_k_norm.weight`, dims: [d], type: F32 },
      { name: `${p}ffn_norm.weight`, dims: [h], type: F32 },
      { name: `${p}ffn_gate_inp.weight`, dims: [h, e], type: F32 },
      { name: `${p}ffn_gate_exps.weight`, dims: [h, f, e], type: Q4_K },
      { name: `${p}ffn_up_exps.weight`, dims: [h, f, e], type: Q4_K },
      { name: `${p}ffn_down_exps.weight`, dims: [f, h, e], type: big },
    );
  }
  gguf.writeGguf(filePath, metadata, tensors, 32, { headerOnly: true });
}
