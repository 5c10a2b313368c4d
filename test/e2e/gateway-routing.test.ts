import type http from "node:http";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireLoadedModel, WireUsageEvent } from "../../src/wire/console.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";
import { answerAsAsked, chunkEvent, sleep, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

/**
 * Answers `text` as an OpenAI upstream does: streamed when asked (a role chunk, one chunk per word, the finish, the
 * usage and `[DONE]`), else as one JSON answer.
 */
function streamAnswer(body: Record<string, unknown>, response: http.ServerResponse, text: string): void {
  const words = text.split(/(?= )/);
  answerAsAsked(
    body,
    response,
    chunkEvent({ role: "assistant", content: "" }) +
      words.map((word) => chunkEvent({ content: word })).join("") +
      chunkEvent({}, "stop") +
      usageEvent(5, words.length) +
      "data: [DONE]\n\n",
  );
}

function answerError(response: http.ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify({ error: { message, type: "invalid_request_error", param: null, code } }));
}

/**
 * The gateway's routing beyond balancing (docs/gateway.md, "Fallbacks", "Session affinity"): fallbacks by error kind,
 * session affinity and the local member's weight. The gateway is the real moestro server with a local model
 * (stories260K, served as `tiny` with a small context (llama.cpp pads the 48 asked for to 256), and as `weighted`); the healthy fallback target is a second
 * real moestro serving stories260K in-process; small stand-in HTTP servers play the upstreams that must misbehave (a
 * short context, a 404 for the model, 500s, an upstream that fails on demand). Calls go through the official `openai`
 * client.
 */
