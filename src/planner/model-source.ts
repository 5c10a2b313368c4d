import { stat } from "node:fs/promises";
import path from "node:path";
import { MoestroError } from "../errors/index.js";

/**
 * Where a model's GGUF header is read from.
 *
 * - `file`: a local `.gguf` file (the first part of a split model).
 * - `hub`: a file in a Hugging Face-style hub repository, read with HTTP range requests; `url` is its
 *   `{endpoint}/{owner}/{repo}/resolve/{revision}/{file}` address.
 */
export type ModelSource =
  | { kind: "file"; path: string; sizeBytes: number }
  | {
      kind: "hub";
      /** The reference as the user wrote it (`hf:owner/repo:Q4_K_M`). */
      ref: string;
      owner: string;
      repo: string;
      revision: string;
      /** Path of the GGUF file inside the repository (the first part of a split model). */
      filePath: string;
      url: string;
      /** Bytes of the file (all parts of a split model) as the hub lists them, when listed. */
      sizeBytes: number | undefined;
    };

/**
 * The seam for the local model store (another issue builds it): resolves a store name or an alias (`qwen3-30b`) to a
 * source, or returns `undefined` when the store does not know the name. Called only for references that are neither a
 * hub reference nor an existing file.
 */
export type StoredModelResolver = (name: string, options: { signal?: AbortSignal }) => Promise<ModelSource | undefined>;

/** A parsed hub reference: `hf:owner/repo:QUANT`, `hf:owner/repo/path/file.gguf`, with an optional `@revision`. */
export interface HubRef {
  owner: string;
  repo: string;
  /** Branch, tag or commit. Defaults to `main`. */
  revision: string;
  /** The quantization asked for (`Q4_K_M`), when the reference names one instead of a file. */
  quant: string | undefined;
  /** The file asked for, when the reference names one. */
  filePath: string | undefined;
}

