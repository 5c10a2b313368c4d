import { afterEach, describe, expect, it } from "vitest";
import { createFakeApp, type FakeApp, type Transport } from "../../../../test/helpers/fake-app.js";
import { createFakeBackend, type FakeBackendOptions, textParts } from "../../../../test/helpers/fake-backend.js";

// The Messages route on a fake model (no weights): exact bodies and event sequences, a failure after the first byte,
// keep-alive pings, and max_tokens lowered to the context window. Both transports, as respond.test.ts.

const hello = { model: "fake", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] };

/** The events of a stream, as `[name, payload]`. */
function events(body: string): Array<[string, Record<string, unknown>]> {
  return body
    .split("\n\n")
    .filter((block) => block.length > 0)
    .map((block) => {
      const [eventLine, dataLine] = block.split("\n");
      return [eventLine!.slice("event: ".length), JSON.parse(dataLine!.slice("data: ".length)) as Record<string, unknown>];
    });
}

describe.each<Transport>(["app.request", "node"])("POST /v1/messages over %s", (transport) => {
  let app: FakeApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const start = async (options: FakeBackendOptions = {}, sseKeepAliveMs?: number) => {
    app = await createFakeApp([createFakeBackend(options)], { transport, deps: { sseKeepAliveMs } });
    return app;
  };

  it("answers the non-streamed body exactly, and streams the documented event sequence", async () => {
    const target = await start({
      script: [
        { type: "reasoning-delta", text: "Hm." },
        ...textParts("Hello you"),
        { type: "tool-call", toolCall: { id: "call_1", name: "f", arguments: '{"a":1}' } },
      ],
    });
    const body = (await (await target.post("/v1/messages", hello)).json()) as Record<string, unknown>;
    expect(body).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{24}$/),
      type: "message",
      role: "assistant",
      model: "fake",
      content: [
        { type: "thinking", thinking: "Hm.", signature: expect.stringMatching(/^moestro1\./) },
        { type: "text", text: "Hello you" },
        { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
    const streamed = events(await (await target.post("/v1/messages", { ...hello, stream: true })).text());
    const signature = (body.content as Array<{ signature?: string }>)[0]!.signature;
    expect(streamed).toEqual([
      [
        "message_start",
        {
          type: "message_start",
          message: {
            ...body,
            id: expect.any(String),
            content: [],
            stop_reason: null,
            usage: { ...(body.usage as object), output_tokens: 0 },
          },
        },
      ],
      ["ping", { type: "ping" }],
      ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Hm." } }],
      ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature } }],
      ["content_block_stop", { type: "content_block_stop", index: 0 }],
      ["content_block_start", { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Hello " } }],
      ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "you" } }],
      ["content_block_stop", { type: "content_block_stop", index: 1 }],
      [
        "content_block_start",
        { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_1", name: "f", input: {} } },
      ],
      ["content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: '{"a":1}' } }],
      ["content_block_stop", { type: "content_block_stop", index: 2 }],
      ["message_delta", { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: body.usage }],
      ["message_stop", { type: "message_stop" }],
    ]);
    expect(target.events.map((event) => event.endpoint)).toEqual(["messages", "messages"]);
  });

  it("display omitted sends the thinking block with its signature and no text", async () => {
    const target = await start({ contextTokens: 4096, script: [{ type: "reasoning-delta", text: "Secret." }, ...textParts("Hi")] });
    const request = { ...hello, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024, display: "omitted" } };
    const body = (await (await target.post("/v1/messages", request)).json()) as { content: unknown[] };
    expect(body.content[0]).toEqual({ type: "thinking", thinking: "", signature: expect.stringMatching(/^moestro1\./) });
    const streamed = events(await (await target.post("/v1/messages", { ...request, stream: true })).text());
    expect(streamed.some(([, payload]) => (payload.delta as { type?: string } | undefined)?.type === "thinking_delta")).toBe(false);
    expect(streamed.some(([, payload]) => (payload.delta as { type?: string } | undefined)?.type === "signature_delta")).toBe(true);
  });

  it("D08: a failure after the first byte is an error event in Anthropic's envelope, and the stream ends", async () => {
    const target = await start({ script: "a b c d e f", failAfterParts: 2 });
    const streamed = events(await (await target.post("/v1/messages", { ...hello, stream: true })).text());
    expect(streamed.at(-1)).toEqual([
      "error",
      { type: "error", error: { type: "api_error", message: expect.stringContaining("request id") }, request_id: expect.any(String) },
    ]);
    expect(streamed.some(([name]) => name === "message_stop")).toBe(false);
  });

  it("keeps an idle stream open with ping events", async () => {
    const target = await start({ script: "a b", partDelayMs: 60 }, 20);
    const names = events(await (await target.post("/v1/messages", { ...hello, stream: true })).text()).map(([name]) => name);
    expect(names.filter((name) => name === "ping").length).toBeGreaterThan(1);
    expect(names.at(-1)).toBe("message_stop");
  });

  it("lowers a max_tokens the context window cannot hold, and says model_context_window_exceeded when the window fills", async () => {
    const target = await start({ contextTokens: 10, script: "a b c d e f g h i j k l" });
    const body = (await (await target.post("/v1/messages", { ...hello, max_tokens: 32000 })).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ stop_reason: "model_context_window_exceeded", usage: { input_tokens: 3, output_tokens: 7 } });
    // A prompt that fills the window alone is still refused.
    const long = await target.post("/v1/messages", { ...hello, messages: [{ role: "user", content: "w ".repeat(20) }] });
    expect(long.status).toBe(400);
    expect(await long.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });
});
