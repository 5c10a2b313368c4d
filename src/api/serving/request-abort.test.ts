import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp, waitFor } from "../../../test/helpers/fake-app.js";
import { createFakeBackend, endlessScript } from "../../../test/helpers/fake-backend.js";
import { Metrics } from "../metrics.js";

describe("a client that goes away before its response starts (Node server)", () => {
  let app: FakeApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("while queued for a sequence: the app's error handler answers it, so the access log and the metrics count it", async () => {
    const lines: Array<{ msg: string; requestId?: string; status?: number }> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const metrics = new Metrics({ loadedBackends: () => [], modelMemoryBytes: () => new Map(), loadCount: () => 0 });
    const backend = createFakeBackend({ script: () => endlessScript(), parallelSequences: 1, maxQueuedRequests: 1 });
    app = await createFakeApp([backend], { transport: "node", deps: { logger, metrics } });
    const running = new AbortController();
    const queued = new AbortController();
    const init = (signal: AbortSignal, requestId: string) => ({
      signal,
      headers: { "content-type": "application/json", "x-request-id": requestId },
    });
    const first = app.post("/v1/completions", { model: "fake", prompt: "Hi", stream: true }, init(running.signal, "running"));
    await waitFor(() => backend.stats().activeGenerations === 1);
    const second = app
      .post("/v1/completions", { model: "fake", prompt: "Hi" }, init(queued.signal, "queued"))
      .catch((error: unknown) => error);
    await waitFor(() => backend.stats().queuedRequests === 1);
    queued.abort();
    await second;
    // The Node adapter aborts the request's signal with a string; thrown as is, it skipped Hono's error handler (which
    // takes Error instances only), and with it the access log, the metrics and the JSON error body.
    const isAccessLine = (line: (typeof lines)[number]) => line.msg === "request" && line.requestId === "queued";
    await waitFor(() => lines.some(isAccessLine));
    const accessLine = lines.find(isAccessLine);
    expect(accessLine?.status).toBeGreaterThanOrEqual(400);
    const scraped = await (await app.fetch("/metrics")).text();
    expect(scraped).toMatch(/moestro_http_requests_total\{route="\/v1\/completions",method="POST",status="[45]\d\d"\} 1/);
    // Recorded as nginx's 499 "client closed request": the client's doing, neither a server failure nor a logged error.
    expect(accessLine?.status).toBe(499);
    expect(lines.some((line) => line.msg === "request failed" && line.requestId === "queued")).toBe(false);
    running.abort();
    await (await first).body?.cancel().catch(() => undefined);
    await waitFor(() => backend.stats().sequencesInUse === 0 && backend.stats().queuedRequests === 0);
  });
});
