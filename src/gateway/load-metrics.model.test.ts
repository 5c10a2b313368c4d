import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaServerSkipReason, testLlamaServer } from "../../test/helpers/llama-server.js";
import { hasTestModels, skipReason, testModelPath } from "../../test/helpers/models.js";
import { startTestServer, type TestServer } from "../../test/helpers/server.js";
import { loadMetricsUrl, parseUpstreamLoad, type UpstreamKind, type UpstreamLoad } from "./load-metrics.js";

// The load of a real llama-server and a real moestro, read from their own /metrics while one request runs on their
// only slot and others wait. tiny-qwen3moe has random weights: it seldom samples an end token, so each request keeps
// its slot for its whole max_tokens (llama-server is also told ignore_eos), long enough to scrape.

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `count` streamed completions at `url` and resolves once each has sent its headers; `stop` aborts them all.
 * The body is OpenAI's, plus what `extra` adds.
 */
function startStreams(url: string, count: number, extra: Record<string, unknown>): { stop(): Promise<void> } {
  const controller = new AbortController();
  const requests = Array.from({ length: count }, () =>
    fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 1500, temperature: 1, stream: true, ...extra }),
      signal: controller.signal,
    })
      .then(async (response) => {
        // Read until aborted, so that the server keeps generating.
        for await (const _ of response.body ?? []) void _;
      })
      .catch(() => undefined),
  );
  return {
    stop: async () => {
      controller.abort();
      await Promise.all(requests);
    },
  };
}

/** Scrapes `metricsUrl` until the load read as `kind` satisfies `done` (every `intervalMs`, at most `timeoutMs`); the last one read. */
async function pollLoad(
  kind: UpstreamKind,
  metricsUrl: string,
  done: (load: UpstreamLoad) => boolean,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<{ load: UpstreamLoad; text: string }> {
  const startedAt = Date.now();
  for (;;) {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    const text = await response.text();
    const load = parseUpstreamLoad(kind, text);
    if (done(load) || Date.now() - startedAt > timeoutMs) return { load, text };
    await sleep(intervalMs);
  }
}

describe.skipIf(!hasTestModels || testLlamaServer === undefined)("parseUpstreamLoad on a real llama-server's /metrics", () => {
  let child: ChildProcess | undefined;
  let url = "";

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      testLlamaServer!,
      ["-m", testModelPath("tiny-qwen3moe.gguf"), "-c", "2048", "-np", "1", "-t", "1", "--metrics", "--no-webui"].concat([
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
      ]),
      { stdio: "ignore" },
    );
    const startedAt = Date.now();
    for (;;) {
      const health = await fetch(`${url}/health`).catch(() => undefined);
      if (health?.status === 200) break;
      if (child.exitCode !== null || Date.now() - startedAt > 60_000) throw new Error("llama-server did not become ready");
      await sleep(100);
    }
  });
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("idle: nothing deferred or processing; busy: one request on the only slot, others deferred; no KV-cache gauge", async () => {
    expect(parseUpstreamLoad("llama-server", await (await fetch(loadMetricsUrl("llama-server", `${url}/v1`)!)).text())).toEqual({
      waiting: 0,
      running: 0,
    });
    // This llama-server stops each request at the model's short training context (a few hundred tokens, well under a
    // second here), so six are sent to keep the slot busy, and the load is read as soon as one runs and others wait.
    const streams = startStreams(url, 6, { ignore_eos: true });
    try {
      const { load } = await pollLoad(
        "llama-server",
        loadMetricsUrl("llama-server", `${url}/v1`)!,
        (load) => load.running === 1 && (load.waiting ?? 0) >= 1,
        30_000,
        5,
      );
      expect(load.running).toBe(1);
      expect(load.waiting).toBeGreaterThanOrEqual(1);
      expect(load.kvCacheUsage).toBeUndefined();
    } finally {
      await streams.stop();
    }
  });
});

describe.skipIf(!hasTestModels)("parseUpstreamLoad on a real moestro's /metrics", () => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("tiny-qwen3moe.gguf"), id: "tiny" }],
      engine: { parallel: 1, contextTokens: 2048, batchSize: 64 },
    });
  });
  afterAll(async () => {
    await test?.close();
  });

  it("idle: nothing queued or in use; busy: one request on the only sequence, the others queued", async () => {
    await test.client.completions.create({ model: "tiny", prompt: "Hi", max_tokens: 1 });
    expect(parseUpstreamLoad("moestro", await (await fetch(loadMetricsUrl("moestro", `${test.url}/v1`)!)).text())).toEqual({
      waiting: 0,
      running: 0,
    });
    const streams = startStreams(test.url, 3, { model: "tiny" });
    try {
      const { load } = await pollLoad(
        "moestro",
        loadMetricsUrl("moestro", `${test.url}/v1`)!,
        (load) => load.running === 1 && load.waiting === 2,
      );
      expect(load).toEqual({ waiting: 2, running: 1 });
    } finally {
      await streams.stop();
    }
  });
});

if (!hasTestModels) it.skip(skipReason, () => {});
else if (testLlamaServer === undefined) it.skip(`the llama-server test skips: ${llamaServerSkipReason}`, () => {});
