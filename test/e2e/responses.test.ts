import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { zodTextFormat } from "openai/helpers/zod";
import { pino } from "pino";
import { z } from "zod/v4";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ChatMessage, GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, postJson, serveApp } from "../helpers/server.js";

/** One SSE event as the Responses API names it: the `event:` line and the `data:` payload. */
interface NamedEvent {
  event: string;
  data: { type: string; sequence_number: number } & Record<string, any>;
}

/** Parses a named-event SSE body strictly: each block is `event: NAME` then one `data:` line; `: comment` blocks skipped. */
function parseNamedSse(body: string): NamedEvent[] {
  const events: NamedEvent[] = [];
  for (const block of body.split("\n\n")) {
    if (block.trim().length === 0 || block.startsWith(":")) continue;
    const lines = block.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^event: \S+$/);
    expect(lines[1]).toMatch(/^data: \{/);
    events.push({ event: lines[0]!.slice("event: ".length), data: JSON.parse(lines[1]!.slice("data: ".length)) });
  }
  return events;
}

const weatherTool = {
  type: "function" as const,
  name: "get_current_weather",
  description: "Weather for a location",
  parameters: { type: "object", properties: { location: { type: "string", maxLength: 12 } }, required: ["location"] },
  strict: true,
};

/** The last user message's text. */
const lastUser = (request: GenerateRequest): string =>
  request.input.kind === "chat" ? ([...request.input.messages].reverse().find((message) => message.role === "user")?.text ?? "") : "";
const messagesOf = (request: GenerateRequest): ChatMessage[] => (request.input.kind === "chat" ? request.input.messages : []);

