import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { UpstreamClient, UpstreamHttpError } from "./upstream-client.js";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("UpstreamClient (a real HTTP server on 127.0.0.1)", () => {
  it("parses Server-Sent Events split anywhere across writes, until [DONE], and sends the key", async () => {
    let authorization: string | undefined;
    const url = await serve((request, response) => {
      authorization = request.headers.authorization;
      response.writeHead(200, { "content-type": "text/event-stream" });
      const text = 'data: {"n":1}\n\ndata: {"n":2}\n\n: a comment\n\ndata: [DONE]\n\n';
      // One byte per write: every boundary falls somewhere odd.
      let index = 0;
      const timer = setInterval(() => {
        if (index >= text.length) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(text[index++]);
      }, 0);
    });
    const client = new UpstreamClient({ baseUrl: url, apiKey: "k" });
    const events: unknown[] = [];
    for await (const event of client.streamJson("/completion", {})) events.push(event);
    expect(events).toEqual([{ n: 1 }, { n: 2 }]);
    expect(authorization).toBe("Bearer k");
    client.close();
  });

  it("gives the events of a consumer that fell behind in one batch, in order, and its own parser's values", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      let n = 0;
      const timer = setInterval(() => {
        if (n === 20) {
          clearInterval(timer);
          response.end("data: [DONE]\n\n");
          return;
        }
        response.write(`data: {"n":${n++}}\n\n`);
      }, 1);
    });
    const client = new UpstreamClient({ baseUrl: url });
    const batches: number[][] = [];
    const stream = client.streamJsonBatches("/completion", {}, { parse: (data) => (JSON.parse(data) as { n: number }).n });
    for await (const batch of stream) {
      batches.push(batch);
      // A slow consumer: the reads meanwhile come together.
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    expect(batches.flat()).toEqual(Array.from({ length: 20 }, (_, index) => index));
    expect(batches.every((batch) => batch.length > 0)).toBe(true);
    expect(batches.length).toBeLessThan(20);
    client.close();
  });

  it("a consumer that stops early closes the connection, which the server sees", async () => {
    let closed = false;
    const url = await serve((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      const timer = setInterval(() => response.write('data: {"n":0}\n\n'), 5);
      response.on("close", () => {
        closed = true;
        clearInterval(timer);
      });
    });
    const client = new UpstreamClient({ baseUrl: url });
    for await (const _event of client.streamJson("/completion", {})) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(true);
    client.close();
  });

  it("a status other than 2xx is an UpstreamHttpError with the body", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(401, { "content-type": "application/json" });
      response.end('{"error":"Invalid API Key"}');
    });
    const client = new UpstreamClient({ baseUrl: url });
    const error = await client.postJson("/completion", {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamHttpError);
    expect((error as UpstreamHttpError).status).toBe(401);
    expect((error as UpstreamHttpError).body).toMatch(/Invalid API Key/);
    client.close();
  });

  it("sends a request again when the server drops the kept-alive socket it went out on, unanswered", async () => {
    const served = new WeakSet<object>();
    let answered = 0;
    const url = await serve((request, response) => {
      // The second request on a kept-alive socket finds it dropped, as when a server ends an idle connection while
      // the client reuses it.
      if (served.has(request.socket)) {
        request.socket.destroy();
        return;
      }
      served.add(request.socket);
      answered++;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ n: answered }));
    });
    const client = new UpstreamClient({ baseUrl: url });
    expect(await client.postJson("/x", {})).toEqual({ n: 1 });
    expect(await client.postJson("/x", {})).toEqual({ n: 2 });
    client.close();
  });

  it("a server that dies mid-stream (its socket closed inside a chunked body) is an error, never a quiet end", async () => {
    const url = await serve((request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write('data: {"n":1}\n\n');
      setTimeout(() => request.socket.destroy(), 20);
    });
    const client = new UpstreamClient({ baseUrl: url });
    const events: unknown[] = [];
    const error = await (async () => {
      for await (const event of client.streamJson("/completion", {})) events.push(event);
    })().catch((caught: unknown) => caught);
    expect(events).toEqual([{ n: 1 }]);
    expect(error).toBeInstanceOf(Error);
    client.close();
  });

  it("closes a free socket a second before the server's announced keep-alive timeout, not after it", async () => {
    let closedAfterMs: number | undefined;
    const url = await serve((request, response) => {
      const answeredAt = performance.now();
      request.socket.once("close", () => (closedAfterMs = performance.now() - answeredAt));
      // The server would keep the socket 10 s, but announces 2 s: the client must go by the announcement.
      response.writeHead(200, { "content-type": "application/json", "keep-alive": "timeout=2" });
      response.end("{}");
    });
    servers.at(-1)!.keepAliveTimeout = 10_000;
    const client = new UpstreamClient({ baseUrl: url });
    await client.postJson("/x", {});
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(closedAfterMs).toBeGreaterThan(800);
    expect(closedAfterMs).toBeLessThan(1_400);
    client.close();
  });
});
