import Anthropic, { type APIError } from "@anthropic-ai/sdk";
import { createAnthropic } from "@ai-sdk/anthropic";
import { generateText, jsonSchema, streamText, tool } from "ai";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ModelBackend } from "../../src/spec/index.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, postJson, serveApp } from "../helpers/server.js";
import { anthropicHeaders, checkSequence, greedy, parseEvents } from "../helpers/anthropic-sse.js";

describe.skipIf(!hasTestModels)("Anthropic Messages API (/v1/messages) errors, token counts, models and the Vercel ai SDK", () => {
  const backends: ModelBackend[] = [];
  let server: Awaited<ReturnType<typeof serveApp>>;
  let client: Anthropic;
  /** What the scripted model writes; `undefined` lets it sample. */
  let script: string | undefined;

  beforeAll(async () => {
    backends.push(await loadTestBackend({ modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 }));
    backends.push(
      await loadTestBackend({
        modelPath: testModelPath("tiny-qwen3moe.gguf"),
        contextTokens: 1024,
        id: "scripted-qwen3",
        script: () => script,
      }),
    );
    backends.push(await loadTestBackend({ modelPath: testModelPath("stories260K.gguf"), contextTokens: 1024 }));
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

  it("D08: errors are Anthropic's envelope with matching statuses", async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ model: "tiny-qwen3moe", max_tokens: 0, messages: [{ role: "user", content: "Hi" }] }, 400, "invalid_request_error"],
      [{ model: "tiny-qwen3moe", messages: [{ role: "user", content: "Hi" }] }, 400, "invalid_request_error"],
      [{ model: "no-such-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }, 404, "not_found_error"],
      [
        {
          model: "tiny-qwen3moe",
          max_tokens: 8,
          messages: [
            { role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }] },
          ],
        },
        400,
        "invalid_request_error",
      ],
      [
        {
          model: "tiny-qwen3moe",
          max_tokens: 8,
          messages: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hel" },
          ],
        },
        400,
        "invalid_request_error",
      ],
    ];
    for (const [body, status, type] of cases) {
      const response = await post("/v1/messages", body);
      expect(response.status).toBe(status);
      const error = (await response.json()) as { type: string; error: { type: string; message: string } };
      expect(error).toMatchObject({ type: "error", error: { type } });
      expect(error.error.message).not.toMatch(/\[object|ZodError|at .*\.ts/);
    }
    const image = (await (await post("/v1/messages", cases[3]![0])).json()) as { error: { message: string } };
    expect(image.error.message).toContain("messages[0].content[0]");
    const invalidJson = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...anthropicHeaders },
      body: "{oops",
    });
    expect(invalidJson.status).toBe(400);
    expect(await invalidJson.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const countError = await post("/v1/messages/count_tokens", { model: "no-such-model", messages: [{ role: "user", content: "Hi" }] });
    expect(countError.status).toBe(404);
    expect(await countError.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    const sdkError = await client.messages
      .create({ model: "tiny-qwen3moe", max_tokens: 0, messages: [{ role: "user", content: "Hi" }] })
      .catch((caught: unknown) => caught);
    expect(sdkError).toBeInstanceOf(Anthropic.BadRequestError);
    const notFound = await client.messages
      .create({ model: "no-such-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] })
      .catch((caught: unknown) => caught);
    expect(notFound).toBeInstanceOf(Anthropic.NotFoundError);
    expect((notFound as APIError).type).toBe("not_found_error");
  });

  it("messages.countTokens counts the rendered prompt: tools, system and thinking included", async () => {
    const base = { model: "tiny-qwen3moe", messages: [{ role: "user" as const, content: "What time is it?" }] };
    const plain = await client.messages.countTokens(base);
    const withSystem = await client.messages.countTokens({ ...base, system: "You are terse." });
    const withTools = await client.messages.countTokens({ ...base, tools: [getTime] });
    const thinking = await client.messages.countTokens({ ...base, thinking: { type: "enabled", budget_tokens: 1024 } });
    expect(plain.input_tokens).toBeGreaterThan(0);
    expect(withSystem.input_tokens).toBeGreaterThan(plain.input_tokens);
    expect(withTools.input_tokens).toBeGreaterThan(plain.input_tokens);
    // D02: with tool_choice none the model is still shown the tools (it may not call them).
    const withToolsNone = await client.messages.countTokens({ ...base, tools: [getTime], tool_choice: { type: "none" } });
    expect(withToolsNone.input_tokens).toBe(withTools.input_tokens);
    expect(thinking.input_tokens).not.toBe(plain.input_tokens);
    // The same prompt as the generation's own count.
    const message = await client.messages.create({ ...base, max_tokens: 1 });
    expect(message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0)).toBe(plain.input_tokens);
  });

  it("GET /v1/models answers Anthropic's list when the request carries anthropic-version, OpenAI's otherwise", async () => {
    const page = await client.models.list();
    expect(page.data.map((model) => model.id)).toEqual(["tiny-qwen3moe", "scripted-qwen3", "stories260K"]);
    expect(page.data[0]).toEqual({ type: "model", id: "tiny-qwen3moe", display_name: "tiny-qwen3moe", created_at: expect.any(String) });
    expect(Number.isNaN(Date.parse(page.data[0]!.created_at))).toBe(false);
    const raw = (await (await fetch(`${server.url}/v1/models`, { headers: anthropicHeaders })).json()) as Record<string, unknown>;
    expect(raw).toMatchObject({ has_more: false, first_id: "tiny-qwen3moe", last_id: "stories260K" });
    expect(await client.models.retrieve("stories260K")).toMatchObject({ type: "model", id: "stories260K" });
    const openAi = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string };
    expect(openAi.object).toBe("list");
  });

  const getTime: Anthropic.Tool = { name: "get_time", description: "Current time", input_schema: { type: "object", properties: {} } };
  const getWeather: Anthropic.Tool = {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: { type: "object", properties: { city: { type: "string", enum: ["Paris", "Oslo"] } }, required: ["city"] },
  };

  it("the Vercel ai SDK with @ai-sdk/anthropic: generateText and streamText, with a tool", async () => {
    const anthropic = createAnthropic({ baseURL: `${server.url}/v1`, apiKey: "unused" });
    script = "Hello there.";
    const generated = await generateText({ model: anthropic("scripted-qwen3"), prompt: "Say hello.", maxOutputTokens: 16, maxRetries: 0 });
    expect(generated.text).toBe("Hello there.");
    expect(generated.finishReason).toBe("stop");
    expect(generated.usage.inputTokens).toBeGreaterThan(0);
    const streamed = streamText({
      model: anthropic("scripted-qwen3"),
      system: "Be kind.",
      prompt: "Say hello.",
      maxOutputTokens: 16,
      maxRetries: 0,
    });
    expect(await streamed.text).toBe("Hello there.");
    expect(await streamed.finishReason).toBe("stop");
    const called = await generateText({
      model: anthropic("tiny-qwen3moe"),
      prompt: "Weather in Paris?",
      maxOutputTokens: 48,
      maxRetries: 0,
      tools: {
        get_weather: tool({
          description: "Weather for a city",
          inputSchema: jsonSchema<{ city: string }>(getWeather.input_schema as never),
        }),
      },
      toolChoice: { type: "tool", toolName: "get_weather" },
    });
    expect(called.toolCalls).toHaveLength(1);
    expect(called.toolCalls[0]!.toolName).toBe("get_weather");
    expect(typeof (called.toolCalls[0]!.input as { city: unknown }).city).toBe("string");
  });
});

