import path from "node:path";
import { MoestroError } from "../errors/index.js";
import { PushIterable } from "../util/push-iterable.js";
import { downloadFile } from "./download-file.js";
import type { HubClient, HubFile } from "./hub-client.js";
import { modelRefName, parseModelRef, splitPartPattern, urlFileName, type ModelRef } from "./model-ref.js";
import type { ModelStore, StoredModel } from "./model-store.js";

/**
 * Progress of a pull. `completedBytes` and `totalBytes` cover all of the model's files (0 ≤ completedBytes ≤
 * totalBytes). Statuses come in order: `resolving`, then `downloading` (repeated), then `done` (once, last).
 */
export interface PullProgress {
  status: "resolving" | "downloading" | "done";
  /** The model's name in the store. */
  model: string;
  /** The file being downloaded. */
  file?: string;
  completedBytes: number;
  /** Unknown only for a URL whose server sends no length. */
  totalBytes: number | undefined;
  /** The stored model, on `done`. */
  stored?: StoredModel;
}

/** A file to fetch for a model. */
interface RemoteFile {
  name: string;
  url: string;
  sizeBytes?: number;
  sha256?: string;
}

/** Options of {@link createModelPuller}. */
export interface ModelPullerOptions {
  store: ModelStore;
  hub: HubClient;
  /** The fetch implementation. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/** Pulls models into the store; concurrent pulls of one file share one download. */
export interface ModelPuller {
  /**
   * Pulls a model: resolves the reference to its files, downloads what is missing (resuming partial files), checks each
   * file's size and SHA-256 against the hub's metadata, and records the model in the store.
   *
   * @param ref `hf:owner/repo:QUANT`, `hf:owner/repo/file.gguf` or an https URL.
   * @returns progress, ending with `done`. Iterating it runs the pull; breaking out early abandons the wait (a download
   *   shared with another pull goes on).
   * @throws {MoestroError} `model_not_found` (404) when the repo or quantization does not exist; `hub_unreachable` (502);
   *   `checksum_mismatch` (502); the signal's reason when aborted (partial files stay, to be resumed). A failed pull
   *   that kept no byte leaves no folder behind.
   * @example
   * for await (const progress of puller.pull("hf:Qwen/Qwen3-0.6B-GGUF:Q8_0")) console.log(progress.completedBytes);
   */
  pull(ref: string, options?: { signal?: AbortSignal }): AsyncIterable<PullProgress>;
  /**
   * Checks that `ref` is a reference pull takes, without reaching the hub, so that a caller can refuse it before it
   * starts streaming progress; `pull` makes the same checks.
   *
   * @returns the name the model will be stored and served under (`modelRefName`).
   * @throws {MoestroError} `invalid_request` (400, `param: "model"`) for a local path, a malformed `hf:` reference or
   *   URL (see `parseModelRef`).
   */
  checkRef(ref: string): string;
  /** Resolves a reference to its name and files without downloading. */
  resolve(ref: string, options?: { signal?: AbortSignal }): Promise<{ name: string; files: RemoteFile[] }>;
}

/** Creates a {@link ModelPuller}. */
export function createModelPuller(options: ModelPullerOptions): ModelPuller {
  const { store, hub } = options;
  const inFlight = new Map<string, { done: Promise<string>; listeners: Set<(completedBytes: number) => void> }>();

  function parsePullRef(refText: string): Exclude<ModelRef, { kind: "path" }> {
    const ref = parseModelRef(refText);
    if (ref.kind === "path") {
      throw new MoestroError(
        "invalid_request",
        `'${refText}' is a local path; pull takes hf:owner/repo:QUANT, hf:owner/repo/file.gguf or an https URL.`,
        { param: "model" },
      );
    }
    return ref;
  }

  async function resolve(refText: string, { signal }: { signal?: AbortSignal } = {}): Promise<{ name: string; files: RemoteFile[] }> {
    const ref = parsePullRef(refText);
    const name = modelRefName(ref);
    switch (ref.kind) {
      case "url":
        return { name, files: [{ name: urlFileName(ref.url) || "model.gguf", url: ref.url }] };
      case "hf-quant":
      case "hf-file": {
        const listed = await hub.listFiles(ref.owner, ref.repo, { signal });
        const chosen = chooseFiles(ref, listed);
        return {
          name,
          files: chosen.map((file) => ({
            name: path.posix.basename(file.path),
            url: hub.fileUrl(ref.owner, ref.repo, file.path),
            sizeBytes: file.sizeBytes,
            sha256: file.sha256,
          })),
        };
      }
      default:
        return ref satisfies never;
    }
  }

  /** Downloads one file, or joins the download of it already under way. */
  function download(
    file: RemoteFile,
    destination: string,
    signal: AbortSignal | undefined,
    onProgress: (completedBytes: number) => void,
  ): Promise<string> {
    let entry = inFlight.get(destination);
    if (entry === undefined) {
      const listeners = new Set<(completedBytes: number) => void>();
      const done = downloadFile({
        url: file.url,
        destination,
        expectedSizeBytes: file.sizeBytes,
        expectedSha256: file.sha256,
        headers: file.url.startsWith(hub.endpoint) ? hub.headers : {},
        signal,
        fetch: options.fetch,
        onProgress: (completedBytes) => {
          for (const listener of listeners) listener(completedBytes);
        },
      }).finally(() => inFlight.delete(destination));
      entry = { done, listeners };
      inFlight.set(destination, entry);
    }
    entry.listeners.add(onProgress);
    return entry.done.finally(() => entry.listeners.delete(onProgress));
  }

  function pull(refText: string, { signal }: { signal?: AbortSignal } = {}): AsyncIterable<PullProgress> {
    const progress = new PushIterable<PullProgress>();
    void (async () => {
      const name = modelRefName(parsePullRef(refText));
      progress.push({ status: "resolving", model: name, completedBytes: 0, totalBytes: undefined });
      const { files } = await resolve(refText, { signal });
      const knownSizes = files.every((file) => file.sizeBytes !== undefined);
      const totalBytes = knownSizes ? files.reduce((total, file) => total + file.sizeBytes!, 0) : undefined;
      const folder = store.folderFor(name);
      const stored: Array<{ name: string; sizeBytes: number; sha256: string }> = [];
      let finishedBytes = 0;
      for (const file of files) {
        const destination = path.join(folder, file.name);
        const existing = await store.get(name);
        const known = existing?.files.find(
          (candidate) => candidate.name === file.name && candidate.sha256 === (file.sha256 ?? candidate.sha256),
        );
        let sha256: string;
        if (known && file.sizeBytes !== undefined && (await store.hasFile(name, file.name, file.sizeBytes))) {
          sha256 = known.sha256;
        } else {
          let lastReport = 0;
          sha256 = await download(file, destination, signal, (completedBytes) => {
            const now = performance.now();
            if (now - lastReport < 100 && completedBytes !== file.sizeBytes) return;
            lastReport = now;
            progress.push({
              status: "downloading",
              model: name,
              file: file.name,
              completedBytes: finishedBytes + completedBytes,
              totalBytes,
            });
          });
        }
        const sizeBytes = file.sizeBytes ?? (await import("node:fs/promises").then((fs) => fs.stat(destination))).size;
        finishedBytes += sizeBytes;
        stored.push({ name: file.name, sizeBytes, sha256 });
        progress.push({
          status: "downloading",
          model: name,
          file: file.name,
          completedBytes: finishedBytes,
          totalBytes: totalBytes ?? finishedBytes,
        });
      }
      const model = await store.save({ name, ref: refText, files: stored, pulledAtMs: Date.now() });
      progress.push({ status: "done", model: name, completedBytes: finishedBytes, totalBytes: finishedBytes, stored: model });
      progress.end();
    })().catch(async (error: unknown) => {
      // A pull that failed before any byte was kept (hub error, checksum mismatch) leaves no empty folder behind.
      try {
        await store.removeFolderIfEmpty(modelRefName(parseModelRef(refText)));
      } catch {
        // A reference that cannot be parsed made no folder.
      }
      progress.fail(error);
    });
    return progress;
  }

  return { pull, resolve, checkRef: (refText) => modelRefName(parsePullRef(refText)) };
}

/**
 * Chooses a reference's files among a repo's: for a quantization, the GGUF whose name holds it as a whole word (all
 * parts of a split model, in order; the shortest path when several match); for a file, that file and, when it is the
 * first part of a split model, its sibling parts.
 *
 * @throws {MoestroError} `model_not_found` (404) naming the quantizations the repo has.
 */
export function chooseFiles(ref: Extract<ModelRef, { kind: "hf-quant" | "hf-file" }>, files: readonly HubFile[]): HubFile[] {
  const ggufs = files.filter((file) => file.path.toLowerCase().endsWith(".gguf"));
  if (ref.kind === "hf-file") {
    const file = ggufs.find((candidate) => candidate.path === ref.file);
    if (file === undefined)
      throw new MoestroError("model_not_found", `${ref.owner}/${ref.repo} has no file ${ref.file}.`, { param: "model" });
    return withSplitParts(file, ggufs);
  }
  const word = new RegExp(`(^|[-_.])${ref.quantization.replace(/[^A-Z0-9_]/gi, "")}([-_.]|$)`, "i");
  const matches = ggufs.filter((file) =>
    word.test(
      path.posix
        .basename(file.path)
        .replace(/\.gguf$/i, "")
        .replace(splitPartPattern, ""),
    ),
  );
  const firsts = matches
    .filter((file) => !splitPartPattern.test(file.path) || /-00001-of-/i.test(file.path))
    .sort((a, b) => a.path.length - b.path.length);
  if (firsts.length === 0) {
    const available = [
      ...new Set(
        ggufs
          .map((file) =>
            /(?:^|[-_.])((?:I?Q\d[A-Z0-9_]*)|F16|BF16|F32)(?:[-_.]|$)/i.exec(path.posix.basename(file.path))?.[1]?.toUpperCase(),
          )
          .filter(Boolean),
      ),
    ];
    throw new MoestroError(
      "model_not_found",
      `${ref.owner}/${ref.repo} has no ${ref.quantization} GGUF${available.length > 0 ? `; it has ${available.join(", ")}` : ""}.`,
      { param: "model" },
    );
  }
  return withSplitParts(firsts[0]!, ggufs);
}

function withSplitParts(first: HubFile, files: readonly HubFile[]): HubFile[] {
  const match = splitPartPattern.exec(first.path);
  if (!match) return [first];
  const base = first.path.slice(0, match.index);
  const count = Number(match[2]);
  const parts: HubFile[] = [];
  for (let part = 1; part <= count; part++) {
    const partPath = `${base}-${String(part).padStart(5, "0")}-of-${match[2]}.gguf`;
    const file = files.find((candidate) => candidate.path.toLowerCase() === partPath.toLowerCase());
    if (file === undefined)
      throw new MoestroError("model_not_found", `The split model ${first.path} lacks its part ${partPath}.`, { param: "model" });
    parts.push(file);
  }
  return parts;
}
