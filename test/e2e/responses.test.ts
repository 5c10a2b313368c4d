import { describe, expect, it } from "vitest";
import OpenAI from "openai";
import { zodTextFormat } from "openai/helpers/zod";
import { z } from "zod/v4";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels } from "../helpers/models.js";
import { messagesOf, useResponsesServer, weatherTool } from "../helpers/responses.js";
import { postJson } from "../helpers/server.js";

// Case ids in test names (D18…) are the dialect cases of ../shared/cases/dialect-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)(
  "the Responses API with the official openai client: events, reasoning, formats, tools (%s engine)",
  (engine) => {
    const state = useResponsesServer({ engine });

    it("D18: a streamed answer has every lifecycle event in order, and response.completed holds the full output", async () => {
      state.script = () => "Tokyo.";
      const events = await state.streamEvents({
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

      // The non-streamed call returns the same structure, through the official state.client.
      const whole = await state.client.responses.create({
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
      state.script = () => "Hello there.";
      const stream = await state.client.responses.create({ model: "scripted", input: "Hi", stream: true, reasoning: { effort: "none" } });
      const types: string[] = [];
      let final: OpenAI.Responses.Response | undefined;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === "response.completed") final = event.response;
      }
      expect(types[0]).toBe("response.created");
      expect(final?.output[0]).toMatchObject({ type: "message", content: [{ text: "Hello there." }] });

      const helper = state.client.responses.stream({ model: "scripted", input: "Hi", reasoning: { effort: "none" } });
      let snapshot = "";
      helper.on("response.output_text.delta", (event) => {
        snapshot = event.snapshot;
      });
      const response = await helper.finalResponse();
      expect(response.output_text).toBe("Hello there.");
      expect(snapshot).toBe("Hello there.");
    });

    it("max_output_tokens cuts a response: status incomplete with incomplete_details, response.incomplete when streamed", async () => {
      // Scripted words: the random-weight model sometimes writes its end-of-turn token within 4 tokens.
      state.script = () => "Once upon a time there was a long story about a small dragon.";
      const whole = await state.client.responses.create({
        model: "scripted",
        input: "Tell a story.",
        max_output_tokens: 4,
        reasoning: { effort: "none" },
      });
      expect(whole.status).toBe("incomplete");
      expect(whole.incomplete_details).toEqual({ reason: "max_output_tokens" });
      expect(whole.usage?.output_tokens).toBe(4);
      const events = await state.streamEvents({
        model: "scripted",
        input: "Tell a story.",
        max_output_tokens: 4,
        reasoning: { effort: "none" },
      });
      expect(events.at(-1)!.event).toBe("response.incomplete");
      expect(events.at(-1)!.data.response).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
      expect(events.at(-2)!.data.item).toMatchObject({ type: "message", status: "incomplete" });
    });

    it("D22: effort none gives no reasoning item; low and high think first (a reasoning item before the message), as on chat completions", async () => {
      state.script = undefined;
      const off = await state.client.responses.create({
        model: "tiny-qwen3moe",
        input: "Reply with ONLY: [1,3]",
        reasoning: { effort: "none" },
        max_output_tokens: 8,
      });
      expect(off.output.map((item) => item.type)).toEqual(["message"]);
      expect(off.usage?.output_tokens_details.reasoning_tokens).toBe(0);
      expect(off.reasoning?.effort).toBe("none");
      const minimal = await state.client.responses.create({
        model: "tiny-qwen3moe",
        input: "Hi",
        reasoning: { effort: "minimal" },
        max_output_tokens: 4,
      });
      expect(minimal.output.map((item) => item.type)).toEqual(["message"]);

      for (const effort of ["low", "high"] as const) {
        // A random-weight model thinks first (it seldom closes its thought within 6 tokens, so often nothing else follows).
        const on = await state.client.responses.create({
          model: "tiny-qwen3moe",
          input: "Reply with ONLY: [1,3]",
          reasoning: { effort },
          max_output_tokens: 6,
        });
        expect(on.output[0]!.type).toBe("reasoning");
        expect(on.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
        expect(on.reasoning?.effort).toBe(effort);
        // The same effort on chat completions thinks the same way.
        const chat = (await state.client.chat.completions.create({
          model: "tiny-qwen3moe",
          messages: [{ role: "user", content: "Reply with ONLY: [1,3]" }],
          reasoning_effort: effort,
          max_completion_tokens: 6,
        })) as OpenAI.ChatCompletion & { usage: { completion_tokens_details: { reasoning_tokens: number } } };
        expect(chat.usage.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
      }
      const chatOff = await state.client.chat.completions.create({
        model: "tiny-qwen3moe",
        messages: [{ role: "user", content: "Hi" }],
        reasoning_effort: "minimal",
        max_completion_tokens: 4,
      });
      expect(chatOff.usage?.completion_tokens_details?.reasoning_tokens ?? 0).toBe(0);

      // Thought then answer (scripted): the reasoning item and its events come before the message's.
      state.script = (request) => (request.thinking?.enabled === true ? "<think>\nThe user wants a list.\n</think>\n\n[1,3]" : undefined);
      const events = await state.streamEvents({
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
      const topLevel = await postJson(`${state.url}/v1/responses`, {
        model: "tiny-qwen3moe",
        input: "Hi",
        reasoning_effort: "none",
        max_output_tokens: 2,
      });
      expect(((await topLevel.json()) as OpenAI.Responses.Response).output[0]!.type).toBe("message");
      const bad = await state.client.responses
        .create({ model: "tiny-qwen3moe", input: "Hi", reasoning: { effort: "extreme" as "low" } })
        .catch((error: unknown) => error);
      expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
      expect(bad).toMatchObject({ status: 400, param: "reasoning.effort", code: "invalid_request" });
    });

    // The random-weight grammar runs are the slow ones: in-process only (the worker's grammars are covered on both engines
    // by tools.test.ts and structured-output.test.ts; here the dialect is what is tested, and it is the same).
    it.skipIf(engine !== "inproc")(
      "D21: text.format json_schema constrains the message (random weights), is echoed, and the streamed deltas form the same JSON",
      async () => {
        state.script = undefined;
        const format = {
          type: "json_schema" as const,
          name: "capital",
          strict: true,
          schema: {
            type: "object",
            properties: { city: { type: "string", maxLength: 8 } },
            required: ["city"],
            additionalProperties: false,
          },
        };
        const whole = await state.client.responses.create({
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

        const events = await state.streamEvents({
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

        const object = await state.client.responses.create({
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
        state.script = () => '<think>\nParis is the capital.\n</think>\n\n{"city": "Paris"}';
        const thought = await state.client.responses.create({
          model: "scripted",
          input: "Give the capital of France.",
          text: { format },
          reasoning: { effort: "low" },
        });
        expect(thought.output.map((item) => item.type)).toEqual(["reasoning", "message"]);
        expect(JSON.parse(thought.output_text)).toEqual({ city: "Paris" });
      },
    );

    it("responses.parse with zodTextFormat (zod/v4) parses the structured answer", async () => {
      state.script = () => '{"city": "Paris", "population": 2102650}';
      // z.number(), not .int(): zod 4 adds minimum/maximum to integers, which the structured-output work of issue 18
      // teaches the grammar; this test is about the Responses side of parse.
      const Capital = z.object({ city: z.string(), population: z.number() });
      const parsed = await state.client.responses.parse({
        model: "scripted",
        input: "Give the capital of France.",
        text: { format: zodTextFormat(Capital, "capital") },
        reasoning: { effort: "none" },
      });
      expect(parsed.output_parsed).toEqual({ city: "Paris", population: 2102650 });
    });

    it("D24: a forced tool call streams as a function_call item (no markup in text), and a follow-up with its output gives a message", async () => {
      state.script = () => '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "Boston"}}\n</tool_call>';
      const body = {
        model: "scripted",
        input: "What's the weather in Boston?",
        tools: [weatherTool],
        tool_choice: { type: "function", name: "get_current_weather" },
        reasoning: { effort: "none" },
      };
      const events = await state.streamEvents(body);
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
      const whole = await state.client.responses.create(body as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      const wholeCall = whole.output.find((item) => item.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
      expect(JSON.parse(wholeCall.arguments)).toEqual({ location: "Boston" });

      // The follow-up sends the call and its output back (D20): a normal message.
      state.script = (request) => {
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
      const followUp = await state.client.responses.create({
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
      // The same through previous_response_id: the call comes from the stored response, only its output is sent.
      const chained = await state.client.responses.create({
        model: "scripted",
        previous_response_id: whole.id,
        tools: [weatherTool],
        reasoning: { effort: "none" },
        input: [{ type: "function_call_output", call_id: wholeCall.call_id, output: '{"sky": "sunny"}' }],
      });
      expect(chained.output_text).toBe("It is sunny in Boston.");
    });

    it.skipIf(engine !== "inproc")(
      "D24: forced tool_choice is grammar-constrained on random weights, and allowed_tools in mode required too",
      async () => {
        state.script = undefined;
        const forced = await state.client.responses.create({
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
        const allowed = await state.client.responses.create({
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
      },
    );
  },
);
