import Anthropic, { type APIError } from "@anthropic-ai/sdk";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, postJson, serveApp } from "../helpers/server.js";
import { anthropicHeaders, checkSequence, greedy, parseEvents } from "../helpers/anthropic-sse.js";

describe.skipIf(!hasTestModels)("Anthropic Messages API (/v1/messages) with the official clients", () => {
  const backends: ModelBackend[] = [];
  let server: Awaited<ReturnType<typeof serveApp>>;
  let client: Anthropic;
  /** What the scripted model writes; `undefined` lets it sample. */
  let script: ((request: GenerateRequest) => string | undefined) | undefined;
  /** The last request the scripted model saw. */
  let seen: GenerateRequest | undefined;

  beforeAll(async () => {
    backends.push(await loadTestBackend({ modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 }));
    backends.push(
      await loadTestBackend({
        modelPath: testModelPath("tiny-qwen3moe.gguf"),
        contextTokens: 4096,
        id: "scripted-qwen3",
        script: (request) => {
          seen = request;
          return script?.(request);
        },
      }),
    );
    // No <think> token: a model that cannot think (D06's variant).
    backends.push(await loadTestBackend({ modelPath: testModelPath("stories260K.gguf"), contextTokens: 4096 }));
    server = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    client = new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    for (const backend of backends) await backend.dispose();
  });

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return await postJson(`${server.url}${path}`, body, {
      headers: { "content-type": "application/json", ...anthropicHeaders, ...headers },
    });
  }

  it("messages.create answers a message exactly as the reference shapes it", async () => {
    const message = await client.messages.create({
      model: "tiny-qwen3moe",
      max_tokens: 6,
      ...greedy,
      messages: [{ role: "user", content: "Hello" }],
    });
    expect(message.id).toMatch(/^msg_/);
    expect(message).toMatchObject({ type: "message", role: "assistant", model: "tiny-qwen3moe", stop_sequence: null });
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
    expect(message.content.every((block) => block.type === "text")).toBe(true);
    expect(message.usage).toEqual({
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
      cache_read_input_tokens: expect.any(Number),
      cache_creation_input_tokens: 0,
    });
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it("messages.stream gives the same text as messages.create at temperature 0, and finalMessage holds it", async () => {
    const request = { model: "tiny-qwen3moe", max_tokens: 12, ...greedy, messages: [{ role: "user" as const, content: "Tell a story" }] };
    const whole = await client.messages.create(request);
    const stream = client.messages.stream(request);
    let streamed = "";
    stream.on("text", (text) => {
      streamed += text;
    });
    const final = await stream.finalMessage();
    const text = (blocks: Anthropic.ContentBlock[]) => blocks.map((block) => (block.type === "text" ? block.text : "")).join("");
    expect(streamed).toBe(text(whole.content));
    expect(text(final.content)).toBe(streamed);
    expect(final.stop_reason).toBe(whole.stop_reason);
    expect(final.usage.output_tokens).toBe(whole.usage.output_tokens);
    expect(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0)).toBe(
      whole.usage.input_tokens + (whole.usage.cache_read_input_tokens ?? 0),
    );
  });

  it("a streamed message_start carries the prompt's cache split that message_delta gives (a repeated prompt reuses its prefix)", async () => {
    const request = {
      model: "tiny-qwen3moe",
      max_tokens: 4,
      ...greedy,
      messages: [{ role: "user" as const, content: "Tell a story about a cat and a dog" }],
      stream: true as const,
    };
    const usages = async () => {
      const events: Anthropic.RawMessageStreamEvent[] = [];
      for await (const event of await client.messages.create(request)) events.push(event);
      const start = events.find((event) => event.type === "message_start")!;
      const delta = events.find((event) => event.type === "message_delta")!;
      // message_start goes out with the first part: nothing else comes before it.
      expect(events[0]?.type).toBe("message_start");
      return { start: start.message.usage, delta: delta.usage };
    };
    await usages();
    const { start, delta } = await usages();
    expect(delta.cache_read_input_tokens).toBeGreaterThan(0);
    expect(start).toMatchObject({
      input_tokens: delta.input_tokens,
      cache_read_input_tokens: delta.cache_read_input_tokens,
      cache_creation_input_tokens: 0,
      output_tokens: 0,
    });
  });

  it("D01: system entries inside messages merge after the top-level system, at the start of the prompt; string and blocks agree", async () => {
    const body = {
      model: "scripted-qwen3",
      max_tokens: 8,
      system: [{ type: "text", text: "You are terse." }],
      messages: [
        { role: "user", content: "Say hi." },
        { role: "system", content: "Available agent types: none." },
      ],
    };
    script = () => "hi";
    const response = await post("/v1/messages", body);
    expect(response.status).toBe(200);
    expect(((await response.json()) as Anthropic.Message).content).toEqual([{ type: "text", text: "hi" }]);
    expect(seen!.input).toEqual({
      kind: "chat",
      messages: [
        { role: "system", text: "You are terse.\n\nAvailable agent types: none." },
        { role: "user", text: "Say hi." },
      ],
    });
    const asString = await post("/v1/messages/count_tokens", { ...body, system: "You are terse." });
    const asBlocks = await post("/v1/messages/count_tokens", body);
    const withoutEntry = await post("/v1/messages/count_tokens", { ...body, messages: body.messages.slice(0, 1) });
    const [stringCount, blockCount, shorter] = (await Promise.all([asString.json(), asBlocks.json(), withoutEntry.json()])) as Array<{
      input_tokens: number;
    }>;
    expect(stringCount).toEqual(blockCount);
    expect(blockCount!.input_tokens).toBeGreaterThan(shorter!.input_tokens);
    const badRole = await post("/v1/messages", { ...body, messages: [{ role: "tool", content: "x" }] });
    expect(badRole.status).toBe(400);
    expect(await badRole.json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringContaining("messages[0].role") },
    });
  });

  const getTime: Anthropic.Tool = { name: "get_time", description: "Current time", input_schema: { type: "object", properties: {} } };
  const getWeather: Anthropic.Tool = {
    name: "get_weather",
    description: "Weather for a city",
    // An enum keeps a forced call short on a random-weight model (a free string runs to max_tokens).
    input_schema: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Oslo"] } }, required: ["city"] },
  };
  const toolRequest = {
    model: "tiny-qwen3moe",
    max_tokens: 48,
    ...greedy,
    tools: [getTime, getWeather],
    messages: [{ role: "user" as const, content: "What time is it? Use a tool if you can." }],
  };

  it("D02: tool_choice none is accepted and never calls a tool; tool forces the named tool; any forces a call", async () => {
    const none = await client.messages.create({ ...toolRequest, max_tokens: 8, tool_choice: { type: "none" } });
    expect(none.content.some((block) => block.type === "tool_use")).toBe(false);
    expect(none.stop_reason).not.toBe("tool_use");

    const forced = await client.messages.create({ ...toolRequest, tool_choice: { type: "tool", name: "get_weather" } });
    expect(forced.stop_reason).toBe("tool_use");
    const call = forced.content.find((block) => block.type === "tool_use")!;
    expect(call).toMatchObject({ type: "tool_use", name: "get_weather", id: expect.stringMatching(/^toolu_/) });
    expect(["Paris", "Oslo"]).toContain((call.input as { city: unknown }).city);

    const any = await client.messages.create({ ...toolRequest, tool_choice: { type: "any", disable_parallel_tool_use: true } });
    expect(any.stop_reason).toBe("tool_use");
    expect(any.content.filter((block) => block.type === "tool_use")).toHaveLength(1);

    const unknown = await client.messages
      .create({ ...toolRequest, tool_choice: { type: "tool", name: "nope" } })
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(Anthropic.BadRequestError);
    expect((unknown as APIError).type).toBe("invalid_request_error");
  });

  it("tool_choice auto: a streamed call arrives as tool_use with one input_json_delta; the result goes back as tool_result", async () => {
    script = () => '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    const response = await post("/v1/messages", { ...toolRequest, model: "scripted-qwen3", stream: true, tool_choice: { type: "auto" } });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = parseEvents(await response.text());
    checkSequence(events);
    const start = events.find((event) => event.type === "content_block_start") as Anthropic.RawContentBlockStartEvent;
    expect(start.content_block).toMatchObject({ type: "tool_use", name: "get_weather", input: {} });
    const json = events
      .filter((event) => event.type === "content_block_delta")
      .map((event) => (event as Anthropic.RawContentBlockDeltaEvent).delta);
    expect(json).toEqual([{ type: "input_json_delta", partial_json: '{"city":"Paris"}' }]);
    expect((events.at(-2) as Anthropic.RawMessageDeltaEvent).delta).toEqual({ stop_reason: "tool_use", stop_sequence: null });

    // The SDK's stream helper rebuilds the same call.
    const final = await client.messages.stream({ ...toolRequest, model: "scripted-qwen3" }).finalMessage();
    const call = final.content.find((block) => block.type === "tool_use")!;
    expect(call.input).toEqual({ city: "Paris" });

    script = () => "It is sunny.";
    const followUp = await client.messages.create({
      ...toolRequest,
      model: "scripted-qwen3",
      messages: [
        ...toolRequest.messages,
        { role: "assistant", content: [{ type: "text", text: "Let me check." }, call] },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: call.id, content: [{ type: "text", text: "Sunny, 21 C" }], is_error: true },
            { type: "text", text: "Thanks.", cache_control: { type: "ephemeral" } },
          ],
        },
      ],
    });
    expect(followUp.content).toEqual([{ type: "text", text: "It is sunny." }]);
    const history = (seen!.input as { messages: unknown[] }).messages;
    expect(history.slice(1)).toEqual([
      { role: "assistant", text: "Let me check.", toolCalls: [{ id: call.id, name: "get_weather", arguments: '{"city":"Paris"}' }] },
      { role: "tool", toolCallId: call.id, text: "Error: Sunny, 21 C" },
      { role: "user", text: "Thanks." },
    ]);
  });

  it("Anthropic's own tool types are dropped, not refused; a tool_choice naming one is a 400", async () => {
    const serverTools = [
      { type: "web_search_20250305", name: "web_search", max_uses: 5 },
      { type: "bash_20250124", name: "bash" },
      { type: "text_editor_20250728", name: "str_replace_based_edit_tool" },
      { type: "computer_20250124", name: "computer", display_width_px: 1024, display_height_px: 768 },
      { type: "code_execution_20250825", name: "code_execution" },
    ];
    script = () => '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>';
    const message = await client.messages.create({
      ...toolRequest,
      model: "scripted-qwen3",
      tools: [...(serverTools as never[]), { ...getTime, type: "custom", cache_control: { type: "ephemeral" } } as never],
    });
    expect(message.content).toMatchObject([{ type: "tool_use", name: "get_time", input: {} }]);
    expect(seen!.tools!.definitions.map((definition) => definition.name)).toEqual(["get_time"]);
    const refused = await post("/v1/messages", {
      ...toolRequest,
      tools: [...serverTools, getTime],
      tool_choice: { type: "tool", name: "web_search" },
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringContaining("web_search") },
    });
  });

  it("D05: a stop sequence hit says stop_sequence and which, without the sequence in the text; streamed and not", async () => {
    script = () => "1 2 3 4 5 6 7 8 9";
    const body = {
      model: "scripted-qwen3",
      max_tokens: 32,
      stop_sequences: ["4"],
      messages: [{ role: "user", content: "Count from 1 to 9, separated by spaces." }],
    };
    const whole = (await (await post("/v1/messages", body)).json()) as Anthropic.Message;
    expect(whole).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: "4", content: [{ type: "text", text: "1 2 3 " }] });

    const events = parseEvents(await (await post("/v1/messages", { ...body, stream: true })).text());
    checkSequence(events);
    const text = events.flatMap((event) =>
      event.type === "content_block_delta" && event.delta.type === "text_delta" ? [event.delta.text] : [],
    );
    expect(text.join("")).toBe("1 2 3 ");
    expect((events.at(-2) as Anthropic.RawMessageDeltaEvent).delta).toEqual({ stop_reason: "stop_sequence", stop_sequence: "4" });

    // Without stop sequences: end_turn, stop_sequence null and present.
    const natural = (await (await post("/v1/messages", { ...body, stop_sequences: undefined })).json()) as Anthropic.Message;
    expect(natural).toMatchObject({ stop_reason: "end_turn", stop_sequence: null });
    expect(Object.hasOwn(natural, "stop_sequence")).toBe(true);
    const limited = parseEvents(
      await (await post("/v1/messages", { ...body, stop_sequences: undefined, max_tokens: 3, stream: true })).text(),
    );
    checkSequence(limited);
    expect((limited.at(-2) as Anthropic.RawMessageDeltaEvent).delta).toEqual({ stop_reason: "max_tokens", stop_sequence: null });
  });

  it("D06: thinking is off without a thinking field and with disabled: no thinking blocks, no thinking_delta", async () => {
    for (const thinking of [undefined, { type: "disabled" as const }]) {
      const message = await client.messages.create({
        model: "tiny-qwen3moe",
        max_tokens: 12,
        system: "You are a helpful assistant.",
        ...(thinking ? { thinking } : {}),
        messages: [{ role: "user", content: "What is 2+2? One word." }],
      });
      expect(message.content.some((block) => block.type === "thinking")).toBe(false);
      const events = parseEvents(
        await (
          await post("/v1/messages", {
            model: "tiny-qwen3moe",
            max_tokens: 12,
            stream: true,
            thinking,
            messages: [{ role: "user", content: "Hi" }],
          })
        ).text(),
      );
      expect(events.some((event) => event.type === "content_block_delta" && event.delta.type === "thinking_delta")).toBe(false);
    }
  });

  it("D06: thinking enabled gives a signed thinking block first, then the text; streamed with one signature_delta before its stop", async () => {
    script = () => "2 plus 2 is 4.</think>\n\nFour.";
    const request = {
      model: "scripted-qwen3",
      max_tokens: 2048,
      thinking: { type: "enabled" as const, budget_tokens: 1024 },
      messages: [{ role: "user" as const, content: "What is 2+2? One word." }],
    };
    const message = await client.messages.create(request);
    expect(seen!.thinking).toEqual({ enabled: true, budgetTokens: 1024 });
    expect(message.content).toEqual([
      { type: "thinking", thinking: "2 plus 2 is 4.", signature: expect.stringMatching(/^moestro1\./) },
      { type: "text", text: "Four." },
    ]);
    const events = parseEvents(await (await post("/v1/messages", { ...request, stream: true })).text());
    checkSequence(events);
    const blockEvents = events.filter((event) => event.type.startsWith("content_block"));
    expect(blockEvents[0]).toEqual({
      type: "content_block_start",
      index: 0,
      content_block: { type: "thinking", thinking: "", signature: "" },
    });
    const thinkingStop = blockEvents.findIndex((event) => event.type === "content_block_stop");
    expect(blockEvents[thinkingStop - 1]).toEqual({
      type: "content_block_delta",
      index: 0,
      delta: { type: "signature_delta", signature: (message.content[0] as Anthropic.ThinkingBlock).signature },
    });
    expect(blockEvents[thinkingStop + 1]).toMatchObject({ type: "content_block_start", index: 1, content_block: { type: "text" } });
    const final = await client.messages.stream(request).finalMessage();
    expect(final.content).toEqual(message.content);

    // The block sent back (signed here, or edited) is accepted and dropped: Qwen's template renders no past thought.
    script = () => "</think>\n\nYes.";
    for (const block of [
      message.content[0]!,
      { type: "thinking", thinking: "edited", signature: "forged" },
      { type: "redacted_thinking", data: "abc" },
    ]) {
      const followUp = await client.messages.create({
        ...request,
        messages: [
          ...request.messages,
          { role: "assistant", content: [block as never, message.content[1]!] },
          { role: "user", content: "Sure?" },
        ],
      });
      expect(followUp.content.at(-1)).toEqual({ type: "text", text: "Yes." });
      expect((seen!.input as { messages: unknown[] }).messages[1]).toEqual({ role: "assistant", text: "Four." });
    }
  });

  it("D06: thinking on a model that cannot think is a 200 with text only; adaptive turns it on; budgets out of range are 400s", async () => {
    const message = await client.messages.create({
      model: "stories260K",
      max_tokens: 1025,
      // The first sentence is enough.
      stop_sequences: ["."],
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [{ role: "user", content: "Once upon a time" }],
    });
    expect(message.content.every((block) => block.type === "text")).toBe(true);
    script = () => "ok";
    await client.messages.create({
      model: "scripted-qwen3",
      max_tokens: 8,
      thinking: { type: "adaptive" },
      messages: [{ role: "user", content: "Hi" }],
    });
    expect(seen!.thinking).toEqual({ enabled: true });
    for (const [budget, maxTokens] of [
      [1023, 2048],
      [2048, 2048],
    ]) {
      const response = await post("/v1/messages", {
        model: "tiny-qwen3moe",
        max_tokens: maxTokens,
        thinking: { type: "enabled", budget_tokens: budget },
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        type: "error",
        error: { type: "invalid_request_error", message: expect.stringContaining("budget_tokens") },
      });
    }
  });
});
