import { MoestroError } from "../errors/index.js";

/**
 * Where a model comes from.
 * - `hf-quant`: `hf:owner/repo:QUANT` (or `hf:owner/repo`, meaning Q4_K_M, llama.cpp's default): the repo's GGUF whose
 *   file name holds the quantization type, all its parts when it is split (`-00001-of-00003.gguf`).
 * - `hf-file`: `hf:owner/repo/path/file.gguf`: that file (and its sibling parts when it is a split's first part).
 * - `url`: an `https://` or `http://` URL of a GGUF file.
 * - `path`: a local file.
 */
export type ModelRef =
  | { kind: "hf-quant"; owner: string; repo: string; quantization: string }
  | { kind: "hf-file"; owner: string; repo: string; file: string }
  | { kind: "url"; url: string }
  | { kind: "path"; path: string };

/** The quantization `hf:owner/repo` means when none is given: Q4_K_M, as llama.cpp's `-hf` and node-llama-cpp choose. */
export const defaultQuantization = "Q4_K_M";

/**
 * Parses a model reference.
 *
 * @throws {MoestroError} `invalid_request` (400, `param: "model"`) for an `hf:` reference without owner and repo, and for
 *   a URL that does not parse or whose file name holds malformed percent-encoding (`https://host/%zz.gguf`).
 */
export function parseModelRef(text: string): ModelRef {
  const value = text.trim();
  if (/^https?:\/\//i.test(value)) {
    urlFileName(value);
    return { kind: "url", url: value };
  }
  const hf = /^(?:hf:|huggingface:|hf\.co\/|huggingface\.co\/)(.+)$/i.exec(value);
  if (!hf) return { kind: "path", path: value };
  const rest = hf[1]!;
  const [owner, repoAndMore, ...more] = rest.split("/");
  if (!owner || !repoAndMore) {
    throw new MoestroError(
      "invalid_request",
      `'${text}' is not a Hugging Face reference: write hf:owner/repo:QUANT or hf:owner/repo/file.gguf.`,
      { param: "model" },
    );
  }
  if (more.length > 0) return { kind: "hf-file", owner, repo: repoAndMore, file: more.join("/") };
  const [repo, quantization] = repoAndMore.split(":");
  return { kind: "hf-quant", owner, repo: repo!, quantization: (quantization || defaultQuantization).toUpperCase() };
}

/**
 * The canonical name a pulled model is stored and served under: the reference without `hf:` (`Qwen/Qwen3-0.6B-GGUF:Q8_0`,
 * `owner/repo/file.gguf`), or the URL's file name without `.gguf`.
 */
export function modelRefName(ref: ModelRef): string {
  switch (ref.kind) {
    case "hf-quant":
      return `${ref.owner}/${ref.repo}:${ref.quantization}`;
    case "hf-file":
      return `${ref.owner}/${ref.repo}/${ref.file}`;
    case "url":
      return (urlFileName(ref.url) || "model").replace(/\.gguf$/i, "");
    case "path":
      return ref.path;
    default:
      return ref satisfies never;
  }
}

/** Matches the parts of a split GGUF: `name-00001-of-00003.gguf`. */
export const splitPartPattern = /-(\d{5})-of-(\d{5})\.gguf$/i;

/**
 * The decoded last segment of a URL's path (`""` when the path ends with `/`): the name a URL's model file is stored
 * under.
 *
 * @throws {MoestroError} `invalid_request` (400, `param: "model"`) when `url` does not parse, or its file name holds
 *   malformed percent-encoding (a `%` not followed by two hex digits, or bytes that are not UTF-8).
 */
export function urlFileName(url: string): string {
  let segment: string;
  try {
    segment = new URL(url).pathname.split("/").at(-1) ?? "";
  } catch {
    throw new MoestroError("invalid_request", `'${url}' is not a valid URL.`, { param: "model" });
  }
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new MoestroError(
      "invalid_request",
      `The URL '${url}' has malformed percent-encoding in its file name '${segment}': each % must start an escape such as %20, and the escapes must spell UTF-8.`,
      { param: "model" },
    );
  }
}
