import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { MoestroError } from "../errors/index.js";
import { describeFetchError } from "./hub-client.js";

/** What one file download is to do. */
export interface DownloadFileOptions {
  /** Where to get it. */
  url: string;
  /** Where it ends up; the bytes go to `destination + ".partial"` until they are complete and checked. */
  destination: string;
  /** The size the source publishes, bytes; checked at the end when given. */
  expectedSizeBytes?: number;
  /** The SHA-256 the source publishes, hex; checked at the end when given. */
  expectedSha256?: string;
  /** Request headers (authorization). Defaults to none. */
  headers?: Readonly<Record<string, string>>;
  /** Aborts the download; the partial file is kept, so the next try resumes. */
  signal?: AbortSignal;
  /** Called as bytes arrive: `completedBytes` so far (resumed bytes included) of `totalBytes` (when known). */
  onProgress?: (completedBytes: number, totalBytes: number | undefined) => void;
  /** The fetch implementation. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Downloads one file, resuming a partial download left by an earlier, interrupted try (HTTP `Range`), then checks its
 * size and SHA-256 against what the source published before moving it into place. A mismatch deletes the partial file.
 *
 * @returns the file's SHA-256 (hex).
 * @throws {MoestroError} `hub_unreachable` (502) when the source cannot be reached or fails; `checksum_mismatch` (502)
 *   when the bytes do not match; the signal's reason when aborted.
 */
export async function downloadFile(options: DownloadFileOptions): Promise<string> {
  const { url, destination, signal } = options;
  const fetchImpl = options.fetch ?? fetch;
  const partial = `${destination}.partial`;
  await mkdir(path.dirname(destination), { recursive: true });
  let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
  if (options.expectedSizeBytes !== undefined && offset > options.expectedSizeBytes) {
    await rm(partial, { force: true });
    offset = 0;
  }

  let response: Response;
  try {
    response = await fetchImpl(url, {
      headers: { ...options.headers, ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) },
      signal,
      redirect: "follow",
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new MoestroError("hub_unreachable", `Cannot download ${url} (${describeFetchError(error)}).`, { cause: error });
  }
  if (response.status === 416 && options.expectedSizeBytes === offset) {
    // The partial file is already whole.
  } else if (!response.ok || response.body === null) {
    throw new MoestroError("hub_unreachable", `Downloading ${url} failed: HTTP ${response.status}.`);
  } else {
    if (offset > 0 && response.status !== 206) offset = 0; // The server ignored Range: start over.
    const lengthHeader = Number(response.headers.get("content-length"));
    const totalBytes = options.expectedSizeBytes ?? (Number.isFinite(lengthHeader) && lengthHeader > 0 ? offset + lengthHeader : undefined);
    let completedBytes = offset;
    options.onProgress?.(completedBytes, totalBytes);
    const body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      completedBytes += chunk.length;
      options.onProgress?.(completedBytes, totalBytes);
    });
    try {
      await pipeline(body, createWriteStream(partial, { flags: offset > 0 ? "a" : "w" }), { signal });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new MoestroError(
        "hub_unreachable",
        `Downloading ${url} was interrupted (${describeFetchError(error)}); run the same command again to resume.`,
        { cause: error },
      );
    }
  }

  const sizeBytes = (await stat(partial)).size;
  if (options.expectedSizeBytes !== undefined && sizeBytes !== options.expectedSizeBytes) {
    await rm(partial, { force: true });
    throw new MoestroError(
      "checksum_mismatch",
      `${path.basename(destination)} has ${sizeBytes} bytes but the hub lists ${options.expectedSizeBytes}; the download was deleted.`,
    );
  }
  const sha256 = await hashFile(partial);
  if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256.toLowerCase()) {
    await rm(partial, { force: true });
    throw new MoestroError(
      "checksum_mismatch",
      `${path.basename(destination)} has SHA-256 ${sha256} but the hub lists ${options.expectedSha256}; the download was deleted.`,
    );
  }
  await rename(partial, destination);
  return sha256;
}

/** SHA-256 of a file, hex. */
export async function hashFile(filePath: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(filePath), hash);
  return hash.digest("hex");
}
