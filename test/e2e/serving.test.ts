import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI, { APIError } from "openai";
import { pino } from "pino";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ModelBackend, UsageEvent } from "../../src/spec/index.js";
import { waitFor } from "../helpers/fake-app.js";
import { createFakeBackend } from "../helpers/fake-backend.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, parseSse, postJson, serveApp, startTestServer } from "../helpers/server.js";

const model = "tiny-qwen3moe";
const longRequest = {
  model,
  max_tokens: 4000,
  temperature: 0,
  messages: [{ role: "user", content: "Count from 1 to 100000, one number per line." }],
};

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)(
  "serving behaviour: cancellation, mid-stream errors, keep-alives, queueing (%s engine)",
  (engine) => {
    let backend: ModelBackend;
    const events: UsageEvent[] = [];
    let server: Awaited<ReturnType<typeof serveApp>>;

    beforeAll(async () => {
      // One sequence: a request left running by a gone client would block the next one.
      backend = await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), parallel: 1, maxQueuedRequests: 1 });
      server = await serveApp({
        models: createStaticModelRegistry([backend]),
        logger: pino({ level: "silent" }),
        usageSinks: [{ record: async (event) => void events.push(event) }],
      });
    });
    afterAll(async () => {
      await server?.close();
      await backend?.dispose();
    });

    it("C23: a streaming client that disconnects after the first chunk stops generation and frees the sequence within 2 s", async () => {
      events.length = 0;
      const generatedBefore = backend.stats().generatedTokensTotal;
      const abort = new AbortController();
      const response = await postJson(`${server.url}/v1/chat/completions`, { ...longRequest, stream: true }, { signal: abort.signal });
      const reader = response.body!.getReader();
      await reader.read();
      await waitFor(() => backend.stats().activeGenerations === 1, 2000);
      const producedBefore = backend.stats().generatedTokensTotal;
      abort.abort();
      await waitFor(() => backend.stats().activeGenerations === 0 && backend.stats().sequencesInUse === 0, 2000);
      const produced = backend.stats().generatedTokensTotal - producedBefore;
      await waitFor(() => events.length === 1, 2000);
      expect(events[0]).toMatchObject({ status: "aborted", stream: true, endpoint: "chat.completions" });
      expect(events[0]!.completionTokens).toBeLessThan(4000);
      expect(produced).toBeLessThan(4000);
      // Metered tokens are the tokens produced before the abort, within a small slack (C23).
      expect(events[0]!.completionTokens).toBeLessThanOrEqual(backend.stats().generatedTokensTotal - generatedBefore + 8);

      // The only sequence is free: the next request starts at once.
      const next = await server.client.chat.completions.create({ model, max_tokens: 4, messages: [{ role: "user", content: "Hi" }] });
      expect(next.choices).toHaveLength(1);
    });

    it("C23: a non-streaming client that disconnects mid-generation stops generation", async () => {
      events.length = 0;
      const abort = new AbortController();
      const generatedBefore = backend.stats().generatedTokensTotal;
      const pending = postJson(`${server.url}/v1/chat/completions`, longRequest, { signal: abort.signal }).catch((error: unknown) => error);
      await waitFor(() => backend.stats().activeGenerations === 1, 5000);
      // Once tokens flow (a llama-server worker writes this model's 4000 tokens in under a second: no fixed wait).
      await waitFor(() => backend.stats().generatedTokensTotal > generatedBefore + 8, 5000);
      abort.abort();
      await pending;
      await waitFor(() => backend.stats().activeGenerations === 0 && backend.stats().sequencesInUse === 0, 2000);
      await waitFor(() => events.length === 1, 2000);
      expect(events[0]).toMatchObject({ status: "aborted", stream: false });
      expect(events[0]!.completionTokens).toBeGreaterThan(0);
    });

    it("answers 503 server_busy with Retry-After when the wait queue is full", async () => {
      const holders = [new AbortController(), new AbortController()];
      const running = postJson(`${server.url}/v1/chat/completions`, longRequest, { signal: holders[0]!.signal }).catch(() => undefined);
      await waitFor(() => backend.stats().sequencesInUse === 1, 5000);
      const queued = postJson(`${server.url}/v1/chat/completions`, longRequest, { signal: holders[1]!.signal }).catch(() => undefined);
      await waitFor(() => backend.stats().queuedRequests === 1, 5000);
      const refused = await postJson(`${server.url}/v1/chat/completions`, { ...longRequest, max_tokens: 1 });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("server_busy");
      for (const holder of holders) holder.abort();
      await Promise.all([running, queued]);
      await waitFor(() => backend.stats().sequencesInUse === 0 && backend.stats().queuedRequests === 0, 3000);
    });
  },
);