/** Options of {@link resolveModelSource}. */
export interface ResolveModelSourceOptions {
  /** Base URL of the hub (`HF_ENDPOINT`-style). Defaults to `https://huggingface.co`. */
  hubEndpoint?: string;
  /** Bearer token sent to the hub. Defaults to none. */
  hubToken?: string;
  /** The `fetch` used for hub listings; tests swap it. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Resolves store names and aliases; see {@link StoredModelResolver}. Defaults to none (only paths and hub refs). */
  resolveStoredModel?: StoredModelResolver;
  /** Working directory that relative paths resolve against. Defaults to `process.cwd()`. */
  cwd?: string;
  /** Aborts hub requests; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The default hub: Hugging Face. */
export const defaultHubEndpoint = "https://huggingface.co";

const hubPrefixes = ["hf://", "huggingface://", "hf:", "huggingface:"];

/** Whether `ref` is written as a hub reference (`hf:…`, `hf://…`, `huggingface:…`). */
export function isHubRef(ref: string): boolean {
  return hubPrefixes.some((prefix) => ref.startsWith(prefix));
}

/**
 * Parses a hub reference. Forms (the same as node-llama-cpp's model URIs):
 * - `hf:owner/repo:Q4_K_M`: the GGUF file of that quantization in the repository;
 * - `hf:owner/repo` : the repository's `Q4_K_M` file, node-llama-cpp's default quantization;
 * - `hf:owner/repo/dir/file.gguf`: that file;
 * - any of these with `@revision` after the repository name (`hf:owner/repo@v1:Q8_0`). Defaults to `main`.
 *
 * @throws {MoestroError} `invalid_request` when the reference is not of these forms.
 */
export function parseHubRef(ref: string): HubRef {
  const prefix = hubPrefixes.find((candidate) => ref.startsWith(candidate));
  const body = prefix === undefined ? ref : ref.slice(prefix.length);
  const match = /^([\w.-]+)\/([\w.-]+?)(?:@([\w./-]+?))?(?::([\w.-]+)|\/(.+\.gguf))?$/i.exec(body);
  if (!match) {
    throw new MoestroError("invalid_request", `'${ref}' is not a hub reference; write hf:owner/repo:QUANT or hf:owner/repo/file.gguf.`, {
      param: "model",
    });
  }
  const [, owner, repo, revision, quant, filePath] = match;
  return {
    owner: owner!,
    repo: repo!,
    revision: revision ?? "main",
    quant: filePath === undefined ? (quant ?? "Q4_K_M") : undefined,
    filePath,
  };
}

/** One file of a hub repository listing. */
export interface HubFile {
  path: string;
  sizeBytes: number | undefined;
}

const splitPartPattern = /-(\d{5})-of-(\d{5})\.gguf$/i;

/**
 * Picks the GGUF file of quantization `quant` from a repository listing: a `.gguf` file whose name holds `quant` as a
 * whole token (case-insensitive; `Q4_K_M` does not match `Q4_K_M_L`), not a multimodal projector (`mmproj`). For a model
 * split into parts (`-00001-of-00003.gguf`) it returns the first part, with the size of all parts summed.
 *
 * @throws {MoestroError} `model_not_found` when no file matches, listing the quantizations the repository has.
 */
export function pickGgufFileForQuant(files: readonly HubFile[], quant: string): HubFile {
  const token = quant.toLowerCase().replace(/[^a-z0-9_]/g, "");
  const ggufFiles = files.filter((file) => file.path.toLowerCase().endsWith(".gguf") && !/mmproj/i.test(file.path));
  const matches = ggufFiles.filter((file) => {
    const name = path.posix.basename(file.path).toLowerCase().replace(splitPartPattern, ".gguf");
    return new RegExp(`(^|[^a-z0-9])${token}([^a-z0-9_]|$)`).test(name.replace(/\.gguf$/, ""));
  });
  if (matches.length === 0) {
    const available = ggufFiles.map((file) => path.posix.basename(file.path)).join(", ");
    throw new MoestroError(
      "model_not_found",
      `No GGUF file of quantization ${quant} in the repository${available ? ` (files: ${available})` : " (it has no GGUF files)"}.`,
      {
        param: "model",
      },
    );
  }
  const first = matches.find((file) => !splitPartPattern.test(file.path) || /-00001-of-/i.test(file.path)) ?? matches[0]!;
  if (!splitPartPattern.test(first.path)) return first;
  const stem = first.path.replace(splitPartPattern, "");
  const parts = matches.filter((file) => file.path.replace(splitPartPattern, "") === stem);
  const sizes = parts.map((file) => file.sizeBytes);
  return {
    path: first.path,
    sizeBytes: sizes.every((size) => size !== undefined) ? sizes.reduce((sum, size) => sum! + size!, 0) : undefined,
  };
}

/** The `{endpoint}/{owner}/{repo}/resolve/{revision}/{file}` address of a hub file (the hub's download layout). */
export function hubFileUrl(endpoint: string, ref: Pick<HubRef, "owner" | "repo" | "revision">, filePath: string): string {
  const base = endpoint.replace(/\/+$/, "");
  const encodedPath = filePath.split("/").map(encodeURIComponent).join("/");
  return `${base}/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.repo)}/resolve/${encodeURIComponent(ref.revision)}/${encodedPath}`;
}

/**
 * Lists the files of a hub repository with the hub API `GET {endpoint}/api/models/{owner}/{repo}/tree/{revision}?recursive=true`
 * (entries `{type, path, size, lfs?: {size}}`), following `Link: <…>; rel="next"` pages.
 *
 * @throws {MoestroError} `model_not_found` on 401/403/404 (a missing or gated repository), `hub_unreachable` when the hub
 * cannot be reached or answers another error, `invalid_request` when its answer is not a JSON array.
 */
export async function listHubFiles(
  ref: Pick<HubRef, "owner" | "repo" | "revision">,
  options: { hubEndpoint: string; hubToken?: string; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<HubFile[]> {
  const fetchFn = options.fetch ?? fetch;
  const base = options.hubEndpoint.replace(/\/+$/, "");
  let url: string | undefined =
    `${base}/api/models/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.repo)}/tree/${encodeURIComponent(ref.revision)}?recursive=true`;
  const files: HubFile[] = [];
  for (let page = 0; url !== undefined && page < 20; page++) {
    let response: Response;
    try {
      response = await fetchFn(url, {
        headers: { accept: "application/json", ...(options.hubToken ? { authorization: `Bearer ${options.hubToken}` } : {}) },
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new MoestroError(
        "hub_unreachable",
        `Cannot reach the hub at ${base}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      throw new MoestroError(
        "model_not_found",
        `The hub has no repository ${ref.owner}/${ref.repo} at revision ${ref.revision} (HTTP ${response.status}), or it needs a token.`,
        {
          param: "model",
        },
      );
    }
    if (!response.ok)
      throw new MoestroError("hub_unreachable", `The hub answered HTTP ${response.status} when listing ${ref.owner}/${ref.repo}.`);
    const entries = (await response.json()) as unknown;
    if (!Array.isArray(entries))
      throw new MoestroError("invalid_request", `The hub's listing of ${ref.owner}/${ref.repo} is not a JSON array.`);
    for (const entry of entries as Array<Record<string, unknown>>) {
      if (entry.type !== "file" || typeof entry.path !== "string") continue;
      const lfs = entry.lfs as { size?: unknown } | undefined;
      const size = typeof lfs?.size === "number" ? lfs.size : typeof entry.size === "number" ? entry.size : undefined;
      files.push({ path: entry.path, sizeBytes: size });
    }
    url = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("link") ?? "")?.[1];
  }
  return files;
}

/**
 * Resolves what the user typed as a model to a {@link ModelSource}, in this order:
 * 1. a hub reference (`hf:owner/repo:QUANT`): the repository is listed to find the file, nothing is downloaded;
 * 2. an existing local file (relative paths resolve against `cwd`);
 * 3. the local store's names and aliases, through `resolveStoredModel` (the store's seam).
 *
 * @throws {MoestroError} `model_not_found` when nothing matches (or the hub has no such repository or quantization),
 * `invalid_request` when a hub reference is malformed, `hub_unreachable` when the hub cannot be reached.
 */
export async function resolveModelSource(ref: string, options: ResolveModelSourceOptions = {}): Promise<ModelSource> {
  const trimmed = ref.trim();
  if (isHubRef(trimmed)) {
    const hubRef = parseHubRef(trimmed);
    const hubEndpoint = options.hubEndpoint ?? defaultHubEndpoint;
    let file: HubFile;
    if (hubRef.filePath !== undefined) {
      file = { path: hubRef.filePath, sizeBytes: undefined };
    } else {
      const files = await listHubFiles(hubRef, { hubEndpoint, hubToken: options.hubToken, fetch: options.fetch, signal: options.signal });
      file = pickGgufFileForQuant(files, hubRef.quant!);
    }
    return {
      kind: "hub",
      ref: trimmed,
      owner: hubRef.owner,
      repo: hubRef.repo,
      revision: hubRef.revision,
      filePath: file.path,
      url: hubFileUrl(hubEndpoint, hubRef, file.path),
      sizeBytes: file.sizeBytes,
    };
  }
  const filePath = path.resolve(options.cwd ?? process.cwd(), trimmed);
  const fileStat = await stat(filePath).catch(() => undefined);
  if (fileStat?.isFile()) return { kind: "file", path: filePath, sizeBytes: fileStat.size };
  const stored = await options.resolveStoredModel?.(trimmed, { signal: options.signal });
  if (stored !== undefined) return stored;
  throw new MoestroError(
    "model_not_found",
    `No model '${ref}': it is not a file${options.resolveStoredModel ? " nor a name in the local store" : ""}. Pass a .gguf path or a hub reference (hf:owner/repo:Q4_K_M).`,
    { param: "model" },
  );
}

/**
 * A {@link StoredModelResolver} over the local model store (`src/models/model-store.ts`): a name the store lists
 * (`Qwen/Qwen3-0.6B-GGUF:Q8_0`) resolves to its file (the first part of a split model) and total size.
 */
export function createStoreModelResolver(store: {
  get(name: string): Promise<{ path: string; sizeBytes: number } | undefined>;
}): StoredModelResolver {
  return async (name) => {
    const stored = await store.get(name);
    return stored === undefined ? undefined : { kind: "file", path: stored.path, sizeBytes: stored.sizeBytes };
  };
}
