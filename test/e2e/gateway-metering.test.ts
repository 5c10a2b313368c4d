import { mkdtempSync, rmSync } from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireUsageRow } from "../../src/wire/admin.js";
import type { WireUsageEvent } from "../../src/wire/console.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";
import { chunkEvent, sleep, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

/** The answer the stand-in streams, one chunk per word. */
const answer = "Once upon a time, there was a little dog named Spot.";

/** Streams {@link answer} as an old OpenAI-compatible server does: no usage chunk, whatever `stream_options` says. */
function streamWithoutUsage(response: http.ServerResponse): void {
  response.writeHead(200, { "content-type": "text/event-stream" });
  const words = answer.split(/(?= )/);
  response.end(
    chunkEvent({ role: "assistant", content: "" }) +
      words.map((word) => chunkEvent({ content: word })).join("") +
      chunkEvent({}, "stop") +
      "data: [DONE]\n\n",
  );
}

/**
 * The gateway's metering of upstreams that send no usage (docs/gateway.md, "Usage, budgets and the ledger"): the real
 * moestro server in front of a stand-in upstream that never sends a usage chunk, serving a model this server has no
 * tokenizer of (`bare`: its row is marked estimated) and a model it also serves locally (stories260K as `stories`: the
 * pool's local member counts the prompt and the answer with its tokenizer). A retired model's fallback records the
 * model asked for. Calls go through the official `openai` client.
 */
describe.skipIf(!hasTestModels)("gateway metering: streams without usage, the model asked for", () => {
  let gateway: TestServer;
  let upstream: StandInUpstream;

  beforeAll(async () => {
    upstream = await startStandInUpstream(["bare", "stories"], (_request, response) => streamWithoutUsage(response));
    gateway = await startTestServer({
      models: [
        // Joins the upstream's `stories` pool as its local member; weighed so low that the upstream takes every request.
        { path: testModelPath("stories260K.gguf"), id: "stories" },
        // The same weights alone, to count with them directly.
        { path: testModelPath("stories260K.gguf"), id: "stories-alone" },
      ],
      upstreams: [{ name: "old", url: upstream.url }],
      pools: { stories: { localWeight: 0.0001 }, retired: { fallbacks: "bare" } },
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
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

  /** A streamed chat completion read to its end (the client asks for no usage); its text and model. */
  async function streamed(model: string, requestId: string): Promise<{ text: string; model: string; upstream: string | null }> {
    const { data: stream, response } = await gateway.client.chat.completions
      .create(
        { model, stream: true, max_tokens: 20, messages: [{ role: "user", content: "Tell me a story about a dog." }] },
        { headers: { "x-request-id": requestId } },
      )
      .withResponse();
    let text = "";
    let answered = "";
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      answered = chunk.model;
    }
    return { text, model: answered, upstream: response.headers.get("x-moestro-upstream") };
  }

  it("marks the counts of a model it has no tokenizer of as estimated: chunks counted, the prompt estimated", async () => {
    expect(await streamed("bare", "bare-1")).toEqual({ text: answer, model: "bare", upstream: "old" });
    const row = await ledgerRow("bare-1");
    expect(row).toMatchObject({ model: "bare", status: "ok", upstream: "old", usage_estimated: true, requested_model: null });
    expect(row.completion_tokens).toBe(answer.split(/(?= )/).length);
    expect(row.prompt_tokens).toBeGreaterThan(0);
  });

  it("counts the prompt and the answer with the local member's tokenizer when the pool has one, not estimated", async () => {
    expect(await streamed("stories", "stories-1")).toEqual({ text: answer, model: "stories", upstream: "old" });
    const row = await ledgerRow("stories-1");
    expect(row).toMatchObject({ model: "stories", status: "ok", upstream: "old", usage_estimated: false });
    // The same prompt on the same weights served alone: its usage is the tokenizer's count.
    const alone = await gateway.client.chat.completions.create({
      model: "stories-alone",
      max_tokens: 1,
      messages: [{ role: "user", content: "Tell me a story about a dog." }],
    });
    expect(row.prompt_tokens).toBe(alone.usage?.prompt_tokens);
    // The answer's tokens: the answer as a raw prompt, less its begin-of-sequence token (stories260K adds one).
    const raw = (await (
      await postJson(`${gateway.url}/v1/completions`, { model: "stories-alone", prompt: answer, max_tokens: 1 })
    ).json()) as {
      usage: { prompt_tokens: number };
    };
    expect(row.completion_tokens).toBe(raw.usage.prompt_tokens - 1);
    // A 512-token vocabulary splits words: the tokenizer's count is not the chunks'.
    expect(row.completion_tokens).toBeGreaterThan(answer.split(/(?= )/).length);
  });

  it("records the model asked for when a fallback answered, and counts estimated rows per group in the usage report", async () => {
    expect(await streamed("retired", "retired-1")).toEqual({ text: answer, model: "bare", upstream: "old" });
    expect(await ledgerRow("retired-1")).toMatchObject({ model: "bare", requested_model: "retired", usage_estimated: true });
    const report = (await (await fetch(`${gateway.url}/v1/moestro/usage?group_by=model`)).json()) as {
      data: WireUsageRow[];
      total: WireUsageRow;
    };
    const byModel = new Map(report.data.map((row) => [row.name, row]));
    expect(byModel.get("bare")).toMatchObject({ requests: 2, usage_estimated_requests: 2 });
    expect(byModel.get("stories")).toMatchObject({ requests: 1, usage_estimated_requests: 0 });
    expect(report.total.usage_estimated_requests).toBe(2);
  });
});

/**
 * The budget's reservation before an upstream request is sent, with a pool that has a local member: its tokenizer gives
 * the prompt's exact tokens, so a budget of exactly the prompt's cost admits the request, where the bound (one token per
 * UTF-8 byte) would refuse it; one micro-dollar less refuses it, and the upstream never sees the refused one.
 */
describe.skipIf(!hasTestModels)("gateway budgets: reserved before sending, with the local member's exact prompt count", () => {
  const adminKey = "gateway-metering-admin-key-0123456789";
  /** micro-USD per prompt token (generated tokens are free): a request's worst case is its prompt's tokens. */
  const microUsdPerPromptToken = 1_000;
  const messages = [{ role: "user" as const, content: "Tell me a story about a dog." }];
  let gateway: TestServer;
  let upstream: StandInUpstream;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "moestro-gwmeter-"));
    const priceBookPath = writePriceBook(home, {
      version: 1,
      prices: ["stories", "stories-alone", "breaks"].map((model) =>
        flatLocalPrice(model, {
          inputMicroUsdPerMillionTokens: microUsdPerPromptToken * 1_000_000,
          // `breaks` bills its generated tokens too: a stream that broke off is charged what it produced.
          outputMicroUsdPerMillionTokens: model === "breaks" ? microUsdPerPromptToken * 1_000_000 : 0,
        }),
      ),
    });
    upstream = await startStandInUpstream(["stories", "breaks"], async ({ body }, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      if (body.model === "breaks") {
        // Five content chunks, then the upstream dies (its socket cut, as a `kill -9` leaves it): no usage, no end.
        response.write(chunkEvent({ role: "assistant", content: "" }));
        for (const word of ["Once", " upon", " a", " time", ","]) response.write(chunkEvent({ content: word }));
        await sleep(50);
        response.socket?.destroy();
        return;
      }
      response.end(`${chunkEvent({ role: "assistant", content: "Once" })}${chunkEvent({}, "stop")}${usageEvent(1, 1)}data: [DONE]\n\n`);
    });
    gateway = await startTestServer(
      {
        models: [
          { path: testModelPath("stories260K.gguf"), id: "stories" },
          { path: testModelPath("stories260K.gguf"), id: "stories-alone" },
        ],
        upstreams: [{ name: "priced", url: upstream.url }],
        pools: { stories: { localWeight: 0.0001 } },
        adminKey,
        home,
        metering: { priceBookPath },
      },
      { apiKey: adminKey },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  const keyWithBudget = async (name: string, budget: number): Promise<string> => {
    const response = await postJson(
      `${gateway.url}/v1/moestro/keys`,
      { name, budget_micro_usd: budget, budget_period: "day" },
      { headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" } },
    );
    expect(response.status).toBe(201);
    return ((await response.json()) as { secret: string }).secret;
  };
  const chat = (secret: string) =>
    postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: "stories", max_tokens: 2, stream: true, messages },
      { headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" } },
    );

  it("admits a budget of exactly the prompt's tokens, refuses one micro-dollar less before the upstream sees it", async () => {
    // The prompt's tokens as the local weights count them.
    const alone = await gateway.client.chat.completions.create({ model: "stories-alone", max_tokens: 1, messages });
    const promptTokens = alone.usage!.prompt_tokens;
    // The bound that needs no tokenizer is far above: this budget would refuse a bounded reservation.
    expect(Buffer.byteLength(messages[0]!.content, "utf8") + 8).toBeGreaterThan(promptTokens);

    const short = await keyWithBudget("one-short", promptTokens * microUsdPerPromptToken - 1);
    const refused = await chat(short);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("insufficient_quota");
    expect(upstream.posts).toHaveLength(0);

    const exact = await keyWithBudget("exact", promptTokens * microUsdPerPromptToken);
    const admitted = await chat(exact);
    expect(admitted.status).toBe(200);
    expect(await admitted.text()).toContain("data: [DONE]");
    expect(admitted.headers.get("x-moestro-upstream")).toBe("priced");
    expect(upstream.posts).toHaveLength(1);
  });

  it("bills a stream that broke off at the upstream with the tokens it produced, estimated, charged to the key", async () => {
    const secret = await keyWithBudget("breaks", 1_000_000_000);
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: "breaks", max_tokens: 480, stream: true, messages },
      { headers: { authorization: `Bearer ${secret}`, "content-type": "application/json", "x-request-id": "breaks-1" } },
    );
    const raw = await response.text();
    expect(raw).toContain("time");
    expect(raw).toContain('"code":"upstream_failed"');
    let row: WireUsageEvent | undefined;
    for (let wait = 0; wait < 100 && row === undefined; wait++) {
      const rows = (
        (await (await fetch(`${gateway.url}/v1/moestro/usage/events`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as {
          data: WireUsageEvent[];
        }
      ).data;
      row = rows.find((candidate) => candidate.request_id === "breaks-1" && candidate.status !== "running");
      if (row === undefined) await sleep(20);
    }
    // As a client's disconnect at the same point: one token per content chunk (the role chunk carries none), the prompt
    // estimated, the row marked estimated; priced, on the key.
    expect(row).toMatchObject({
      model: "breaks",
      status: "error",
      error_code: "upstream_failed",
      usage_estimated: true,
      upstream: "priced",
    });
    expect(row!.completion_tokens).toBe(5);
    expect(row!.prompt_tokens).toBeGreaterThan(0);
    expect(row!.cost_micro_usd).toBe((row!.prompt_tokens + row!.completion_tokens) * microUsdPerPromptToken);
    expect(row!.key_id).not.toBeNull();
    // The key's spend (what its budget is checked against) includes it.
    const byKey = (
      (await (
        await fetch(`${gateway.url}/v1/moestro/usage?group_by=key`, { headers: { authorization: `Bearer ${adminKey}` } })
      ).json()) as { data: WireUsageRow[] }
    ).data;
    expect(byKey.find((group) => group.name === row!.key_id || group.name === "breaks")?.cost_micro_usd).toBe(row!.cost_micro_usd);
  });
});
