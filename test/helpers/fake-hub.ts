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
  /** The size the tree API lists, bytes; defaults to the content's (a GGUF header can stand in for an 18 GB file). */
  listedSizeBytes?: number;
}

/** Options of {@link startFakeHub}. */
export interface FakeHubOptions {
  /** `owner/repo` → files. */
  repos: Record<string, FakeHubFile[]>;
  /** Cut the connection of the first download of each file after this many bytes (to test resuming). */
  interruptFirstDownloadAfterBytes?: number;
  /** Bytes per second a download is sent at (to make progress visible). Defaults to unthrottled. */
  bytesPerSecond?: number;
  /**
   * Files per page of the tree API; further pages are linked with `Link: <…?cursor=N>; rel="next"`, as the real hub
   * paginates. Defaults to one page.
   */
  treePageSize?: number;
  /** Folders the tree API lists on every page beside the files (clients must skip them). Defaults to none. */
  treeFolders?: string[];
}

/** One request the fake hub answered. */
export interface FakeHubRequest {
  method: string;
  /** Path and query string. */
  url: string;
  /** The `Range` header, when sent. */
  range: string | undefined;
  /** Body bytes sent (a download; 0 for listings and errors). */
  sentBytes: number;
}

/** A running fake hub. */
export interface FakeHub {
  /** Base URL, for `HF_ENDPOINT`. */
  url: string;
  /** Requests seen, in order, with their query string and the bytes sent. Empty it (`log.length = 0`) to start over. */
  log: FakeHubRequest[];
  /** The requests of {@link FakeHub.log} as `METHOD path range` (no query string), read from it at each access. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * Serves real files in the Hugging Face hub's URL layout on 127.0.0.1 (the real hub cannot be reached from these
 * machines): `GET /api/models/{owner}/{repo}/tree/{revision}` lists files with their LFS size and SHA-256 (in pages
 * when `treePageSize` is set), and `GET /{owner}/{repo}/resolve/main/{path}` serves them with `Range` support
 * (`bytes=START-` and `bytes=START-END`: 206 with `Content-Range`, 416 past the end).
 */
export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const log: FakeHubRequest[] = [];
  const interrupted = new Set<string>();
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://hub");
    const record: FakeHubRequest = {
      method: request.method ?? "GET",
      url: url.pathname + url.search,
      range: request.headers.range,
      sentBytes: 0,
    };
    log.push(record);
    const tree = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/[^/]+$/.exec(url.pathname);
    if (tree) {
      const files = options.repos[`${decodeURIComponent(tree[1]!)}/${decodeURIComponent(tree[2]!)}`];
      if (!files) return void response.writeHead(404, { "content-type": "application/json" }).end('{"error":"Repository not found"}');
      const pageSize = options.treePageSize ?? Math.max(1, files.length);
      const page = Number(url.searchParams.get("cursor") ?? "1");
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (page * pageSize < files.length) {
        const next = new URL(url.pathname + url.search, `http://${request.headers.host}`);
        next.searchParams.set("cursor", String(page + 1));
        headers.link = `<${next.href}>; rel="next"`;
      }
      const body = [
        ...(options.treeFolders ?? []).map((folder) => ({ type: "directory", path: folder })),
        ...files.slice((page - 1) * pageSize, page * pageSize).map((file) => {
          const sizeBytes = file.listedSizeBytes ?? file.content.length;
          const oid = file.listedSha256 ?? createHash("sha256").update(file.content).digest("hex");
          return { type: "file", path: file.path, size: sizeBytes, lfs: { oid, size: sizeBytes } };
        }),
      ];
      return void response.writeHead(200, headers).end(JSON.stringify(body));
    }
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    const file = resolve
      ? options.repos[`${decodeURIComponent(resolve[1]!)}/${decodeURIComponent(resolve[2]!)}`]?.find(
          (candidate) => candidate.path === decodeURIComponent(resolve[3]!),
        )
      : undefined;
    if (!file) return void response.writeHead(404).end("Entry not found");
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Math.min(Number(range[2]), file.content.length - 1) : file.content.length - 1;
    if (start >= file.content.length && file.content.length > 0)
      return void response.writeHead(416, { "content-range": `bytes */${file.content.length}` }).end();
    const body = file.content.subarray(start, end + 1);
    record.sentBytes = body.length;
    response.writeHead(range ? 206 : 200, {
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${end}/${file.content.length}` } : {}),
    });
    const cutAfter = options.interruptFirstDownloadAfterBytes;
    if (cutAfter !== undefined && !interrupted.has(file.path) && start === 0) {
      interrupted.add(file.path);
      record.sentBytes = Math.min(cutAfter, body.length);
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
    log,
    get requests() {
      return log.map((record) => `${record.method} ${record.url.split("?")[0]} ${record.range ?? ""}`.trim());
    },
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