// Case ids in test names (D18…) are the dialect cases of ../shared/cases/dialect-cases.md.
describe.skipIf(!hasTestModels)("the Responses API with the official openai client (in-memory store)", () => {
  const backends: ModelBackend[] = [];
  let server: Awaited<ReturnType<typeof serveApp>>;
  let client: OpenAI;
  /** What the scripted model writes for a request; `undefined` lets it sample. */
  let script: ((request: GenerateRequest) => string | undefined) | undefined;
  /** The last request the scripted model saw. */
  let seen: GenerateRequest | undefined;

  beforeAll(async () => {
    backends.push(await loadTestBackend({ modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 }));
    backends.push(
      await loadTestBackend({
        modelPath: testModelPath("tiny-qwen3moe.gguf"),
        contextTokens: 1024,
        id: "scripted",
        script: (request) => {
          seen = request;
          return script?.(request);
        },
      }),
    );
    server = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    client = server.client;
  });
  afterAll(async () => {
    await server?.close();
    for (const backend of backends) await backend.dispose();
  });

  async function streamEvents(body: Record<string, unknown>): Promise<NamedEvent[]> {
    const response = await postJson(`${server.url}/v1/responses`, { ...body, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = parseNamedSse(await response.text());
    // Every event: type = the SSE event name, sequence numbers 0, 1, 2, …
    events.forEach((event, index) => {
      expect(event.data.type).toBe(event.event);
      expect(event.data.sequence_number).toBe(index);
    });
    return events;
  }

  it("D18: a streamed answer has every lifecycle event in order, and response.completed holds the full output", async () => {
    script = () => "Tokyo.";
    const events = await streamEvents({
      model: "scripted",
      input: "What is the capital of Japan? One word.",
      max_output_tokens: 32,
      reasoning: { effort: "none" },
    });
    const types = events.map((event) => event.event);
    const deltaCount = types.filter((type) => type === "response.output_text.delta").length;
    expect(deltaCount).toBeGreaterThan(0);
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      ...Array(deltaCount).fill("response.output_text.delta"),
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const created = events[0]!.data.response;
    const added = events[2]!.data;
    expect(added.item).toMatchObject({ type: "message", role: "assistant" });
    const deltas = events.filter((event) => event.event === "response.output_text.delta");
    for (const delta of deltas) expect(delta.data).toMatchObject({ item_id: added.item.id, output_index: 0, content_index: 0 });
    const text = deltas.map((delta) => delta.data.delta).join("");
    expect(text).toBe("Tokyo.");
    expect(events.find((event) => event.event === "response.output_text.done")!.data.text).toBe(text);
    const completed = events.at(-1)!.data.response;
    expect(completed).toMatchObject({ id: created.id, object: "response", model: "scripted", status: "completed" });
    expect(completed.output).toHaveLength(1);
    expect(completed.output[0]).toMatchObject({ id: added.item.id, type: "message", content: [{ type: "output_text", text }] });
    expect(completed.usage.input_tokens).toBeGreaterThan(0);
    expect(completed.usage.output_tokens).toBeGreaterThan(0);
    expect(completed.usage.total_tokens).toBe(completed.usage.input_tokens + completed.usage.output_tokens);

    // The non-streamed call returns the same structure, through the official client.
    const whole = await client.responses.create({
      model: "scripted",
      input: "What is the capital of Japan? One word.",
      max_output_tokens: 32,
      reasoning: { effort: "none" },
    });
    expect(whole).toMatchObject({ object: "response", status: "completed", model: "scripted" });
    expect(whole.id).toMatch(/^resp_/);
    expect(whole.output_text).toBe("Tokyo.");
    expect(whole.output.map((item) => item.type)).toEqual(["message"]);
    expect(whole.usage).toMatchObject({
      input_tokens_details: { cached_tokens: expect.any(Number) },
      output_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it("streams through the client's stream: true iterator and the responses.stream helper", async () => {
    script = () => "Hello there.";
    const stream = await client.responses.create({ model: "scripted", input: "Hi", stream: true, reasoning: { effort: "none" } });
    const types: string[] = [];
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.completed") final = event.response;
    }
    expect(types[0]).toBe("response.created");
    expect(final?.output[0]).toMatchObject({ type: "message", content: [{ text: "Hello there." }] });

    const helper = client.responses.stream({ model: "scripted", input: "Hi", reasoning: { effort: "none" } });
    let snapshot = "";
    helper.on("response.output_text.delta", (event) => {
      snapshot = event.snapshot;
    });
    const response = await helper.finalResponse();
    expect(response.output_text).toBe("Hello there.");
    expect(snapshot).toBe("Hello there.");
  });

  it("max_output_tokens cuts a response: status incomplete with incomplete_details, response.incomplete when streamed", async () => {
    script = undefined;
    const whole = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Tell a story.",
      max_output_tokens: 4,
      reasoning: { effort: "none" },
    });
    expect(whole.status).toBe("incomplete");
    expect(whole.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(whole.usage?.output_tokens).toBe(4);
    const events = await streamEvents({
      model: "tiny-qwen3moe",
      input: "Tell a story.",
      max_output_tokens: 4,
      reasoning: { effort: "none" },
    });
    expect(events.at(-1)!.event).toBe("response.incomplete");
    expect(events.at(-1)!.data.response).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
    expect(events.at(-2)!.data.item).toMatchObject({ type: "message", status: "incomplete" });
  });

  it("D22: effort none gives no reasoning item; low and high think first (a reasoning item before the message), as on chat completions", async () => {
    script = undefined;
    const off = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Reply with ONLY: [1,3]",
      reasoning: { effort: "none" },
      max_output_tokens: 8,
    });
    expect(off.output.map((item) => item.type)).toEqual(["message"]);
    expect(off.usage?.output_tokens_details.reasoning_tokens).toBe(0);
    expect(off.reasoning?.effort).toBe("none");
    const minimal = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Hi",
      reasoning: { effort: "minimal" },
      max_output_tokens: 4,
    });
    expect(minimal.output.map((item) => item.type)).toEqual(["message"]);

    for (const effort of ["low", "high"] as const) {
      // A random-weight model never closes its thought: all of max_output_tokens is reasoning (its own item).
      const on = await client.responses.create({
        model: "tiny-qwen3moe",
        input: "Reply with ONLY: [1,3]",
        reasoning: { effort },
        max_output_tokens: 6,
      });
      expect(on.output[0]!.type).toBe("reasoning");
      expect(on.usage?.output_tokens_details.reasoning_tokens).toBe(6);
      expect(on.reasoning?.effort).toBe(effort);
      // The same effort on chat completions thinks the same way.
      const chat = (await client.chat.completions.create({
        model: "tiny-qwen3moe",
        messages: [{ role: "user", content: "Reply with ONLY: [1,3]" }],
        reasoning_effort: effort,
        max_completion_tokens: 6,
      })) as OpenAI.ChatCompletion & { usage: { completion_tokens_details: { reasoning_tokens: number } } };
      expect(chat.usage.completion_tokens_details.reasoning_tokens).toBe(6);
    }
    const chatOff = await client.chat.completions.create({
      model: "tiny-qwen3moe",
      messages: [{ role: "user", content: "Hi" }],
      reasoning_effort: "minimal",
      max_completion_tokens: 4,
    });
    expect(chatOff.usage?.completion_tokens_details?.reasoning_tokens ?? 0).toBe(0);

    // Thought then answer (scripted): the reasoning item and its events come before the message's.
    script = (request) => (request.thinking?.enabled === true ? "<think>\nThe user wants a list.\n</think>\n\n[1,3]" : undefined);
    const events = await streamEvents({
      model: "scripted",
      input: "Reply with ONLY: [1,3]",
      reasoning: { effort: "low", summary: "auto" },
    });
    const added = events.filter((event) => event.event === "response.output_item.added").map((event) => event.data.item.type);
    expect(added).toEqual(["reasoning", "message"]);
    const lastReasoning = events.findLastIndex((event) => event.event.startsWith("response.reasoning_text"));
    const firstMessage = events.findIndex((event) => event.event === "response.output_item.added" && event.data.item.type === "message");
    expect(lastReasoning).toBeLessThan(firstMessage);
    const completed = events.at(-1)!.data.response;
    expect(completed.output[0]).toMatchObject({ type: "reasoning", summary: [], content: [{ type: "reasoning_text" }] });
    expect(completed.output[0].content[0].text.trim()).toBe("The user wants a list.");
    expect(completed.output[1]).toMatchObject({ type: "message", content: [{ text: "[1,3]" }] });
    expect(completed.reasoning).toEqual({ effort: "low", summary: "auto" });

    // The Chat Completions spelling is read too; an unknown effort is a 400 naming reasoning.effort.
    const topLevel = await postJson(`${server.url}/v1/responses`, {
      model: "tiny-qwen3moe",
      input: "Hi",
      reasoning_effort: "none",
      max_output_tokens: 2,
    });
    expect(((await topLevel.json()) as OpenAI.Responses.Response).output[0]!.type).toBe("message");
    const bad = await client.responses
      .create({ model: "tiny-qwen3moe", input: "Hi", reasoning: { effort: "extreme" as "low" } })
      .catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({ status: 400, param: "reasoning.effort", code: "invalid_request" });
  });

  it("D21: text.format json_schema constrains the message (random weights), is echoed, and the streamed deltas form the same JSON", async () => {
    script = undefined;
    const format = {
      type: "json_schema" as const,
      name: "capital",
      strict: true,
      schema: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false },
    };
    const whole = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Give the capital of France.",
      text: { format },
      reasoning: { effort: "none" },
      temperature: 0,
    });
    const value = JSON.parse(whole.output_text) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(["city"]);
    expect(typeof value.city).toBe("string");
    expect(whole.text?.format).toMatchObject({ type: "json_schema", name: "capital" });

    const events = await streamEvents({
      model: "tiny-qwen3moe",
      input: "Give the capital of France.",
      text: { format },
      reasoning: { effort: "none" },
      temperature: 0,
    });
    const streamed = events
      .filter((event) => event.event === "response.output_text.delta")
      .map((event) => event.data.delta)
      .join("");
    expect(Object.keys(JSON.parse(streamed) as object)).toEqual(["city"]);

    const object = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "A JSON object, please.",
      text: { format: { type: "json_object" } },
      reasoning: { effort: "none" },
      temperature: 0,
      max_output_tokens: 24,
    });
    if (object.status === "completed") expect(JSON.parse(object.output_text)).toBeTypeOf("object");
    expect(object.text?.format).toEqual({ type: "json_object" });

    // With reasoning on, the thought is free and the message holds the JSON (scripted words).
    script = () => '<think>\nParis is the capital.\n</think>\n\n{"city": "Paris"}';
    const thought = await client.responses.create({
      model: "scripted",
      input: "Give the capital of France.",
      text: { format },
      reasoning: { effort: "low" },
    });
    expect(thought.output.map((item) => item.type)).toEqual(["reasoning", "message"]);
    expect(JSON.parse(thought.output_text)).toEqual({ city: "Paris" });
  });

  it("responses.parse with zodTextFormat (zod/v4) parses the structured answer", async () => {
    script = () => '{"city": "Paris", "population": 2102650}';
    // z.number(), not .int(): zod 4 adds minimum/maximum to integers, which the structured-output work of issue 18
    // teaches the grammar; this test is about the Responses side of parse.
    const Capital = z.object({ city: z.string(), population: z.number() });
    const parsed = await client.responses.parse({
      model: "scripted",
      input: "Give the capital of France.",
      text: { format: zodTextFormat(Capital, "capital") },
      reasoning: { effort: "none" },
    });
    expect(parsed.output_parsed).toEqual({ city: "Paris", population: 2102650 });
  });

  it("D24: a forced tool call streams as a function_call item (no markup in text), and a follow-up with its output gives a message", async () => {
    script = () => '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "Boston"}}\n</tool_call>';
    const body = {
      model: "scripted",
      input: "What's the weather in Boston?",
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_current_weather" },
      reasoning: { effort: "none" },
    };
    const events = await streamEvents(body);
    const textDeltas = events.filter((event) => event.event === "response.output_text.delta").map((event) => event.data.delta as string);
    for (const delta of textDeltas) expect(delta).not.toMatch(/<tool_call>|<function=|\[TOOL_CALLS\]/);
    const added = events.find((event) => event.event === "response.output_item.added" && event.data.item.type === "function_call")!;
    expect(added.data.item).toMatchObject({ name: "get_current_weather", arguments: "", call_id: expect.stringMatching(/\S/) });
    const argumentDeltas = events
      .filter((event) => event.event === "response.function_call_arguments.delta")
      .map((event) => event.data.delta as string)
      .join("");
    const done = events.find((event) => event.event === "response.function_call_arguments.done")!;
    expect(done.data.arguments).toBe(argumentDeltas);
    expect(JSON.parse(argumentDeltas)).toEqual({ location: "Boston" });
    const itemDone = events.findIndex((event) => event.event === "response.output_item.done" && event.data.item.type === "function_call");
    expect(itemDone).toBeGreaterThan(events.indexOf(done));
    const completed = events.at(-1)!.data.response;
    expect(completed.status).toBe("completed");
    const call = completed.output.find((item: { type: string }) => item.type === "function_call");
    expect(call).toMatchObject({ id: added.data.item.id, call_id: added.data.item.call_id, name: "get_current_weather" });

    // Not streamed: the same item.
    const whole = await client.responses.create(body as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    const wholeCall = whole.output.find((item) => item.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
    expect(JSON.parse(wholeCall.arguments)).toEqual({ location: "Boston" });

    // The follow-up sends the call and its output back (D20): a normal message.
    script = (request) => {
      const messages = messagesOf(request);
      const tool = messages.find((message) => message.role === "tool");
      const assistant = messages.find((message) => message.role === "assistant");
      return tool?.role === "tool" &&
        tool.toolCallId === wholeCall.call_id &&
        assistant?.role === "assistant" &&
        assistant.toolCalls?.[0]?.name === "get_current_weather"
        ? "It is sunny in Boston."
        : "I lost the tool result.";
    };
    const followUp = await client.responses.create({
      model: "scripted",
      tools: [weatherTool],
      reasoning: { effort: "none" },
      input: [
        { role: "user", content: "What's the weather in Boston?" },
        { type: "function_call", call_id: wholeCall.call_id, name: wholeCall.name, arguments: wholeCall.arguments },
        { type: "function_call_output", call_id: wholeCall.call_id, output: '{"sky": "sunny"}' },
      ],
    });
    expect(followUp.output.map((item) => item.type)).toEqual(["message"]);
    expect(followUp.output_text).toBe("It is sunny in Boston.");
  });

  it("D24: forced tool_choice is grammar-constrained on random weights, and allowed_tools in mode required too", async () => {
    script = undefined;
    const forced = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "What's the weather in Boston?",
      tools: [weatherTool],
      tool_choice: { type: "function", name: "get_current_weather" },
      reasoning: { effort: "none" },
      temperature: 0,
    });
    const call = forced.output.find((item) => item.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call.name).toBe("get_current_weather");
    expect(typeof (JSON.parse(call.arguments) as { location: unknown }).location).toBe("string");
    const allowed = await client.responses.create({
      model: "tiny-qwen3moe",
      input: "Weather?",
      tools: [weatherTool, { type: "function", name: "other", parameters: { type: "object", properties: {} }, strict: false }],
      tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "get_current_weather" }] },
      reasoning: { effort: "none" },
      temperature: 0,
    });
    expect(allowed.output.filter((item) => item.type === "function_call").map((item) => (item as { name: string }).name)).toContain(
      "get_current_weather",
    );
  });

  it("previous_response_id continues a conversation: the items are carried over, the instructions are not", async () => {
    script = (request) => {
      const messages = messagesOf(request);
      const system = messages.find((message) => message.role === "system");
      if (lastUser(request) === "My name is Ada.") return system?.text === "Be terse." ? "Hello Ada." : "no instructions";
      const remembers = messages.some((message) => message.role === "user" && message.text === "My name is Ada.");
      const answered = messages.some((message) => message.role === "assistant" && message.text === "Hello Ada.");
      return `${remembers && answered ? "Ada" : "unknown"}${system === undefined ? "" : ` (system: ${system.text})`}`;
    };
    const first = await client.responses.create({
      model: "scripted",
      instructions: "Be terse.",
      input: "My name is Ada.",
      reasoning: { effort: "none" },
    });
    expect(first.output_text).toBe("Hello Ada.");
    expect(first.instructions).toBe("Be terse.");
    const second = await client.responses.create({
      model: "scripted",
      previous_response_id: first.id,
      input: "What is my name?",
      reasoning: { effort: "none" },
    });
    expect(second.output_text).toBe("Ada");
    expect(second.previous_response_id).toBe(first.id);
    // A third turn with its own instructions, streamed, continues the second.
    const third = client.responses.stream({
      model: "scripted",
      previous_response_id: second.id,
      instructions: "New rules.",
      input: "And again?",
      reasoning: { effort: "none" },
    });
    expect((await third.finalResponse()).output_text).toBe("Ada (system: New rules.)");

    // An item_reference resolves among the previous response's items.
    const userItemId = (await client.responses.inputItems.list(first.id)).data.find((item) => item.type === "message")!.id;
    script = (request) => (messagesOf(request).filter((message) => message.text === "My name is Ada.").length === 2 ? "twice" : "once");
    const referenced = await client.responses.create({
      model: "scripted",
      previous_response_id: first.id,
      input: [{ type: "item_reference", id: userItemId }],
      reasoning: { effort: "none" },
    });
    expect(referenced.output_text).toBe("twice");
    const unknown = await client.responses
      .create({ model: "scripted", input: [{ type: "item_reference", id: "msg_nope" }] })
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ status: 400, param: "input[0].id" });
  });

  it("retrieves, lists input items, deletes; store: false keeps nothing; unknown ids are 404", async () => {
    script = () => "Stored.";
    const created = await client.responses.create({
      model: "scripted",
      input: "Keep this.",
      metadata: { topic: "test" },
      reasoning: { effort: "none" },
    });
    expect(created.store).toBe(true);
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, status: "completed", metadata: { topic: "test" } });
    expect(retrieved.output).toEqual(created.output);
    const items = await client.responses.inputItems.list(created.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({ type: "message", role: "user", content: "Keep this." });
    const refused = await fetch(`${server.url}/v1/responses/${created.id}?stream=true`);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { param: "stream" } });
    expect(await client.responses.delete(created.id)).toEqual({ id: created.id, object: "response", deleted: true });
    const again = await client.responses.retrieve(created.id).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(OpenAI.NotFoundError);

    expect((await fetch(`${server.url}/v1/responses/${created.id}`, { method: "DELETE" })).status).toBe(404);

    const unstored = await client.responses.create({
      model: "scripted",
      input: "Forget this.",
      store: false,
      reasoning: { effort: "none" },
    });
    expect(unstored.store).toBe(false);
    expect(await client.responses.retrieve(unstored.id).catch((error: unknown) => error)).toBeInstanceOf(OpenAI.NotFoundError);
    const continued = await client.responses
      .create({ model: "scripted", previous_response_id: unstored.id, input: "Again?" })
      .catch((error: unknown) => error);
    expect(continued).toMatchObject({ status: 400, param: "previous_response_id" });
  });

  it("accepts what agents send and refuses what it cannot serve, naming the field", async () => {
    script = (request) => `tools: ${request.tools?.definitions.map((tool) => tool.name).join(",") ?? "none"}`;
    // Roles, content parts and tool kinds beyond the basic ones: hosted tools are dropped, reasoning items dropped.
    const accepted = await client.responses.create({
      model: "scripted",
      instructions: "You are a coding agent.",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Sandbox: read-only." }] },
        { type: "message", role: "system", content: "Be careful." },
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: null } as never,
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Earlier answer.", annotations: [] }] } as never,
        { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }] },
      ],
      tools: [{ type: "web_search" }, weatherTool, { type: "custom", name: "apply_patch" } as never, { type: "local_shell" } as never],
      tool_choice: "auto",
      parallel_tool_calls: false,
      reasoning: { effort: "none", summary: "auto" },
      text: { verbosity: "low" },
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "abc",
      safety_identifier: "user-1",
      truncation: "auto",
      service_tier: "auto",
      user: "me",
    });
    expect(accepted.output_text).toBe("tools: get_current_weather");
    expect(messagesOf(seen!)[0]).toEqual({ role: "system", text: "You are a coding agent.\n\nSandbox: read-only.\n\nBe careful." });
    expect(accepted).toMatchObject({ prompt_cache_key: "abc", safety_identifier: "user-1", user: "me", parallel_tool_calls: false });

    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "data:," }] }] }, 400, "input[0].content[0]"],
      [{ input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] }, 400, "input[0].content[0]"],
      [{ input: "Hi", background: true }, 400, "background"],
      [{ input: "Hi", tools: [{ type: "web_search" }], tool_choice: { type: "web_search" } }, 400, "tool_choice"],
      [{ input: "Hi", tools: [weatherTool], tool_choice: { type: "function", name: "nope" } }, 400, "tool_choice.name"],
      [{ input: "Hi", tools: [{ type: "web_search" }], tool_choice: "required" }, 400, "tool_choice"],
      [{ input: [{ role: "tool", content: "x" }] }, 400, "input[0].role"],
      [{ input: [{ type: "computer_call_output", call_id: "c" }] }, 400, "input[0]"],
      [{ input: "Hi", text: { format: { type: "xml" } } }, 400, "text.format.type"],
      [{ input: "Hi", max_output_tokens: 0 }, 400, "max_output_tokens"],
      [{}, 400, "input"],
    ];
    for (const [body, status, param] of refusals) {
      const response = await postJson(`${server.url}/v1/responses`, { model: "scripted", ...body });
      const error = (await response.json()) as { error: { param: string; type: string; message: string } };
      expect([response.status, error.error.param], JSON.stringify(body)).toEqual([status, param]);
      expect(error.error.type).toBe("invalid_request_error");
    }
    const schema = await postJson(`${server.url}/v1/responses`, {
      model: "scripted",
      input: "Hi",
      tools: [{ type: "web_search" }, { ...weatherTool, parameters: { type: "object", properties: { a: { type: "nonsense" } } } }],
    });
    expect(schema.status).toBe(400);
    expect(((await schema.json()) as { error: { param: string } }).error.param).toBe("tools[1].parameters");
  });

  it("a failure after the first byte ends the stream with error and response.failed events", async () => {
    // The scripted answer breaks its JSON schema: the serving layer's check fails the generation mid-stream.
    script = () => "not json";
    const events = await streamEvents({
      model: "scripted",
      input: "JSON please",
      reasoning: { effort: "none" },
      text: { format: { type: "json_schema", name: "x", schema: { type: "object" } } },
    });
    const last = events.slice(-2);
    expect(last.map((event) => event.event)).toEqual(["error", "response.failed"]);
    expect(last[0]!.data).toMatchObject({ code: "invalid_model_output", message: expect.any(String) });
    expect(last[1]!.data.response).toMatchObject({ status: "failed", error: { code: "invalid_model_output" } });
    expect(events[0]!.event).toBe("response.created");
  });
});
