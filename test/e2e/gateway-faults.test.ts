import Anthropic from "@anthropic-ai/sdk";
import { APIError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireLoadedModel, WireUsageEvent } from "../../src/wire/console.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";
import {
  answerAsAsked,
  chunkEvent,
  sleep,
  startStandInUpstream,
  usageEvent,
  wholeAnswerOf,
  type StandInUpstream,
} from "../helpers/stand-in-upstream.js";

/**
 * The gateway's failure handling, against small real HTTP servers that stand in for upstreams and misbehave on purpose
 * (a 429 answerer, a server that splits UTF-8 characters across writes, one that breaks off mid-stream, one too slow
 * to answer, and an address where nothing listens). The gateway is the real moestro server (`startServer`); no model
 * is loaded.
 */
describe("gateway: failover, rate limits, broken streams and split characters (stand-in upstreams)", () => {
  /** Written in pieces that cut "é", "ö" and the globe emoji between two socket writes. */
  const answer = "héllo wörld 🌍 ça va";
  let limited: StandInUpstream;
  let scripted: StandInUpstream;
  let slow: StandInUpstream;
  let breaking: StandInUpstream;
  let gateway: TestServer;
  let onEndlessClosed: () => void = () => undefined;
  const endlessClosed = new Promise<void>((resolve) => (onEndlessClosed = resolve));

  beforeAll(async () => {
    // A stand-in for an upstream that is rate-limited: every POST gets 429 with Retry-After: 30.
    limited = await startStandInUpstream([], (_request, response) => {
      response.writeHead(429, { "content-type": "application/json", "retry-after": "30" });
      response.end(JSON.stringify({ error: { message: "slow down", type: "rate_limit_error", code: "rate_limit_exceeded" } }));
    });
    scripted = await startStandInUpstream(["m", "no-usage", "slow-or-fast", "endless"], async ({ path, body }, response) => {
      if (path === "/v1/embeddings") {
        const inputs = body.input as unknown[];
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            object: "list",
            data: inputs.map((_, index) => ({ object: "embedding", index, embedding: [index, 0.5, -0.5] })),
            usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
          }),
        );
        return;
      }
      if (body.stream !== true && body.max_tokens === 1) {
        // The token count of Anthropic's count_tokens calls: one token, not streamed.
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: "assistant", content: "h" }, finish_reason: "length" }],
            usage: { prompt_tokens: 13, completion_tokens: 1 },
          }),
        );
        return;
      }
      const model = body.model as string;
      if (model === "no-usage") {
        answerAsAsked(
          body,
          response,
          `${["one", " two", " three"].map((piece) => chunkEvent({ content: piece })).join("")}${chunkEvent({}, "stop")}data: [DONE]\n\n`,
        );
        return;
      }
      const streamed = body.stream === true;
      response.writeHead(200, { "content-type": streamed ? "text/event-stream" : "application/json" });
      if (model === "endless") {
        // One piece every 20 ms until the gateway closes the connection.
        response.on("close", () => onEndlessClosed());
        while (!response.destroyed) {
          response.write(chunkEvent({ content: "more " }));
          await sleep(20);
        }
        return;
      }
      const events =
        chunkEvent({ role: "assistant", content: "" }) +
        [...answer].map((character) => chunkEvent({ content: character })).join("") +
        chunkEvent({}, "stop") +
        usageEvent(7, [...answer].length) +
        "data: [DONE]\n\n";
      // A whole answer (the client did not stream) is cut the same way: C07 holds for a JSON body too.
      const sse = Buffer.from(streamed ? events : wholeAnswerOf(events), "utf8");
      // Cut the bytes inside every multibyte character (its first byte ends a write), each write its own TCP segment.
      let start = 0;
      for (let index = 0; index < sse.length; index++) {
        if (sse[index]! >= 0xc0) {
          response.write(sse.subarray(start, index + 1));
          start = index + 1;
          await sleep(2);
        }
      }
      response.end(sse.subarray(start));
    });
    // Breaks off mid-stream (its own server: the failure counts against its health, not the others').
    breaking = await startStandInUpstream(["broken"], async (_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write(chunkEvent({ role: "assistant", content: "" }));
      response.write(chunkEvent({ content: "half an" }));
      await sleep(20);
      response.write(chunkEvent({ content: " answer" }));
      await sleep(20);
      response.socket?.destroy();
    });
    // Never answers within the gateway's timeout (300 ms).
    slow = await startStandInUpstream(["slow-or-fast", "stalls"], async ({ body }, response) => {
      if (body.model === "stalls") {
        // Starts its answer, then stalls.
        response.writeHead(200, { "content-type": "text/event-stream" });
        response.write(chunkEvent({ content: "first" }));
      }
      await sleep(3000);
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
    gateway = await startTestServer({
      upstreams: [
        { name: "limited", url: limited.url, models: ["m", "only-limited"] },
        { name: "scripted", url: scripted.url },
        // Nothing listens on port 9 of this machine (discard): connections are refused.
        { name: "down", url: "http://127.0.0.1:9/v1", models: ["m"] },
        // Weighted far above the others, so that it is tried first.
        { name: "slow", url: slow.url, timeoutMs: 300, answerTimeoutMs: 300, weight: 100 },
        { name: "breaking", url: breaking.url },
      ],
      gateway: { maxAttempts: 4, ejectAfterFailures: 1, cooldownMs: 60_000 },
      aliases: { short: "m" },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([limited?.close(), scripted?.close(), slow?.close(), breaking?.close()]);
  });

  async function chat(model: string, stream = false): Promise<Response> {
    return await postJson(`${gateway.url}/v1/chat/completions`, { model, stream, messages: [{ role: "user", content: "Hi" }] });
  }

  it("lists each pool once, discovered or configured, in OpenAI's and Ollama's lists", async () => {
    const models = await gateway.client.models.list();
    const ids = ["broken", "endless", "m", "no-usage", "only-limited", "slow-or-fast", "stalls"];
    expect(models.data.map((model) => model.id).sort()).toEqual(ids);
    // Ollama's names carry a tag; the alias is listed as a name of its own, as Ollama lists a copied model.
    const tags = (await (await fetch(`${gateway.url}/api/tags`)).json()) as { models: Array<{ name: string }> };
    expect(tags.models.map((model) => model.name).sort()).toEqual([...ids, "short"].sort().map((id) => `${id}:latest`));
  });

  it("cancels the upstream request when the client goes away", async () => {
    const controller = new AbortController();
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: "endless", stream: true, messages: [{ role: "user", content: "Hi" }] },
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(Promise.race([endlessClosed.then(() => "closed"), sleep(2000).then(() => "still open")])).resolves.toBe("closed");
  });

  it("moves a request on from a 429 (honouring Retry-After) and from a refused connection, with no error to the client", async () => {
    const served: string[] = [];
    const requestIds: string[] = [];
    for (let index = 0; index < 6; index++) {
      const response = await chat("m");
      expect(response.status).toBe(200);
      served.push(response.headers.get("x-moestro-upstream")!);
      requestIds.push(response.headers.get("x-request-id")!);
      expect(((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe(answer);
    }
    expect(served).toEqual(Array(6).fill("scripted"));
    // Tried once, then left out for its Retry-After (30 s).
    expect(limited.posts.length).toBe(1);
    const ps = (await (await fetch(`${gateway.url}/v1/moestro/ps`)).json()) as { data: WireLoadedModel[] };
    const upstreams = ps.data.find((model) => model.id === "m")!.upstreams!;
    // Ejected from the start (its health check failed), so never tried.
    expect(upstreams.find((upstream) => upstream.name === "down")).toMatchObject({ state: "ejected" });
    expect(upstreams.find((upstream) => upstream.name === "limited")!.ejected_until).not.toBeNull();
    expect(upstreams.find((upstream) => upstream.name === "scripted")).toMatchObject({ state: "healthy", errors_total: 0 });
    // The ledger says which upstream served each request, and after how many attempts.
    let rows: WireUsageEvent[] = [];
    const ours = () => rows.filter((row) => requestIds.includes(row.request_id) && row.status === "ok");
    for (let wait = 0; wait < 50 && ours().length < 6; wait++) {
      rows = ((await (await fetch(`${gateway.url}/v1/moestro/usage/events`)).json()) as { data: WireUsageEvent[] }).data;
      await sleep(20);
    }
    const okRows = ours();
    expect(okRows).toHaveLength(6);
    expect(okRows.every((row) => row.upstream === "scripted" && row.engine === "upstream")).toBe(true);
    expect(Math.max(...okRows.map((row) => row.attempts ?? 0))).toBeGreaterThanOrEqual(2);
    // Asked for whole answers (the client did not stream): no time to first token is measured.
    expect(okRows.every((row) => row.time_to_first_token_ms === null)).toBe(true);
  });

  it("answers 429 with Retry-After when every upstream of the pool is rate-limited", async () => {
    const response = await chat("only-limited");
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("upstream_rate_limited");
  });

  it("moves a request on from an upstream that sends nothing within its timeoutMs (answerTimeoutMs for a whole answer)", async () => {
    const startedAt = performance.now();
    for (let index = 0; index < 2; index++) {
      const response = await chat("slow-or-fast");
      expect(response.status).toBe(200);
      expect(response.headers.get("x-moestro-upstream")).toBe("scripted");
    }
    // Asked for a whole answer (the client did not stream), not for a stream.
    expect(slow.posts.length).toBe(1);
    expect(slow.posts[0]!.body.stream).toBeUndefined();
    expect(performance.now() - startedAt).toBeLessThan(2500);
  });

  it("moves a streamed request on from an upstream that sends no event within its timeoutMs", async () => {
    const slowGateway = await startTestServer({
      upstreams: [
        { name: "slow", url: slow.url, timeoutMs: 300, weight: 100 },
        { name: "scripted", url: scripted.url },
      ],
      gateway: { ejectAfterFailures: 1, cooldownMs: 60_000 },
    });
    try {
      const startedAt = performance.now();
      const response = await postJson(`${slowGateway.url}/v1/chat/completions`, {
        model: "slow-or-fast",
        stream: true,
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(response.headers.get("x-moestro-upstream")).toBe("scripted");
      const text = await response.text();
      expect(text).toContain("[DONE]");
      expect(slow.posts.at(-1)!.body.stream).toBe(true);
      expect(performance.now() - startedAt).toBeLessThan(2500);
    } finally {
      await slowGateway.close();
    }
  });

  it("serves every dialect from the upstream: an alias, Responses, Ollama, count_tokens and embeddings", async () => {
    const byAlias = await gateway.client.chat.completions.create({ model: "short", messages: [{ role: "user", content: "Hi" }] });
    expect(byAlias.model).toBe("m");
    expect(byAlias.choices[0]!.message.content).toBe(answer);
    const response = await gateway.client.responses.create({ model: "m", input: "Hi" });
    expect(response.output_text).toBe(answer);
    const ollama = (await (
      await postJson(`${gateway.url}/api/chat`, { model: "m", stream: false, messages: [{ role: "user", content: "Hi" }] })
    ).json()) as {
      message: { content: string };
    };
    expect(ollama.message.content).toBe(answer);
    const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 });
    expect(await anthropic.messages.countTokens({ model: "m", messages: [{ role: "user", content: "Hi" }] })).toEqual({ input_tokens: 13 });
    const embeddings = await gateway.client.embeddings.create({ model: "m", input: ["a", "b"] });
    expect(embeddings.data.map((item) => item.embedding)).toEqual([
      [0, 0.5, -0.5],
      [1, 0.5, -0.5],
    ]);
    expect(embeddings.usage.prompt_tokens).toBe(8);
  });

  it("C07: never splits a UTF-8 character the upstream split across chunks (OpenAI and Anthropic clients)", async () => {
    const stream = await gateway.client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(answer);
    const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 });
    const message = await anthropic.messages.create({ model: "m", max_tokens: 64, messages: [{ role: "user", content: "Hi" }] });
    expect(message.content.map((block) => (block.type === "text" ? block.text : "")).join("")).toBe(answer);
  });

  it("ends a stream that breaks off after its first byte with the dialect's error event, never a silent half answer", async () => {
    const stream = await gateway.client.chat.completions.create({
      model: "broken",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    let text = "";
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(APIError);
    expect(text).toBe("half an answer");
    const raw = await (await chat("broken", true)).text();
    expect(raw).toContain('"code":"upstream_failed"');
    expect(raw).not.toContain("[DONE]");
    // Anthropic's error event, and Ollama's error line, in the same place.
    const anthropic = await (
      await postJson(
        `${gateway.url}/v1/messages`,
        { model: "broken", max_tokens: 16, stream: true, messages: [{ role: "user", content: "Hi" }] },
        { headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" } },
      )
    ).text();
    expect(anthropic).toContain("half an");
    expect(anthropic).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/);
    expect(anthropic).not.toContain("message_stop");
    const ollama = await (
      await postJson(`${gateway.url}/api/chat`, { model: "broken", messages: [{ role: "user", content: "Hi" }] })
    ).text();
    const lines = ollama
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { error?: string; done?: boolean });
    expect(lines.at(-1)?.error).toMatch(/upstream 'breaking' failed/);
    expect(lines.some((line) => line.done === true)).toBe(false);
  });

  it("passes the fields moestro does not read, user and x-request-id to the upstream as the client sent them", async () => {
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      {
        model: "m",
        messages: [{ role: "user", content: "Hi" }],
        user: "user-7",
        repetition_penalty: 1.1,
        guided_choice: ["yes", "no"],
        max_tokens: 5,
      },
      { headers: { "content-type": "application/json", "x-request-id": "req-gateway-7" } },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("req-gateway-7");
    expect(scripted.posts.at(-1)).toMatchObject({
      path: "/v1/chat/completions",
      requestId: "req-gateway-7",
      body: {
        model: "m",
        user: "user-7",
        repetition_penalty: 1.1,
        guided_choice: ["yes", "no"],
        max_tokens: 5,
      },
    });
    // A whole answer is asked for without streaming; a streamed request asks for the usage chunk.
    expect(scripted.posts.at(-1)!.body).not.toHaveProperty("stream");
    expect(scripted.posts.at(-1)!.body).not.toHaveProperty("stream_options");
    await (
      await postJson(`${gateway.url}/v1/chat/completions`, { model: "m", stream: true, messages: [{ role: "user", content: "Hi" }] })
    ).text();
    expect(scripted.posts.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("ends a stream whose upstream stalls for its timeoutMs after the first byte with an upstream_timeout error event", async () => {
    const startedAt = performance.now();
    const raw = await (await chat("stalls", true)).text();
    expect(raw).toContain('"content":"first"');
    expect(raw).toContain('"code":"upstream_timeout"');
    expect(raw).not.toContain("[DONE]");
    expect(performance.now() - startedAt).toBeLessThan(2000);
  });

  it("counts the chunks of an upstream that reports no usage, and a whole answer's bytes", async () => {
    const stream = await gateway.client.chat.completions.create({
      model: "no-usage",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: { completion_tokens: number; prompt_tokens: number } | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("one two three");
    expect(usage?.completion_tokens).toBe(3);
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    // Not streamed, the answer is one piece: its tokens are estimated at a quarter of its 13 bytes.
    const completion = await gateway.client.chat.completions.create({ model: "no-usage", messages: [{ role: "user", content: "Hi" }] });
    expect(completion.choices[0]!.message.content).toBe("one two three");
    expect(completion.usage?.completion_tokens).toBe(4);
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
  });
});
