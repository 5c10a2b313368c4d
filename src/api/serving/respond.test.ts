import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp, type Transport, waitFor } from "../../../test/helpers/fake-app.js";
import {
  createFakeBackend,
  endlessScript,
  type FakeBackend,
  type FakeBackendOptions,
  textParts,
} from "../../../test/helpers/fake-backend.js";
import { parseSseStrict } from "../../../test/helpers/sse.js";
import { pino } from "pino";
import type { AppDeps } from "../app.js";
import { MoestroError } from "../../errors/index.js";
import type { UsageSink } from "../../spec/index.js";

// How responses are sent (respond.ts and the generation path): SSE framing, the usage report before [DONE], failures
// after the first byte, client aborts, keep-alives and shutdown. Every case runs on both transports: `app.request()`
// (Hono's stream helper) and a real Node server on port 0 (the direct `ServerResponse` writer that `moestro serve` uses).

const messages = [{ role: "user", content: "Hi" }];

describe.each<Transport>(["app.request", "node"])("streaming over %s", (transport) => {
  let app: FakeApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(options: FakeBackendOptions = {}, deps: Partial<AppDeps> = {}): Promise<{ app: FakeApp; backend: FakeBackend }> {
    const backend = createFakeBackend(options);
    app = await createFakeApp([backend], { transport, deps });
    return { app, backend };
  }

  /** Leases the app holds on its models now. */
  const leases = (target: FakeApp): number => target.models.listLoaded().reduce((total, model) => total + model.activeRequests, 0);

  /** Waits until the backend runs nothing and no lease is held. */
  async function waitForIdle(target: FakeApp, backend: FakeBackend): Promise<void> {
    await waitFor(() => {
      const stats = backend.stats();
      return stats.activeGenerations === 0 && stats.sequencesInUse === 0 && stats.queuedRequests === 0 && leases(target) === 0;
    });
  }

  /** Reads from `response` until `count` SSE events arrived; returns the text read. */
  async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<string> {
    const decoder = new TextDecoder();
    let text = "";
    while (text.split("\n\n").length - 1 < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return text;
  }

  it("frames every event as one data line, ends with [DONE], and reports the usage once", async () => {
    const { app, backend } = await start({ script: "one two three" });
    const response = await app.post("/v1/chat/completions", { model: "fake", messages, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("x-request-id")).toBeTruthy();
    const { data, comments } = parseSseStrict(await response.text());
    expect(comments).toEqual([]);
    expect(data.filter((item) => item === "[DONE]")).toEqual(["[DONE]"]);
    expect(data.at(-1)).toBe("[DONE]");
    expect(app.events).toEqual([
      expect.objectContaining({ status: "ok", stream: true, endpoint: "chat.completions", model: "fake", completionTokens: 3 }),
    ]);
    expect(app.events[0]!.requestId).toBe(response.headers.get("x-request-id"));
    expect(app.events[0]!.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(app.events[0]!.latencyMs).toBeGreaterThanOrEqual(app.events[0]!.timeToFirstTokenMs!);
    await waitForIdle(app, backend);
  });

  it("writes the final counts before the last events, sends [DONE], and reports the request ok only after it left", async () => {
    let openGate = (): void => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const log: string[] = [];
    const ledger: UsageSink = {
      start: async (start) => ({
        checkpoint: async () => {
          await gate;
          log.push(`checkpoint ${start.readCounts().completionTokens}`);
        },
        finish: async (event) => void log.push(`finish ${event.status} ${event.completionTokens}`),
        cancel: async () => void log.push("cancel"),
      }),
      record: async () => undefined,
    };
    let releaseRecord = (): void => undefined;
    const recordGate = new Promise<void>((resolve) => (releaseRecord = resolve));
    const metrics: UsageSink = {
      record: async (event) => {
        await recordGate;
        log.push(`record ${event.status}`);
      },
    };
    const { app } = await start({ script: "one two" }, { usageSinks: [ledger, metrics] });
    const reader = (await app.post("/v1/chat/completions", { model: "fake", messages, stream: true })).body!.getReader();
    let text = await readEvents(reader, 4);
    expect(text).toContain('"finish_reason":"stop"');
    // Until the final counts are written, the last events wait.
    const rest = readEvents(reader, 1);
    const early = await Promise.race([rest, new Promise<string>((resolve) => setTimeout(() => resolve("nothing yet"), 50))]);
    expect(early).toBe("nothing yet");
    expect(log).toEqual([]);
    openGate();
    text += await rest;
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    // [DONE] reached the client; the request is reported once it left, by every sink in order.
    await waitFor(() => log.length >= 2);
    expect(log).toEqual(["checkpoint 2", "finish ok 2"]);
    releaseRecord();
    await waitFor(() => log.length === 3);
    expect(log.at(-1)).toBe("record ok");
  });

  it("a usage sink that fails once the stream left is logged; the client got the whole stream, [DONE] included", async () => {
    const logged: Array<{ msg: string }> = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const { app } = await start({}, { logger, usageSinks: [{ record: async () => Promise.reject(new Error("ledger down")) }] });
    const { data } = parseSseStrict(await (await app.post("/v1/completions", { model: "fake", prompt: "Hi", stream: true })).text());
    expect(data.at(-1)).toBe("[DONE]");
    await waitFor(() => logged.length === 1);
    expect(logged[0]!.msg).toContain("after the response was sent");
  });

  it("a checkpoint that fails ends the stream with an error event, without [DONE], recorded as an error", async () => {
    const ends: string[] = [];
    const ledger: UsageSink = {
      start: async () => ({
        checkpoint: async () => Promise.reject(new Error("ledger down")),
        finish: async (event) => void ends.push(`${event.status} ${event.errorCode}`),
        cancel: async () => undefined,
      }),
      record: async () => undefined,
    };
    const { app } = await start({}, { usageSinks: [ledger] });
    const { data } = parseSseStrict(await (await app.post("/v1/completions", { model: "fake", prompt: "Hi", stream: true })).text());
    expect(data).not.toContain("[DONE]");
    expect((data.at(-1) as any).error).toMatchObject({ type: "server_error", code: "internal_error" });
    expect(JSON.stringify(data.at(-1))).not.toContain("ledger down");
    expect(ends).toEqual(["error internal_error"]);
  });

  it("a failure after the first byte is one error event, with no [DONE] after it; the sequence and the lease are freed", async () => {
    const { app, backend } = await start({ script: "a b c d e f", failAfterParts: 2 });
    const response = await app.post(
      "/v1/chat/completions",
      { model: "fake", messages, stream: true },
      { headers: { "content-type": "application/json", "x-request-id": "req-fail-1" } },
    );
    expect(response.status).toBe(200);
    const { data } = parseSseStrict(await response.text());
    expect(data).not.toContain("[DONE]");
    expect(data.slice(1, -1).map((chunk: any) => chunk.choices[0].delta.content)).toEqual(["a ", "b "]);
    const error = (data.at(-1) as any).error;
    expect(error).toMatchObject({ type: "server_error", code: "internal_error", param: null });
    expect(error.message).toContain("req-fail-1");
    expect(error.message).not.toContain("injected");
    await waitForIdle(app, backend);
    expect(app.events).toEqual([expect.objectContaining({ status: "error", errorCode: "internal_error", requestId: "req-fail-1" })]);
  });

  it("a moestro error after the first byte keeps its code and message", async () => {
    const { app, backend } = await start({
      script: async function* () {
        yield* textParts("a ");
        throw new MoestroError("invalid_model_output", "The model's answer does not match its JSON schema.");
      },
    });
    const { data } = parseSseStrict(await (await app.post("/v1/chat/completions", { model: "fake", messages, stream: true })).text());
    expect(data).not.toContain("[DONE]");
    expect((data.at(-1) as any).error).toMatchObject({
      type: "server_error",
      code: "invalid_model_output",
      message: expect.stringContaining("JSON schema"),
    });
    await waitForIdle(app, backend);
  });

  it("a streaming client that goes away stops the generation, frees the sequence and the lease, and is metered as aborted", async () => {
    const { app, backend } = await start({ script: () => endlessScript(), parallelSequences: 1 });
    const response = await app.post("/v1/chat/completions", { model: "fake", messages, stream: true });
    const reader = response.body!.getReader();
    await readEvents(reader, 3);
    expect(backend.stats()).toMatchObject({ activeGenerations: 1, sequencesInUse: 1 });
    expect(leases(app)).toBe(1);
    // Going away is cancelling the body: the request's signal is not aborted (with app.request it never is).
    await reader.cancel();
    await waitForIdle(app, backend);
    await waitFor(() => app.events.length === 1);
    expect(app.events[0]).toMatchObject({ status: "aborted", stream: true });
    expect(app.events[0]!.completionTokens).toBeGreaterThan(0);
    expect(app.events[0]!.completionTokens).toBeLessThanOrEqual(backend.stats().generatedTokensTotal);

    // The only sequence is free again.
    const next = await app.post("/v1/completions", { model: "fake", prompt: "Hi", max_tokens: 2 });
    expect(next.status).toBe(200);
  });

  it("a non-streaming client that goes away stops the generation and frees the sequence and the lease", async () => {
    const { app, backend } = await start({ script: () => endlessScript() });
    const controller = new AbortController();
    const pending = app
      .post(
        "/v1/chat/completions",
        { model: "fake", messages },
        { signal: controller.signal, headers: { "content-type": "application/json" } },
      )
      .catch((error: unknown) => error);
    await waitFor(() => backend.stats().generatedTokensTotal > 3);
    controller.abort();
    await pending;
    await waitForIdle(app, backend);
    await waitFor(() => app.events.length === 1);
    expect(app.events[0]).toMatchObject({ status: "aborted", stream: false });
  });

  it("a non-streaming client that goes away is metered as aborted also when the engine then throws", async () => {
    const { app, backend } = await start({
      script: async function* (request) {
        yield* textParts("a ");
        await new Promise((resolve) => request.signal?.addEventListener("abort", resolve, { once: true }));
        throw new Error("engine stopped"); // an engine that ends an aborted generation with its own error
      },
    });
    const controller = new AbortController();
    const pending = app
      .post(
        "/v1/chat/completions",
        { model: "fake", messages },
        { signal: controller.signal, headers: { "content-type": "application/json" } },
      )
      .catch((error: unknown) => error);
    await waitFor(() => backend.stats().generatedTokensTotal > 0);
    controller.abort();
    await pending;
    await waitForIdle(app, backend);
    await waitFor(() => app.events.length === 1);
    expect(app.events[0]).toMatchObject({ status: "aborted", stream: false });
  });

  it("a client that goes away while queued for a sequence leaves the queue and frees its lease", async () => {
    const { app, backend } = await start({ script: () => endlessScript(), parallelSequences: 1, maxQueuedRequests: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const init = (signal: AbortSignal) => ({ signal, headers: { "content-type": "application/json" } });
    const first = app.post("/v1/completions", { model: "fake", prompt: "Hi", stream: true }, init(running.signal));
    await waitFor(() => backend.stats().activeGenerations === 1);
    const second = app
      .post("/v1/completions", { model: "fake", prompt: "Hi", stream: true }, init(queued.signal))
      .catch((error: unknown) => error);
    await waitFor(() => backend.stats().queuedRequests === 1);
    expect(leases(app)).toBe(2);
    queued.abort();
    await second;
    await waitFor(() => backend.stats().queuedRequests === 0 && leases(app) === 1);
    running.abort();
    await (await first).body?.cancel().catch(() => undefined);
    await waitForIdle(app, backend);
  });

  it("sends ': ping' comments while the model is silent, and nothing else between events", async () => {
    const { app } = await start({ script: "a b c", partDelayMs: 40 }, { sseKeepAliveMs: 5 });
    const { data, comments } = parseSseStrict(
      await (await app.post("/v1/chat/completions", { model: "fake", messages, stream: true })).text(),
    );
    expect(comments.length).toBeGreaterThan(0);
    expect(new Set(comments)).toEqual(new Set(["ping"]));
    expect(data.at(-1)).toBe("[DONE]");
  });

  it("the server's shutdown ends a running stream with a server_shutting_down event, without [DONE]", async () => {
    const shutdown = new AbortController();
    const { app, backend } = await start({ script: () => endlessScript() }, { shutdownSignal: shutdown.signal });
    const response = await app.post("/v1/chat/completions", { model: "fake", messages, stream: true });
    const reader = response.body!.getReader();
    let text = await readEvents(reader, 2);
    shutdown.abort();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const { data } = parseSseStrict(text);
    expect(data).not.toContain("[DONE]");
    expect((data.at(-1) as any).error).toMatchObject({ code: "server_shutting_down", type: "server_error" });
    await waitForIdle(app, backend);
  });

  it("the server's shutdown answers a running non-streamed request 503 server_shutting_down with Retry-After", async () => {
    const shutdown = new AbortController();
    const { app, backend } = await start({ script: () => endlessScript() }, { shutdownSignal: shutdown.signal });
    const pending = app.post("/v1/chat/completions", { model: "fake", messages });
    await waitFor(() => backend.stats().generatedTokensTotal > 2);
    shutdown.abort();
    const response = await pending;
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBeTruthy();
    expect(((await response.json()) as any).error).toMatchObject({ code: "server_shutting_down", type: "server_error" });
    await waitForIdle(app, backend);
  });

  it("the server's shutdown answers an embedding under way 503 server_shutting_down, metered as aborted", async () => {
    const shutdown = new AbortController();
    const { app, backend } = await start({}, { shutdownSignal: shutdown.signal });
    let isEmbedding = false;
    backend.embed = async (_inputs, options) => {
      isEmbedding = true;
      await new Promise<void>((resolve) => options?.signal?.addEventListener("abort", () => resolve(), { once: true }));
      throw new Error("embedding cancelled"); // an engine's own error, not the signal's reason
    };
    const pending = app.post("/v1/embeddings", { model: "fake", input: "Hi" });
    await waitFor(() => isEmbedding);
    shutdown.abort();
    const response = await pending;
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBeTruthy();
    expect(((await response.json()) as any).error).toMatchObject({ code: "server_shutting_down", type: "server_error" });
    expect(app.events).toEqual([expect.objectContaining({ status: "aborted", endpoint: "embeddings" })]);
  });
});

describe("a non-streamed response over a Node server", () => {
  let app: FakeApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it.each([
    ["/v1/chat/completions", { model: "fake", messages }],
    ["/v1/completions", { model: "fake", prompt: "Hi" }],
    ["/v1/embeddings", { model: "fake", input: "Hi" }],
  ])("%s writes the final counts before the body, and reports the request ok once the body left", async (path, body) => {
    const log: string[] = [];
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ledger: UsageSink = {
      start: async (start) => ({
        checkpoint: async () => void log.push(`checkpoint ${start.readCounts().promptTokens}`),
        finish: async (event) => {
          await gate;
          log.push(`finish ${event.status}`);
        },
        cancel: async () => void log.push("cancel"),
      }),
      record: async () => undefined,
    };
    app = await createFakeApp([createFakeBackend({ script: "one two" })], { transport: "node", deps: { usageSinks: [ledger] } });
    const response = await app.post(path, body);
    expect(response.status).toBe(200);
    await response.json();
    // The client has the whole body while the request's report still waits.
    expect(log).toEqual([expect.stringMatching(/^checkpoint [1-9]/)]);
    release();
    await waitFor(() => log.length === 2);
    expect(log[1]).toBe("finish ok");
  });
});
