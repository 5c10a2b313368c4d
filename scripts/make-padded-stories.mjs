#!/usr/bin/env node
// Writes a "padded" stories260K: a target model whose greedy output equals stories260K's but which costs many times
// more per token, so that stories260K can serve as its speculative-decoding draft (issue 19, section 2).
//
// usage: node scripts/make-padded-stories.mjs [--source PATH] [--out PATH] [--ffn WIDTH] [--layers EXTRA]
//
//   --source  the stories260K GGUF (F32 tensors). Defaults to ../shared/models/stories260K.gguf.
//   --out     where to write. Defaults to $TMPDIR/stories260K-padded-<ffn>x<layers>.gguf.
//   --ffn     the FFN width of every layer (stories260K's is 172): the added hidden units' gate and up rows are
//             random, their ffn_down columns are zero, so they add exactly 0 to the residual stream. Defaults to 4096.
//   --layers  extra layers after the trained ones, of the same shape, whose attention output and FFN down projections
//             are zero: each adds exactly 0 to the residual stream. Defaults to 0.
//
// The trained tensors are copied unchanged (F32); the padding is F32 too, so that a token reads
// 4 x (params) bytes: with --ffn 32768 about 126 MB, tens of times stories260K's per-token cost. Why the output stays
// the same: llama's layer adds attention and FFN outputs to its input (x + attn(x) + ffn(...)); a zero projection makes
// the term exactly 0.0, and x + 0.0 is x. The wider ffn_down rows change only how llama.cpp splits the dot products into
// SIMD lanes, which can round the last bits differently; the model test (`padded-stories.model.test.ts`) checks that the
// greedy text is the same.
//
// Prints one JSON line: {out, bytes, ffn, layers, parameters}. Needs only Node 20 and ../shared/tools/gguf/gguf-write.mjs.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const sharedGguf = path.resolve(here, "../../shared/tools/gguf/gguf-write.mjs");

/** @typedef {{type: number, value: any, elemType?: number}} MetadataValue a typed GGUF metadata value, as gguf-write.mjs takes it */
/** @typedef {{name: string, dims: number[], type: number, data: Float32Array}} Tensor an F32 tensor; dims in ggml order */
/** @typedef {{metadata: Record<string, MetadataValue>, tensors: Tensor[], alignment: number}} GgufContent */

/**
 * Reads a GGUF v3 file's typed metadata and tensors (F32 only, which is what stories260K.gguf holds).
 * @param {string} filePath
 * @returns {GgufContent}
 * @throws when the file is not GGUF v3 or holds a tensor that is not F32.
 */
export function readGguf(filePath) {
  const buffer = fs.readFileSync(filePath);
  let offset = 0;
  const u32 = () => {
    const v = buffer.readUInt32LE(offset);
    offset += 4;
    return v;
  };
  const u64 = () => {
    const v = Number(buffer.readBigUInt64LE(offset));
    offset += 8;
    return v;
  };
  const string = () => {
    const n = u64();
    const s = buffer.toString("utf8", offset, offset + n);
    offset += n;
    return s;
  };
  /** @param {number} type */
  const scalar = (type) => {
    switch (type) {
      case 0:
        return buffer.readUInt8(offset++);
      case 1:
        return buffer.readInt8(offset++);
      case 2: {
        const v = buffer.readUInt16LE(offset);
        offset += 2;
        return v;
      }
      case 3: {
        const v = buffer.readInt16LE(offset);
        offset += 2;
        return v;
      }
      case 4:
        return u32();
      case 5: {
        const v = buffer.readInt32LE(offset);
        offset += 4;
        return v;
      }
      case 6: {
        const v = buffer.readFloatLE(offset);
        offset += 4;
        return v;
      }
      case 7:
        return buffer.readUInt8(offset++) !== 0;
      case 8:
        return string();
      case 10:
        return u64();
      case 11: {
        const v = Number(buffer.readBigInt64LE(offset));
        offset += 8;
        return v;
      }
      case 12: {
        const v = buffer.readDoubleLE(offset);
        offset += 8;
        return v;
      }
      default:
        throw new Error(`unsupported GGUF value type ${type}`);
    }
  };
  if (u32() !== 0x46554747) throw new Error(`${filePath} is not a GGUF file`);
  const version = u32();
  if (version !== 3) throw new Error(`${filePath}: GGUF version ${version}, expected 3`);
  const tensorCount = u64();
  const metadataCount = u64();
  /** @type {Record<string, MetadataValue>} */
  const metadata = {};
  for (let i = 0; i < metadataCount; i++) {
    const key = string();
    const type = u32();
    if (type === 9) {
      const elemType = u32();
      const length = u64();
      const value = Array.from({ length }, () => scalar(elemType));
      metadata[key] = { type, elemType, value };
    } else metadata[key] = { type, value: scalar(type) };
  }
  const infos = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = string();
    const dims = Array.from({ length: u32() }, () => u64());
    const type = u32();
    const dataOffset = u64();
    infos.push({ name, dims, type, dataOffset });
  }
  const alignment = metadata["general.alignment"]?.value ?? 32;
  const dataStart = Math.ceil(offset / alignment) * alignment;
  const tensors = infos.map(({ name, dims, type, dataOffset }) => {
    if (type !== 0) throw new Error(`tensor ${name} has ggml type ${type}; only F32 sources are supported`);
    const count = dims.reduce((a, b) => a * b, 1);
    const start = dataStart + dataOffset;
    const data = new Float32Array(count);
    for (let j = 0; j < count; j++) data[j] = buffer.readFloatLE(start + j * 4);
    return { name, dims, type, data };
  });
  return { metadata, tensors, alignment };
}

