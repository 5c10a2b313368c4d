import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI, { type APIError } from "openai";
import { pino } from "pino";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, parseSse, postJson, serveApp } from "../helpers/server.js";

const T_WEATHER: OpenAI.ChatCompletionTool = {
  type: "function",
  function: { name: "get_weather", parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] } },
};
const T_DATE: OpenAI.ChatCompletionTool = {
  type: "function",
  function: { name: "get_current_date", parameters: { type: "object", properties: {} } },
};
const T_TIME: OpenAI.ChatCompletionTool = {
  type: "function",
  function: { name: "get_current_time", parameters: { type: "object", properties: {} } },
};
const T_SQUARE: OpenAI.ChatCompletionTool = {
  type: "function",
  function: {
    name: "square_the_number",
    parameters: { type: "object", properties: { input_num: { type: "number" } }, required: ["input_num"] },
  },
};
const noThinking = { enable_thinking: false } as {};

/** Reassembles streamed chunks: content and tool calls merged by `index`. */
function reassemble(chunks: OpenAI.ChatCompletionChunk[]) {
  let content = "";
  const calls: Array<{ id?: string; name?: string; arguments: string }> = [];
  const finishes: string[] = [];
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      content += choice.delta.content ?? "";
      for (const delta of choice.delta.tool_calls ?? []) {
        expect(Number.isInteger(delta.index)).toBe(true);
        const call = (calls[delta.index] ??= { arguments: "" });
        if (delta.id !== undefined) {
          expect(call.id).toBeUndefined();
          expect(delta.id.length).toBeGreaterThan(0);
          expect(delta.type).toBe("function");
          expect(delta.function?.name?.length).toBeGreaterThan(0);
          call.id = delta.id;
          call.name = delta.function!.name;
        } else {
          expect(delta.function).not.toHaveProperty("name");
        }
        call.arguments += delta.function?.arguments ?? "";
      }
      if (choice.finish_reason) finishes.push(choice.finish_reason);
    }
  }
  return { content, calls, finishes };
}

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)(
  "tool calls: Qwen JSON and XML forms, tool_choice, streaming deltas, tool loops (%s engine)",
  (engine) => {
    const backends: ModelBackend[] = [];
    let server: Awaited<ReturnType<typeof serveApp>>;
    let script: ((request: GenerateRequest) => string | undefined) | undefined;

    beforeAll(async () => {
      backends.push(await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 }));
      backends.push(
        await loadTestBackend({
          engine,
          modelPath: testModelPath("tiny-qwen3moe.gguf"),
          contextTokens: 1024,
          id: "scripted-qwen3",
          script: (request) => script?.(request),
        }),
      );
      backends.push(
        await loadTestBackend({
          engine,
          modelPath: testModelPath("tiny-qwen35moe.gguf"),
          contextTokens: 1024,
          id: "scripted-qwen35",
          script: (request) => script?.(request),
        }),
      );
      backends.push(await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen35moe.gguf"), contextTokens: 1024 }));
      server = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    });
    afterAll(async () => {
      await server?.close();
      for (const backend of backends) await backend.dispose();
    });

    async function streamed(body: Record<string, unknown>): Promise<OpenAI.ChatCompletionChunk[]> {
      const response = await postJson(`${server.url}/v1/chat/completions`, { ...body, stream: true });
      expect(response.status).toBe(200);
      return parseSse(await response.text()).filter((event) => event !== "[DONE]") as OpenAI.ChatCompletionChunk[];
    }

    it("C08: a tool with no parameters streams arguments '{}' and matches the non-streamed call", async () => {
      script = () => '<tool_call>\n{"name": "get_current_time", "arguments": {}}\n</tool_call>';
      const request = {
        model: "scripted-qwen3",
        temperature: 0,
        messages: [{ role: "user" as const, content: "What time is it?" }],
        tools: [T_TIME],
        ...noThinking,
      };
      const whole = await server.client.chat.completions.create(request);
      const call = whole.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function).toEqual({ name: "get_current_time", arguments: "{}" });
      expect(whole.choices[0]!.finish_reason).toBe("tool_calls");
      const { calls, finishes } = reassemble(await streamed(request));
      expect(calls).toHaveLength(1);
      expect(JSON.parse(calls[0]!.arguments)).toEqual({});
      expect(calls[0]!.name).toBe("get_current_time");
      expect(finishes).toEqual(["tool_calls"]);
    });

    it("C09: the Qwen3.5 / Coder XML form becomes tool_calls with typed arguments, no markup in content", async () => {
      script = () => "<tool_call>\n<function=square_the_number>\n<parameter=input_num>\n1024\n</parameter>\n</function>\n</tool_call>";
      const response = await server.client.chat.completions.create({
        model: "scripted-qwen35",
        messages: [{ role: "user", content: "Square 1024 using the tool." }],
        tools: [T_SQUARE],
        ...noThinking,
      });
      const message = response.choices[0]!.message;
      expect(message.tool_calls).toHaveLength(1);
      const call = message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function.name).toBe("square_the_number");
      expect(JSON.parse(call.function.arguments)).toEqual({ input_num: 1024 });
      expect(message.content ?? "").not.toMatch(/<tool_call>|<function=|<parameter=/);
      expect(response.choices[0]!.finish_reason).toBe("tool_calls");
    });

    it("C04/C10: two calls in one turn stream with indexes 0 and 1, distinct ids, no think tags; parallel_tool_calls false keeps one", async () => {
      script = () =>
        '<tool_call>\n{"name": "get_current_date", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "get_current_time", "arguments": {}}\n</tool_call>';
      const request = {
        model: "scripted-qwen3",
        temperature: 0,
        tool_choice: "auto",
        messages: [
          { role: "system", content: "/no_think" },
          { role: "user", content: "What are today's date and the current time?" },
        ],
        tools: [T_DATE, T_TIME],
      };
      const chunks = await streamed(request);
      const { calls, finishes, content } = reassemble(chunks);
      expect(calls.map((call) => call.name)).toEqual(["get_current_date", "get_current_time"]);
      expect(new Set(calls.map((call) => call.id)).size).toBe(2);
      for (const call of calls) expect(JSON.parse(call.arguments)).toEqual({});
      expect(finishes).toEqual(["tool_calls"]);
      expect(JSON.stringify(chunks)).not.toMatch(/<\/?think>/);
      expect(content).not.toMatch(/tool_call/);

      const whole = (await (await postJson(`${server.url}/v1/chat/completions`, request)).json()) as OpenAI.ChatCompletion;
      expect(
        whole.choices[0]!.message.tool_calls!.map((call) => (call as OpenAI.ChatCompletionMessageFunctionToolCall).function.name),
      ).toEqual(["get_current_date", "get_current_time"]);

      const single = (await (
        await postJson(`${server.url}/v1/chat/completions`, { ...request, parallel_tool_calls: false })
      ).json()) as OpenAI.ChatCompletion;
      expect(single.choices[0]!.message.tool_calls).toHaveLength(1);
    });

    it("C04: the SDK's streaming helper completes and reports the call", async () => {
      script = () => '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Boston"}}\n</tool_call>';
      const runner = server.client.chat.completions.stream({
        model: "scripted-qwen3",
        messages: [{ role: "user", content: "What's the weather in Boston?" }],
        tools: [T_WEATHER],
        ...noThinking,
      });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function.name).toBe("get_weather");
      expect(JSON.parse(call.function.arguments)).toEqual({ location: "Boston" });
    });

    it("C11: tool_choice is enforced while decoding on a random-weight model (10 runs each at temperature 1)", async () => {
      for (let run = 0; run < 10; run++) {
        const named = await server.client.chat.completions.create({
          model: "tiny-qwen3moe",
          temperature: 1,
          max_tokens: 64,
          messages: [{ role: "user", content: "Say hello." }],
          tools: [T_TIME],
          tool_choice: { type: "function", function: { name: "get_current_time" } },
        });
        expect(named.choices[0]!.finish_reason).toBe("tool_calls");
        for (const call of named.choices[0]!.message.tool_calls!)
          expect((call as OpenAI.ChatCompletionMessageFunctionToolCall).function.name).toBe("get_current_time");

        const none = await server.client.chat.completions.create({
          model: "tiny-qwen3moe",
          temperature: 1,
          // Seeded: unseeded, one run in three full test runs answered nothing (likely an end-of-turn token first, on
          // a random-weight model); the seeds make each run the same every time.
          seed: run,
          max_tokens: 16,
          messages: [{ role: "user", content: "What's the weather in Paris right now?" }],
          tools: [T_TIME, T_WEATHER],
          tool_choice: "none",
          ...noThinking,
        });
        expect(none.choices[0]!.message.tool_calls ?? []).toHaveLength(0);
        expect(["stop", "length"]).toContain(none.choices[0]!.finish_reason);
        expect(none.choices[0]!.message.content!.length).toBeGreaterThan(0);

        const required = await server.client.chat.completions.create({
          model: "tiny-qwen3moe",
          temperature: 1,
          max_tokens: 64,
          messages: [{ role: "user", content: "Say hello." }],
          tools: [T_TIME],
          tool_choice: "required",
        });
        expect(required.choices[0]!.message.tool_calls!.length).toBeGreaterThanOrEqual(1);
      }
    });

    it("Qwen3.5 (XML form): a forced call is decoded under an XML grammar and its arguments match the schema (5 runs at temperature 1)", async () => {
      for (let run = 0; run < 5; run++) {
        const response = await postJson(`${server.url}/v1/chat/completions`, {
          model: "tiny-qwen35moe",
          temperature: 1,
          max_tokens: 64,
          messages: [{ role: "user", content: "Square 1024 using the tool." }],
          tools: [T_SQUARE, T_TIME],
          tool_choice: run % 2 === 0 ? { type: "function", function: { name: "square_the_number" } } : "required",
        });
        const body = (await response.json()) as OpenAI.ChatCompletion;
        expect(body.choices[0]!.finish_reason).toBe("tool_calls");
        const call = body.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
        if (call.function.name === "square_the_number")
          expect(typeof (JSON.parse(call.function.arguments) as { input_num: unknown }).input_num).toBe("number");
        else expect(JSON.parse(call.function.arguments)).toEqual({});
      }
    });

    it("C11: a named tool_choice that is not in tools is a 400 naming tool_choice", async () => {
      const error = (await server.client.chat.completions
        .create({
          model: "tiny-qwen3moe",
          messages: [{ role: "user", content: "Hi" }],
          tools: [T_TIME],
          tool_choice: { type: "function", function: { name: "nope" } },
        })
        .catch((caught: unknown) => caught)) as APIError;
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.param).toBe("tool_choice");
    });

    it("feeds tool results back on the next turn, in the model's format, and runTools completes a loop", async () => {
      let lastPrompt: GenerateRequest | undefined;
      script = (request) => {
        lastPrompt = request;
        const messages = request.input.kind === "chat" ? request.input.messages : [];
        return messages.some((message) => message.role === "tool")
          ? "It is 12:00 in Paris."
          : '<tool_call>\n{"name": "get_current_time", "arguments": {}}\n</tool_call>';
      };
      const runner = server.client.chat.completions.runTools({
        model: "scripted-qwen3",
        messages: [{ role: "user", content: "What time is it?" }],
        tools: [
          {
            type: "function",
            function: {
              name: "get_current_time",
              description: "The current time",
              parameters: { type: "object", properties: {} },
              function: (_args: object) => ({ time: "12:00" }),
              parse: (input: string) => JSON.parse(input) as object,
            },
          },
        ],
        ...noThinking,
      });
      expect(await runner.finalContent()).toBe("It is 12:00 in Paris.");
      const tool = lastPrompt!.input.kind === "chat" ? lastPrompt!.input.messages.find((message) => message.role === "tool") : undefined;
      expect(tool).toMatchObject({ role: "tool", text: JSON.stringify({ time: "12:00" }) });
    });

    it("refuses tools whose schema can neither be enforced nor checked, naming the parameter", async () => {
      const response = await postJson(`${server.url}/v1/chat/completions`, {
        model: "tiny-qwen3moe",
        messages: [{ role: "user", content: "Hi" }],
        tools: [
          {
            type: "function",
            // A pattern is enforced since issue 18; `not` can neither be enforced nor checked.
            function: { name: "f", parameters: { type: "object", properties: { code: { type: "string", not: { const: "A" } } } } },
          },
        ],
      });
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { param: string; message: string } };
      expect(error.param).toBe("tools[0].function.parameters");
      expect(error.message).toContain("'not' at #/properties/code/not");
    });
  },
);
