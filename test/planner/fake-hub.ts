import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the fake hub saw. */
export interface HubRequest {
  url: string;
  range: string | undefined;
  sentBytes: number;
}

/**
 * A hub on 127.0.0.1 with the Hugging Face layout for the repository `acme/Qwen3-30B-A3B-GGUF`: the tree API
 * (`/api/models/{owner}/{repo}/tree/{revision}`, two pages joined by a `Link` header) and
 * `/{owner}/{repo}/resolve/main/{file}` with HTTP Range support (206 and `Content-Range`). `files` are served;
 * `listedSizes` are the sizes the listing reports.
 */
export function startFakeHub(
  files: Record<string, Buffer>,
  listedSizes: Record<string, number>,
): Promise<{ server: Server; url: string; requests: HubRequest[] }> {
  const requests: HubRequest[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const record: HubRequest = { url: url.pathname + url.search, range: request.headers.range, sentBytes: 0 };
    requests.push(record);
    const tree = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      if (tree[1] !== "acme" || tree[2] !== "Qwen3-30B-A3B-GGUF") {
        response.writeHead(404).end(JSON.stringify({ error: "Repository not found" }));
        return;
      }
      // two pages, as the hub paginates with a Link header
      const all = Object.keys(listedSizes).map((file) => ({ type: "file", path: file, size: 134, lfs: { size: listedSizes[file] } }));
      const page = url.searchParams.get("cursor") === "2" ? all.slice(1) : all.slice(0, 1);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (url.searchParams.get("cursor") !== "2")
        headers.link = `<${url.origin.replace("127.0.0.1", request.headers.host ?? "")}${url.pathname}?recursive=true&cursor=2>; rel="next"`;
      response.writeHead(200, headers).end(JSON.stringify([{ type: "directory", path: "docs" }, ...page]));
      return;
    }
    const resolve = /^\/acme\/Qwen3-30B-A3B-GGUF\/resolve\/main\/(.+)$/.exec(url.pathname);
    const body = resolve ? files[decodeURIComponent(resolve[1]!)] : undefined;
    if (!body) {
      response.writeHead(404).end("Entry not found");
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
    if (!range) {
      record.sentBytes = body.length;
      response.writeHead(200, { "content-length": String(body.length) }).end(body);
      return;
    }
    const start = Number(range[1]);
    const end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
    if (start >= body.length) {
      response.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      return;
    }
    const slice = body.subarray(start, end + 1);
    record.sentBytes = slice.length;
    response.writeHead(206, { "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": String(slice.length) }).end(slice);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })),
  );
}