/**
 * A deterministic pseudo-random generator (mulberry32) for the padding's gate and up rows.
 * @param {number} seed
 * @returns {() => number} values in [0, 1)
 */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds the padded model's metadata and tensors from stories260K's; see the file's header.
 * @param {GgufContent} source
 * @param {{ffnWidth: number, extraLayers: number}} options
 * @returns {{metadata: Record<string, MetadataValue>, tensors: Tensor[]}}
 * @throws when `ffnWidth` is under the trained width.
 */
export function padStories(source, { ffnWidth, extraLayers }) {
  const { metadata, tensors } = source;
  const architecture = metadata["general.architecture"].value;
  /** @param {string} name */
  const key = (name) => `${architecture}.${name}`;
  const layers = metadata[key("block_count")].value;
  const embedding = metadata[key("embedding_length")].value;
  const trainedWidth = metadata[key("feed_forward_length")].value;
  if (ffnWidth < trainedWidth) throw new Error(`--ffn must be at least the trained width, ${trainedWidth}`);
  const next = random(19);
  /** @param {number} count */
  const noise = (count) => Float32Array.from({ length: count }, () => (next() - 0.5) * 0.2);
  const out = [];
  for (const tensor of tensors) {
    const match = /^blk\.(\d+)\.(ffn_gate|ffn_up|ffn_down)\.weight$/.exec(tensor.name);
    if (match === null || ffnWidth === trainedWidth) {
      out.push(tensor);
      continue;
    }
    if (match[2] === "ffn_down") {
      // dims [ffn, embedding]: each of the embedding rows gets zeros for the added hidden units.
      const data = new Float32Array(ffnWidth * embedding);
      for (let row = 0; row < embedding; row++)
        data.set(tensor.data.subarray(row * trainedWidth, (row + 1) * trainedWidth), row * ffnWidth);
      out.push({ name: tensor.name, dims: [ffnWidth, embedding], type: 0, data });
    } else {
      // dims [embedding, ffn]: the trained rows, then random rows for the added units.
      const data = new Float32Array(embedding * ffnWidth);
      data.set(tensor.data);
      data.set(noise(embedding * (ffnWidth - trainedWidth)), embedding * trainedWidth);
      out.push({ name: tensor.name, dims: [embedding, ffnWidth], type: 0, data });
    }
  }
  // Extra layers: copies of the last trained layer's shapes, random except the two projections into the residual stream.
  const last = layers - 1;
  const outputIndex = out.findIndex((tensor) => !tensor.name.startsWith("blk."));
  const added = [];
  for (let layer = layers; layer < layers + extraLayers; layer++) {
    for (const tensor of out.filter((candidate) => candidate.name.startsWith(`blk.${last}.`))) {
      const part = tensor.name.slice(`blk.${last}.`.length);
      const count = tensor.data.length;
      const isZero = part === "attn_output.weight" || part === "ffn_down.weight";
      const isNorm = part.endsWith("norm.weight");
      const data = isZero ? new Float32Array(count) : isNorm ? new Float32Array(count).fill(1) : noise(count);
      added.push({ name: `blk.${layer}.${part}`, dims: tensor.dims, type: 0, data });
    }
  }
  out.splice(outputIndex < 0 ? out.length : outputIndex, 0, ...added);
  const padded = { ...metadata };
  padded["general.name"] = { type: 8, value: `stories260K-padded-ffn${ffnWidth}-x${extraLayers}` };
  padded[key("feed_forward_length")] = { ...metadata[key("feed_forward_length")], value: ffnWidth };
  padded[key("block_count")] = { ...metadata[key("block_count")], value: layers + extraLayers };
  return { metadata: padded, tensors: out };
}

/**
 * Writes the padded model (see the file's header) and returns what it wrote.
 * @param {{sourcePath: string, outPath: string, ffnWidth: number, extraLayers: number}} options
 * @returns {Promise<{out: string, bytes: number, dataBytes: number, ffn: number, layers: number, parameters: number}>}
 */
export async function makePaddedStories({ sourcePath, outPath, ffnWidth, extraLayers }) {
  const { writeGguf } = await import(sharedGguf);
  const source = readGguf(sourcePath);
  const { metadata, tensors } = padStories(source, { ffnWidth, extraLayers });
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const partial = `${outPath}.${process.pid}.partial`;
  const { dataBytes } = writeGguf(partial, metadata, tensors, source.alignment);
  fs.renameSync(partial, outPath);
  const parameters = tensors.reduce((sum, tensor) => sum + tensor.data.length, 0);
  return { out: outPath, bytes: fs.statSync(outPath).size, dataBytes, ffn: ffnWidth, layers: extraLayers, parameters };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  /** @param {string} name @param {string} fallback */
  const option = (name, fallback) => {
    const index = argv.indexOf(name);
    return index < 0 ? fallback : argv[index + 1];
  };
  const ffnWidth = Number(option("--ffn", "4096"));
  const extraLayers = Number(option("--layers", "0"));
  if (!Number.isInteger(ffnWidth) || !Number.isInteger(extraLayers) || extraLayers < 0) {
    console.error("usage: node scripts/make-padded-stories.mjs [--source PATH] [--out PATH] [--ffn WIDTH] [--layers EXTRA]");
    process.exit(1);
  }
  const sourcePath = option("--source", path.resolve(here, "../../shared/models/stories260K.gguf"));
  const outPath = option("--out", path.join(os.tmpdir(), `stories260K-padded-${ffnWidth}x${extraLayers}.gguf`));
  console.log(JSON.stringify(await makePaddedStories({ sourcePath, outPath, ffnWidth, extraLayers })));
}
