import { GgmlType } from "node-llama-cpp";
import { MoestroError } from "../errors/index.js";

/**
 * How one ggml tensor type stores its values: `blockValues` values share one block of `blockBytes` bytes.
 *
 * Source: `type_traits[]` (`blck_size`, `type_size`) in llama.cpp `ggml/src/ggml.c` and the `block_*` structs in
 * `ggml/src/ggml-common.h`, at the llama.cpp commit bundled with node-llama-cpp 3.21.1
 * (`80fb11ac73e66d89eae2c6a91d8a77428fa733ed`).
 */
export interface GgmlTypeLayout {
  /** The type's name as ggml spells it (`Q4_K`, `F16`). */
  readonly name: string;
  /** Values per block (1 for plain floats and integers, 32 for `Q4_0`, 256 for the K-quants). */
  readonly blockValues: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

const layout = (name: string, blockValues: number, blockBytes: number): GgmlTypeLayout => ({ name, blockValues, blockBytes });

/**
 * Block layouts of every ggml type a GGUF file may declare, keyed by the numeric `GgmlType`. Types that llama.cpp removed
 * (`Q4_2`, `Q4_3`, the `Q4_0_4_4`-style repacked types) are absent: a file that declares them cannot be loaded either.
 *
 * Bits per weight are `8 × blockBytes / blockValues`: `Q4_0` 4.5, `Q4_K` 4.5, `Q6_K` 6.5625, `Q8_0` 8.5.
 */
export const ggmlTypeLayouts: Readonly<Partial<Record<GgmlType, GgmlTypeLayout>>> = Object.freeze({
  [GgmlType.F32]: layout("F32", 1, 4),
  [GgmlType.F16]: layout("F16", 1, 2),
  [GgmlType.BF16]: layout("BF16", 1, 2),
  [GgmlType.F64]: layout("F64", 1, 8),
  [GgmlType.I8]: layout("I8", 1, 1),
  [GgmlType.I16]: layout("I16", 1, 2),
  [GgmlType.I32]: layout("I32", 1, 4),
  [GgmlType.I64]: layout("I64", 1, 8),
  // block_q4_0 = half d + 16 bytes of nibbles; q4_1 adds half m; q5_* add 4 bytes of high bits; q8_* hold 32 int8
  [GgmlType.Q4_0]: layout("Q4_0", 32, 18),
  [GgmlType.Q4_1]: layout("Q4_1", 32, 20),
  [GgmlType.Q5_0]: layout("Q5_0", 32, 22),
  [GgmlType.Q5_1]: layout("Q5_1", 32, 24),
  [GgmlType.Q8_0]: layout("Q8_0", 32, 34),
  [GgmlType.Q8_1]: layout("Q8_1", 32, 36),
  // K-quants: super-blocks of QK_K = 256 values
  [GgmlType.Q2_K]: layout("Q2_K", 256, 84),
  [GgmlType.Q3_K]: layout("Q3_K", 256, 110),
  [GgmlType.Q4_K]: layout("Q4_K", 256, 144),
  [GgmlType.Q5_K]: layout("Q5_K", 256, 176),
  [GgmlType.Q6_K]: layout("Q6_K", 256, 210),
  [GgmlType.Q8_K]: layout("Q8_K", 256, 292),
  // i-quants
  [GgmlType.IQ2_XXS]: layout("IQ2_XXS", 256, 66),
  [GgmlType.IQ2_XS]: layout("IQ2_XS", 256, 74),
  [GgmlType.IQ2_S]: layout("IQ2_S", 256, 82),
  [GgmlType.IQ3_XXS]: layout("IQ3_XXS", 256, 98),
  [GgmlType.IQ3_S]: layout("IQ3_S", 256, 110),
  [GgmlType.IQ1_S]: layout("IQ1_S", 256, 50),
  [GgmlType.IQ1_M]: layout("IQ1_M", 256, 56),
  [GgmlType.IQ4_NL]: layout("IQ4_NL", 32, 18),
  [GgmlType.IQ4_XS]: layout("IQ4_XS", 256, 136),
  // ternary and 4-bit float types
  [GgmlType.TQ1_0]: layout("TQ1_0", 256, 54),
  [GgmlType.TQ2_0]: layout("TQ2_0", 256, 66),
  [GgmlType.MXFP4]: layout("MXFP4", 32, 17),
  [GgmlType.NVFP4]: layout("NVFP4", 64, 36),
  [GgmlType.Q1_0]: layout("Q1_0", 128, 18),
  [GgmlType.Q2_0]: layout("Q2_0", 64, 18),
});

/**
 * The block layout of ggml type `type`.
 *
 * @throws {MoestroError} `invalid_request` when the type is unknown or was removed from llama.cpp.
 */
export function getGgmlTypeLayout(type: number): GgmlTypeLayout {
  const found = ggmlTypeLayouts[type as GgmlType];
  if (found === undefined) {
    const name = GgmlType[type] ?? `#${type}`;
    throw new MoestroError("invalid_request", `The GGUF declares tensor type ${name}, which llama.cpp no longer supports.`);
  }
  return found;
}

/**
 * Bytes that `elementCount` values of ggml type `type` occupy: `ceil(elementCount / blockValues) × blockBytes` (ggml
 * `ggml_row_size`; rows are whole blocks, so the ceiling only matters for malformed shapes).
 *
 * @throws {MoestroError} `invalid_request` when the type is unknown (see {@link getGgmlTypeLayout}).
 */
export function tensorSizeBytes(type: number, elementCount: number): number {
  const { blockValues, blockBytes } = getGgmlTypeLayout(type);
  return Math.ceil(elementCount / blockValues) * blockBytes;
}
