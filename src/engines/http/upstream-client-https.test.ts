import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpstreamClient } from "./upstream-client.js";

/** Whether `openssl` can make the test's self-signed certificate. */
function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasOpenssl())("UpstreamClient over https (a real TLS server on 127.0.0.1, a self-signed certificate)", () => {
  let folder: string;
  let server: https.Server;
  let url: string;
  let certificate: string;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-tls-"));
    const key = path.join(folder, "key.pem");
    const cert = path.join(folder, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    certificate = readFileSync(cert, "utf8");
    server = https.createServer({ key: readFileSync(key), cert: certificate }, (request, response) => {
      if (request.method === "GET") {
        response.writeHead(200, { "content-type": "application/json" }).end('{"data":[{"id":"m"}]}');
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.end('data: {"n":1}\n\ndata: [DONE]\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(folder, { recursive: true, force: true });
  });

  it("speaks TLS to an https:// base URL, trusting the given certificate", async () => {
    const client = new UpstreamClient({ baseUrl: url, ca: certificate });
    expect(await client.get("/v1/models")).toEqual({ status: 200, text: '{"data":[{"id":"m"}]}' });
    const events: unknown[] = [];
    for await (const event of client.streamJson("/v1/chat/completions", {})) events.push(event);
    expect(events).toEqual([{ n: 1 }]);
    client.close();
  });

  it("refuses a certificate it does not trust", async () => {
    const client = new UpstreamClient({ baseUrl: url });
    await expect(client.get("/v1/models")).rejects.toThrow(/self-signed|certificate/i);
    client.close();
  });
});
