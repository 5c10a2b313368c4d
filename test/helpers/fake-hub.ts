import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A file a fake hub repo serves. */
export interface FakeHubFile {
  /** Path in the repo. */
  path: string;
  /** The bytes served. */
  content: Buffer;
  /** The SHA-256 the tree API lists; defaults to the content's (set another to test a mismatch). */
  listedSha256?: string;
}

/** Options of {@link startFakeHub}. */
export interface FakeHubOptions {
  /** `owner/repo` → files. */
  repos: Record<string, FakeHubFile[]>;
  /** Cut the connection of the first download of each file after this many bytes (to test resuming). */
  interruptFirstDownloadAfterBytes?: number;
  /** Bytes per second a download is sent at (to make progress visible). Defaults to unthrottled. */
  bytesPerSecond?: number;
}

/** A running fake hub. */
export interface FakeHub {
  /** Base URL, for `HF_ENDPOINT`. */
  url: string;
  /** Requests seen, as `METHOD path range`. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves real files in the Hugging Face hub's URL layout on 127.0.0.1 (the real hub cannot be reached from these
 * machines): `GET /api/models/{owner}/{repo}/tree/main` lists files with their LFS size and SHA-256, and
 * `GET /{owner}/{repo}/resolve/main/{path}` serves them with `Range` support.
 */
export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const requests: string[] = [];
  const interrupted = new Set<string>();
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://hub");
    requests.push(`${request.method} ${url.pathname} ${request.headers.range ?? ""}`.trim());
    const tree = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/main$/.exec(url.pathname);
    if (tree) {
      const files = options.repos[`${decodeURIComponent(tree[1]!)}/${decodeURIComponent(tree[2]!)}`];
      if (!files) return void response.writeHead(404, { "content-type": "application/json" }).end('{"error":"Repository not found"}');
      const body = files.map((file) => ({
        type: "file",
        path: file.path,
        size: file.content.length,
        lfs: { oid: file.listedSha256 ?? createHash("sha256").update(file.content).digest("hex"), size: file.content.length },
      }));
      return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    }
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    const file = resolve
      ? options.repos[`${decodeURIComponent(resolve[1]!)}/${decodeURIComponent(resolve[2]!)}`]?.find(
          (candidate) => candidate.path === decodeURIComponent(resolve[3]!),
        )
      : undefined;
    if (!file) return void response.writeHead(404).end("Entry not found");
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start >= file.content.length && file.content.length > 0) return void response.writeHead(416).end();
    const body = file.content.subarray(start);
    response.writeHead(range ? 206 : 200, {
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${file.content.length - 1}/${file.content.length}` } : {}),
    });
    const cutAfter = options.interruptFirstDownloadAfterBytes;
    if (cutAfter !== undefined && !interrupted.has(file.path) && start === 0) {
      interrupted.add(file.path);
      response.write(body.subarray(0, cutAfter), () => setTimeout(() => response.destroy(), 20));
      return;
    }
    if (options.bytesPerSecond === undefined) return void response.end(body);
    const chunkBytes = Math.max(1, Math.floor(options.bytesPerSecond / 20));
    let offset = 0;
    const timer = setInterval(() => {
      if (response.destroyed) return clearInterval(timer);
      const chunk = body.subarray(offset, offset + chunkBytes);
      offset += chunk.length;
      if (offset >= body.length) {
        clearInterval(timer);
        response.end(chunk);
      } else response.write(chunk);
    }, 50);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a file into a Buffer (for FakeHubFile contents). */
export function fileBytes(filePath: string): Buffer {
  return readFileSync(filePath);
}
