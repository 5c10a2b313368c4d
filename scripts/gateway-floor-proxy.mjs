// @ts-check
// The floor of any gateway written in Node (docs/gateway.md, "Overhead"): a bare `node:http` proxy with none of a
// gateway's work (no keys, limits, budgets, ledger, translation or failover), started by `bench-gateway.mjs` with
// BENCH_FLOOR=1 beside moestro's gateway in front of the same upstream. It reads the client's JSON body, renames nothing
// but parses and re-serializes it (as any gateway must, to read the model), forwards it over a keep-alive connection,
// and answers with the upstream's body: a non-streamed answer read whole, parsed and re-serialized; a stream piped
// through byte for byte (no SSE parse at all, less than a metering gateway can do).
// usage: node scripts/gateway-floor-proxy.mjs UPSTREAM_URL   (prints `listening on http://127.0.0.1:PORT` once ready)
import http from "node:http";

const upstream = new URL(process.argv[2] ?? "");
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((request, response) => {
  /** @type {Buffer[]} */
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    const forwarded = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: request.url,
        method: request.method,
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (answer) => {
        if (String(answer.headers["content-type"]).startsWith("text/event-stream")) {
          response.writeHead(answer.statusCode ?? 502, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          answer.pipe(response);
          return;
        }
        /** @type {Buffer[]} */
        const parts = [];
        answer.on("data", (part) => parts.push(part));
        answer.on("end", () => {
          const text = JSON.stringify(JSON.parse(Buffer.concat(parts).toString("utf8")));
          response.writeHead(answer.statusCode ?? 502, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
          response.end(text);
        });
      },
    );
    forwarded.on("error", (error) => {
      response.writeHead(502, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: error.message } }));
    });
    forwarded.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
});