describe.skipIf(!hasTestModels)("gateway routing: fallbacks by error kind, session affinity, the local member's weight", () => {
  let real: TestServer;
  let gateway: TestServer;
  let shortContext: StandInUpstream;
  let missing: StandInUpstream;
  let loopA: StandInUpstream;
  let loopB: StandInUpstream;
  let sessionA: StandInUpstream;
  let sessionB: StandInUpstream;
  let peer: StandInUpstream;
  /** The stand-ins of the session tests that answer 500 now. */
  const failing = new Set<string>();
  const longPrompt = "Once upon a time there was a little girl who liked to play in the park with her dog. ".repeat(10);

  beforeAll(async () => {
    real = await startTestServer({ models: [{ path: testModelPath("stories260K.gguf") }] });
    shortContext = await startStandInUpstream(["short-ctx"], ({ body }, response) => {
      const messages = body.messages as Array<{ content: string }>;
      if (messages.some((message) => message.content.length > 100))
        answerError(response, 400, "context_length_exceeded", "This model's maximum context length is 32 tokens.");
      else streamAnswer(body, response, "a short answer");
    });
    // Lists nothing; answers 404 for the model the gateway's config says it serves.
    missing = await startStandInUpstream([], (_request, response) =>
      answerError(response, 404, "model_not_found", "The model `gone` does not exist."),
    );
    loopA = await startStandInUpstream(["loop-a"], (_request, response) => answerError(response, 500, "internal", "down"));
    loopB = await startStandInUpstream(["loop-b"], (_request, response) => answerError(response, 500, "internal", "down"));
    const sessionServer = (name: string) =>
      startStandInUpstream(["chat"], ({ body }, response) =>
        failing.has(name) ? answerError(response, 500, "internal", "down") : streamAnswer(body, response, `hello from ${name}`),
      );
    sessionA = await sessionServer("session-a");
    sessionB = await sessionServer("session-b");
    peer = await startStandInUpstream(["weighted"], ({ body }, response) => streamAnswer(body, response, "from the peer"));
    gateway = await startTestServer({
      models: [
        { path: testModelPath("stories260K.gguf"), id: "tiny" },
        { path: testModelPath("stories260K.gguf"), id: "weighted" },
      ],
      engine: { contextTokens: 48 },
      upstreams: [
        { name: "real", url: `${real.url}/v1`, kind: "moestro" },
        { name: "short", url: shortContext.url, models: ["short-ctx"] },
        { name: "missing", url: missing.url, models: ["gone"] },
        // Nothing listens on port 9 (discard): its health check at start ejects it.
        { name: "dead", url: "http://127.0.0.1:9/v1", models: ["dead-pool"] },
        { name: "loop-a", url: loopA.url },
        { name: "loop-b", url: loopB.url },
        { name: "session-a", url: sessionA.url },
        { name: "session-b", url: sessionB.url },
        { name: "peer", url: peer.url },
      ],
      pools: {
        tiny: { contextFallbacks: "stories260K" },
        "short-ctx": { contextFallbacks: ["stories260K"] },
        "dead-pool": { fallbacks: ["stories260K"] },
        gone: { fallbacks: ["stories260K"] },
        // Served nowhere (a retired model): its requests go to the fallback.
        retired: { fallbacks: ["stories260K"] },
        "loop-a": { fallbacks: ["loop-b"] },
        "loop-b": { fallbacks: ["loop-a"] },
        // Far below the peer's weight 1: the peer takes every request of an idle pool.
        weighted: { localWeight: 0.01 },
      },
      gateway: { maxAttempts: 3, ejectAfterFailures: 1, cooldownMs: 60_000, affinity: { enabled: true } },
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await real?.close();
    await Promise.all([shortContext, missing, loopA, loopB, sessionA, sessionB, peer].map((server) => server?.close()));
  });

  async function ledgerRow(requestId: string): Promise<WireUsageEvent> {
    for (let wait = 0; wait < 100; wait++) {
      const rows = ((await (await fetch(`${gateway.url}/v1/moestro/usage/events`)).json()) as { data: WireUsageEvent[] }).data;
      const row = rows.find((candidate) => candidate.request_id === requestId && candidate.status !== "running");
      if (row !== undefined) return row;
      await sleep(20);
    }
    throw new Error(`no ledger row for ${requestId}`);
  }

  /** The samples of a counter on `/metrics`, by their labels as written (`from="a",to="b",reason="c"`). */
  async function counter(name: string): Promise<Map<string, number>> {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const samples = new Map<string, number>();
    for (const match of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, "gm"))) samples.set(match[1]!, Number(match[2]));
    return samples;
  }

  const ask = (model: string, content: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) =>
    gateway.client.chat.completions
      .create({ model, max_tokens: 4, temperature: 0, messages: [{ role: "user", content }], ...extra })
      .withResponse();

  it("moves a prompt too long for the local model to its longer-context fallback, and says which model answered", async () => {
    const { data, response } = await ask("tiny", longPrompt);
    expect(data.model).toBe("stories260K");
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(response.headers.get("x-moestro-upstream")).toBe("real");
    expect(response.headers.get("x-moestro-fallback-from")).toBe("tiny");
    const row = await ledgerRow(response.headers.get("x-request-id")!);
    expect(row).toMatchObject({ model: "stories260K", status: "ok", engine: "upstream", upstream: "real", attempts: 2 });
    // A prompt that fits stays on the local model.
    const fits = await ask("tiny", "Hi");
    expect(fits.data.model).toBe("tiny");
    expect(fits.response.headers.get("x-moestro-fallback-from")).toBeNull();
  });

  it("moves a request an upstream refuses with context_length_exceeded (400) to the fallback, streamed too", async () => {
    const short = await ask("short-ctx", "Hi");
    expect(short.data.model).toBe("short-ctx");
    expect(short.response.headers.get("x-moestro-upstream")).toBe("short");
    const stream = await gateway.client.chat.completions.create({
      model: "short-ctx",
      max_tokens: 4,
      temperature: 0,
      stream: true,
      messages: [{ role: "user", content: longPrompt }],
    });
    const models = new Set<string>();
    let text = "";
    for await (const chunk of stream) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect([...models]).toEqual(["stories260K"]);
    expect(text.length).toBeGreaterThan(0);
    expect(shortContext.posts).toHaveLength(2);
  });

  it("moves a request to the fallback pool when its pool has no member available, without trying the ejected one", async () => {
    const { data, response } = await ask("dead-pool", "Hi");
    expect(data.model).toBe("stories260K");
    expect(response.headers.get("x-moestro-upstream")).toBe("real");
    const row = await ledgerRow(response.headers.get("x-request-id")!);
    // The ejected member was not tried: the fallback's attempt is the only one.
    expect(row).toMatchObject({ model: "stories260K", upstream: "real", attempts: 1 });
    // Every dialect says which model answered: Ollama's too, whose model field otherwise echoes the name asked for.
    const ollama = await postJson(`${gateway.url}/api/chat`, {
      model: "dead-pool",
      stream: false,
      options: { num_predict: 4 },
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(ollama.status).toBe(200);
    expect(((await ollama.json()) as { model: string }).model).toBe("stories260K");
  });

  it("moves a request to the fallback pool on model_not_found, from an upstream's 404 or for a model served nowhere", async () => {
    const gone = await ask("gone", "Hi");
    expect(gone.data.model).toBe("stories260K");
    expect(missing.posts).toHaveLength(1);
    expect((await ledgerRow(gone.response.headers.get("x-request-id")!)).attempts).toBe(2);
    const retired = await ask("retired", "Hi");
    expect(retired.data.model).toBe("stories260K");
    // A model with no fallback is still not found.
    const unknown = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: "unheard-of",
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(unknown.status).toBe(404);
  });

  it("never loops: A falls back to B, B's fallback A is not tried again, and the client gets B's failure", async () => {
    const response = await postJson(`${gateway.url}/v1/chat/completions`, { model: "loop-a", messages: [{ role: "user", content: "Hi" }] });
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("upstream_failed");
    expect(loopA.posts).toHaveLength(1);
    expect(loopB.posts).toHaveLength(1);
  });

  it("sends a session back to the upstream that served it, by header or user field, and moves it when that one fails", async () => {
    const served = async (user?: string) =>
      (await ask("chat", "Hi", user === undefined ? {} : { user })).response.headers.get("x-moestro-upstream")!;
    const byHeader = async (session: string) => {
      const response = await postJson(
        `${gateway.url}/v1/chat/completions`,
        { model: "chat", messages: [{ role: "user", content: "Hi" }] },
        { headers: { "content-type": "application/json", "x-session-id": session } },
      );
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      return response.headers.get("x-moestro-upstream")!;
    };
    const before = await counter("moestro_gateway_affinity_total");
    // Without a session, requests one at a time alternate.
    const unsticky = [await served(), await served(), await served(), await served()];
    expect(new Set(unsticky).size).toBe(2);
    const first = await byHeader("chat-1");
    expect([await byHeader("chat-1"), await byHeader("chat-1"), await byHeader("chat-1")]).toEqual([first, first, first]);
    const byUser = await served("alice");
    expect([await served("alice"), await served("alice")]).toEqual([byUser, byUser]);
    // New sessions until one lands on chat-1's upstream (ties alternate: one or two).
    let probes = 1;
    while ((await byHeader(`probe-${probes}`)) !== first) probes++;
    // Its upstream fails (and is ejected): the session moves to the other and stays there.
    const other = first === "session-a" ? "session-b" : "session-a";
    const firstServer = first === "session-a" ? sessionA : sessionB;
    failing.add(first);
    expect(await byHeader("chat-1")).toBe(other);
    const postsAfterFailure = firstServer.posts.length;
    failing.delete(first);
    expect([await byHeader("chat-1"), await byHeader("chat-1")]).toEqual([other, other]);
    expect(firstServer.posts.length).toBe(postsAfterFailure);
    // The probe's upstream is ejected now: its session moves.
    expect(await byHeader(`probe-${probes}`)).toBe(other);
    // /metrics counts each request of a named session once: 3 + 2 + 1 (the failed-over one, sent to its member
    // first) + 2 hits, chat-1, alice and the probes new, the last probe moved; requests with no session are not counted.
    const after = await counter("moestro_gateway_affinity_total");
    const delta = (outcome: string) => (after.get(`outcome="${outcome}"`) ?? 0) - (before.get(`outcome="${outcome}"`) ?? 0);
    expect({ hit: delta("hit"), moved: delta("moved"), new: delta("new") }).toEqual({ hit: 8, moved: 1, new: 2 + probes });
  });

  it("counts each fallback on /metrics by the model that failed, the fallback and the error code", async () => {
    const fallbacks = await counter("moestro_gateway_fallbacks_total");
    expect(Object.fromEntries(fallbacks)).toEqual({
      'from="tiny",to="stories260K",reason="context_length_exceeded"': 1,
      'from="short-ctx",to="stories260K",reason="context_length_exceeded"': 1,
      'from="dead-pool",to="stories260K",reason="upstream_failed"': 2,
      'from="gone",to="stories260K",reason="model_not_found"': 1,
      'from="retired",to="stories260K",reason="model_not_found"': 1,
      'from="loop-a",to="loop-b",reason="upstream_failed"': 1,
    });
  });

  it("weighs the local member of a pool by pools.*.localWeight", async () => {
    const upstreams = [];
    for (let index = 0; index < 4; index++) upstreams.push((await ask("weighted", "Hi")).response.headers.get("x-moestro-upstream"));
    expect(upstreams).toEqual(["peer", "peer", "peer", "peer"]);
    const ps = (await (await fetch(`${gateway.url}/v1/moestro/ps`)).json()) as { data: WireLoadedModel[] };
    const members = ps.data.find((model) => model.id === "weighted")!.upstreams!;
    expect(members.map((member) => [member.name, member.weight])).toEqual([
      ["local", 0.01],
      ["peer", 1],
    ]);
  });
});