describe.skipIf(!hasTestModels).each(testEngines)("C03: failures inside a stream and keep-alive comments (%s engine)", (engine) => {
  let backend: ModelBackend;

  beforeAll(async () => {
    backend = await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), parallel: 1 });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it("sends a failure after the first chunk as one data: {error} event, without [DONE], which the SDK raises as APIError", async () => {
    // The fake fails after 2 parts with "injected engine failure".
    const faulty = createFakeBackend({ id: model, script: "a b c d e f", failAfterParts: 2 });
    const server = await serveApp({ models: createStaticModelRegistry([faulty]), logger: pino({ level: "silent" }) });
    try {
      const body = await (
        await postJson(`${server.url}/v1/chat/completions`, {
          model,
          stream: true,
          max_tokens: 16,
          messages: [{ role: "user", content: "Say hi" }],
        })
      ).text();
      const events = parseSse(body);
      expect(events).not.toContain("[DONE]");
      const last = events.at(-1) as { error: { message: string; type: string; code: string } };
      expect(last.error).toMatchObject({ type: "server_error", code: "internal_error" });
      expect(last.error.message).toMatch(/request id/);
      expect(last.error.message).not.toContain("injected");

      const stream = await server.client.chat.completions.create({
        model,
        stream: true,
        max_tokens: 16,
        messages: [{ role: "user", content: "Say hi" }],
      });
      const error = await (async () => {
        for await (const _chunk of stream) void _chunk;
      })().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).message).toMatch(/request id/);
      expect(faulty.stats().sequencesInUse).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("sends keep-alives as ': ping' comments only, which the SDK skips", async () => {
    const server = await serveApp({
      models: createStaticModelRegistry([createFakeBackend({ id: model, partDelayMs: 30 })]),
      logger: pino({ level: "silent" }),
      sseKeepAliveMs: 5,
    });
    try {
      const body = await (
        await postJson(`${server.url}/v1/chat/completions`, {
          model,
          stream: true,
          max_tokens: 6,
          enable_thinking: false,
          messages: [{ role: "user", content: "Say hi" }],
        })
      ).text();
      const blocks = body.split("\n\n").filter((block) => block.length > 0);
      expect(blocks.filter((block) => block === ": ping").length).toBeGreaterThan(0);
      for (const block of blocks) expect(block === ": ping" || /^data: \S/.test(block)).toBe(true);
      expect(blocks.at(-1)).toBe("data: [DONE]");

      let text = "";
      for await (const chunk of await server.client.chat.completions.create({
        model,
        stream: true,
        max_tokens: 6,
        messages: [{ role: "user", content: "Say hi" }],
        ...({ enable_thinking: false } as {}),
      })) {
        text += chunk.choices[0]?.delta.content ?? "";
      }
      expect(text.length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  it("answers an error found before the first byte as a JSON error, not a 200 stream", async () => {
    const server = await serveApp({ models: createStaticModelRegistry([backend]), logger: pino({ level: "silent" }) });
    try {
      const response = await postJson(`${server.url}/v1/chat/completions`, {
        model,
        stream: true,
        max_tokens: 0,
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(response.status).toBe(400);
      expect(response.headers.get("content-type")).toMatch(/application\/json/);
      const error = await server.client.chat.completions
        .create({ model: "other", stream: true, messages: [{ role: "user", content: "Hi" }] })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    } finally {
      await server.close();
    }
  });
});

describe.skipIf(!hasTestModels)("shutdown with many open streams", () => {
  it("ends each of 32 concurrent streams cut by a shutdown with the server_shutting_down event, none with a reset socket", async () => {
    const streams = 32;
    const test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      engine: { parallel: streams, contextTokens: 512, batchSize: 512 },
    });
    let closed = false;
    try {
      let started = 0;
      let allStarted: () => void = () => undefined;
      const allStartedPromise = new Promise<void>((resolve) => (allStarted = resolve));
      const outcomes = Array.from({ length: streams }, async () => {
        const response = await postJson(`${test.url}/v1/completions`, {
          model: "stories260K",
          prompt: "Once upon a time",
          max_tokens: 490,
          temperature: 1,
          stream: true,
        });
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        let counted = false;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
            if (!counted && text.includes("data: ")) {
              counted = true;
              if (++started === streams) allStarted();
            }
          }
        } catch (error) {
          return `socket error: ${(error as Error).message}`;
        }
        const last = parseSse(text).at(-1);
        if (last === "[DONE]") return "done";
        return (last as { error?: { code?: string } } | undefined)?.error?.code ?? `no last event: ${text.slice(-80)}`;
      });
      await allStartedPromise;
      closed = true;
      await test.close();
      const results = await Promise.all(outcomes);
      // A stream that finished before the cut ends with [DONE]; every other one must end with the error event.
      expect(results.filter((result) => result !== "done" && result !== "server_shutting_down")).toEqual([]);
      expect(results.filter((result) => result === "server_shutting_down").length).toBeGreaterThan(streams / 2);
    } finally {
      if (!closed) await test.close();
    }
  });
});