describe.skipIf(!hasTestModels).each(testEngines)("Anthropic Messages API on the %s engine", (engine) => {
  let backend: ModelBackend;
  let server: Awaited<ReturnType<typeof serveApp>>;

  beforeAll(async () => {
    backend = await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 });
    server = await serveApp({ models: createStaticModelRegistry([backend]), logger: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await server?.close();
    await backend?.dispose();
  });

  it("streams the non-streamed answer in a clean event sequence, with a forced tool call", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
    const request = {
      model: "tiny-qwen3moe",
      max_tokens: 32,
      ...greedy,
      tools: [
        {
          name: "get_time",
          input_schema: { type: "object" as const, properties: { zone: { type: "string", enum: ["UTC", "CET"] } }, required: ["zone"] },
        },
      ],
      tool_choice: { type: "tool" as const, name: "get_time" },
      messages: [{ role: "user" as const, content: "Time?" }],
    };
    const whole = await client.messages.create(request);
    const response = await postJson(
      `${server.url}/v1/messages?beta=true`,
      { ...request, stream: true },
      { headers: { "content-type": "application/json", ...anthropicHeaders } },
    );
    const events = parseEvents(await response.text());
    checkSequence(events);
    const final = await client.messages.stream(request).finalMessage();
    expect(final.content.map((block) => block.type)).toEqual(whole.content.map((block) => block.type));
    expect((final.content.at(-1) as Anthropic.ToolUseBlock).input).toEqual((whole.content.at(-1) as Anthropic.ToolUseBlock).input);
    expect(whole.stop_reason).toBe("tool_use");
  });
});
