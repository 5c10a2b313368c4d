import { Ollama } from "ollama";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ChatMessage, GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, postJson, serveApp } from "../helpers/server.js";

// Case ids in test names (D12…) are the dialect cases of ../shared/cases/dialect-cases.md.
const model = "scripted-qwen3";
type Json = Record<string, any>;

const toolCall = '<tool_call>\n{"name": "get_temperature", "arguments": {"city": "Paris"}}\n</tool_call>';
const summaryJson = '{"summary": "Python programming"}';

/** What the scripted model writes, by the last user message and whether it thinks (the prompt opens a thought). */
function script(request: GenerateRequest): string | undefined {
  if (request.input.kind !== "chat") return undefined;
  const last = request.input.messages.filter((message): message is ChatMessage & { role: "user" } => message.role === "user").at(-1);
  const thinking = request.thinking?.enabled === true;
  if (last?.text.includes("temperature in Paris")) return thinking ? `I should call the tool.</think>\n\n${toolCall}` : toolCall;
  if (last?.text.includes("Generate JSON")) return thinking ? `The post is about Python.</think>\n\n${summaryJson}` : summaryJson;
  if (last?.text.includes("Break the schema")) return '{"summary": 5}';
  return undefined;
}

const tools = [
  {
    type: "function",
    function: {
      name: "get_temperature",
      description: "Get the temperature for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];
const summarySchema = { type: "object", properties: { summary: { type: "string" } }, required: ["summary"] };
const lines = (text: string): Json[] =>
  text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Json);

describe.skipIf(!hasTestModels).each(testEngines)(
  "Ollama's /api/chat and /api/generate with a scripted Qwen3 (tools, thinking, format) (%s engine)",
  (engine) => {
    let backend: ModelBackend;
    let server: Awaited<ReturnType<typeof serveApp>>;
    let ollama: Ollama;

    beforeAll(async () => {
      backend = await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024, id: model, script });
      server = await serveApp({ models: createStaticModelRegistry([backend]), logger: pino({ level: "silent" }) });
      ollama = new Ollama({ host: server.url });
    });
    afterAll(async () => {
      await server?.close();
      await backend?.dispose();
    });

    it("D12: a streamed tool call comes in a done:false object with object arguments; one done:true object follows, without calls", async () => {
      const response = await postJson(`${server.url}/api/chat`, {
        model,
        stream: true,
        think: false,
        messages: [{ role: "user", content: "What is the temperature in Paris? Call the tool." }],
        tools,
      });
      const objects = lines(await response.text());
      const withCalls = objects.filter((object) => object.message.tool_calls !== undefined);
      expect(withCalls).toHaveLength(1);
      expect(withCalls[0]).toMatchObject({
        done: false,
        message: { role: "assistant", tool_calls: [{ function: { name: "get_temperature", arguments: { city: "Paris" } } }] },
      });
      const finals = objects.filter((object) => object.done === true);
      expect(finals).toHaveLength(1);
      expect(objects.at(-1)).toBe(finals[0]);
      expect(finals[0]!.message.tool_calls).toBeUndefined();
      expect(finals[0]).toMatchObject({ done_reason: "stop" });
      expect(objects.indexOf(withCalls[0]!)).toBeLessThan(objects.indexOf(finals[0]!));
    });

    it("D12: the client's non-streamed chat carries the same call; tool history (object arguments, tool_name) is accepted", async () => {
      const response = await ollama.chat({
        model,
        think: false,
        messages: [{ role: "user", content: "What is the temperature in Paris? Call the tool." }],
        tools,
      });
      expect(response.message.tool_calls).toEqual([
        expect.objectContaining({ function: expect.objectContaining({ name: "get_temperature", arguments: { city: "Paris" } }) }),
      ]);
      const followUp = await ollama.chat({
        model,
        think: false,
        messages: [
          { role: "user", content: "What is the temperature in Paris? Call the tool." },
          { role: "assistant", content: "", tool_calls: [{ function: { name: "get_temperature", arguments: { city: "Paris" } } }] },
          { role: "tool", tool_name: "get_temperature", content: "22°C" } as never,
          { role: "user", content: "Thanks. Say it in one word." },
        ],
        tools,
        options: { num_predict: 4 },
      });
      expect(followUp.done).toBe(true);
      expect(followUp.prompt_eval_count).toBeGreaterThan(response.prompt_eval_count);
    });

    it("D14: format with think:true keeps the thought apart and the answer valid JSON, on generate and chat, streamed too", async () => {
      const prompt = "Generate JSON with a summary for: # Test Post\nThis is about Python programming.";
      const generated = (await (
        await postJson(`${server.url}/api/generate`, { model, stream: false, think: true, prompt, format: summarySchema })
      ).json()) as Json;
      expect(generated.thinking).toBe("The post is about Python.");
      expect(JSON.parse(generated.response)).toEqual({ summary: "Python programming" });
      expect(generated.response).not.toMatch(/<\/?think>/);
      const chatted = await ollama.chat({ model, think: true, messages: [{ role: "user", content: prompt }], format: summarySchema });
      expect(chatted.message.thinking).toBe("The post is about Python.");
      expect(JSON.parse(chatted.message.content)).toEqual({ summary: "Python programming" });
      let thinking = "";
      let content = "";
      for await (const part of await ollama.chat({
        model,
        think: true,
        stream: true,
        messages: [{ role: "user", content: prompt }],
        format: summarySchema,
      })) {
        thinking += part.message.thinking ?? "";
        content += part.message.content;
      }
      expect(thinking).toBe("The post is about Python.");
      expect(JSON.parse(content)).toEqual({ summary: "Python programming" });
      const plain = (await (
        await postJson(`${server.url}/api/generate`, { model, stream: false, think: false, prompt, format: summarySchema })
      ).json()) as Json;
      expect(plain.thinking).toBeUndefined();
      expect(JSON.parse(plain.response)).toEqual({ summary: "Python programming" });
    });

    it("D16: an error after the stream started is a last {error} line, the status staying 200; the client throws it", async () => {
      const response = await postJson(`${server.url}/api/chat`, {
        model,
        think: false,
        messages: [{ role: "user", content: "Break the schema." }],
        format: summarySchema,
      });
      expect(response.status).toBe(200);
      const objects = lines(await response.text());
      expect(objects.length).toBeGreaterThan(1);
      expect(objects.at(-1)).toEqual({ error: expect.any(String) });
      expect(objects.some((object) => object.done === true)).toBe(false);
      const stream = await ollama.chat({
        model,
        think: false,
        stream: true,
        messages: [{ role: "user", content: "Break the schema." }],
        format: summarySchema,
      });
      const error = await (async () => {
        for await (const _part of stream);
      })().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      // Not streamed: a 500 answer in Ollama's shape.
      const collected = await postJson(`${server.url}/api/chat`, {
        model,
        stream: false,
        think: false,
        messages: [{ role: "user", content: "Break the schema." }],
        format: summarySchema,
      });
      expect(collected.status).toBe(500);
      expect(await collected.json()).toEqual({ error: expect.any(String) });
    });
  },
);
