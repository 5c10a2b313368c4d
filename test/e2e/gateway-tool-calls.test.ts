import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killHard, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { answerAsAsked, chunkEvent, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

/**
 * Case C05 (docs/compat-cases.md): a gateway in front of an upstream that streams a tool call in one chunk and its
 * finish in a later chunk that carries no tool call, with `finish_reason: "stop"` (Ollama's native stream does this,
 * and LiteLLM's `ollama_chat` passed the `stop` on: BerriAI/litellm #35663). Strict clients run tools only on
 * `tool_calls`, so they dropped the call. The upstream here is a small real HTTP server (`startStandInUpstream`, the
 * pattern of C07's test in gateway-faults.test.ts) that answers exactly so, streamed, and, not streamed, with a whole
 * answer that carries `tool_calls` and `finish_reason: "stop"`; the gateway is the built CLI's
 * `moestro serve --upstream` (`npm run build` first), called with the official OpenAI and Anthropic clients.
 */
describe("gateway: a tool call whose upstream finishes with stop (C05, stand-in upstream)", () => {
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
      },
    },
    { type: "function", function: { name: "get_current_time", parameters: { type: "object", properties: {} } } },
  ];
  /** The arguments the stand-in gives each tool. */
  const argumentsOf: Record<string, unknown> = { get_weather: { location: "Boston" }, get_current_time: {} };
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What's the weather in Boston?" }];
  let upstream: StandInUpstream;
  let gateway: ServeProcess;
  let home: string;
  let client: OpenAI;
  let gatewayUrl: string;

  beforeAll(async () => {
    upstream = await startStandInUpstream(["ollama-style", "finish-twice"], ({ body }, response) => {
      // The tool named by a named tool_choice, else get_weather (as a model asked about Boston's weather would).
      const choice = body.tool_choice as { function?: { name?: string } } | string | undefined;
      const name = typeof choice === "object" && choice.function?.name !== undefined ? choice.function.name : "get_weather";
      const sse =
        chunkEvent({ role: "assistant", content: "" }) +
        // The whole call in one chunk, with no finish reason (Ollama sends a call whole, in a `done: false` chunk)...
        chunkEvent(
          {
            tool_calls: [
              { index: 0, id: "call_standin", type: "function", function: { name, arguments: JSON.stringify(argumentsOf[name]) } },
            ],
          },
          // (`finish-twice` says tool_calls there, then `stop` again below.)
          body.model === "finish-twice" ? "tool_calls" : null,
        ) +
        // ...then its done marker in a chunk of its own, with no tool call and `stop`.
        chunkEvent({}, "stop") +
        usageEvent(21, 9) +
        "data: [DONE]\n\n";
      // Not streamed: one chat.completion whose message has the call, and `finish_reason: "stop"`.
      answerAsAsked(body, response, sse);
    });
    home = mkdtempSync(path.join(os.tmpdir(), "moestro-c05-"));
    gateway = startServe(["--upstream", `ollama=${upstream.url}`, "--port", "0"], { MOESTRO_HOME: home });
    gatewayUrl = await gateway.url;
    client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    if (gateway !== undefined) await killHard(gateway.child);
    await upstream?.close();
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  /** A streamed call's chunks, the finish reasons of choice 0 in order, and its calls reconstructed by `index`. */
  const streamed = async (toolChoice?: OpenAI.ChatCompletionToolChoiceOption, model = "ollama-style") => {
    const stream = await client.chat.completions.create({
      model,
      messages,
      tools,
      temperature: 0,
      stream: true,
      ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const ofChoice = chunks.map((chunk) => chunk.choices.find((choice) => choice.index === 0)).filter((choice) => choice !== undefined);
    const calls: Array<{ name: string; arguments: string }> = [];
    for (const choice of ofChoice)
      for (const fragment of choice.delta.tool_calls ?? []) {
        const call = (calls[fragment.index] ??= { name: "", arguments: "" });
        call.name += fragment.function?.name ?? "";
        call.arguments += fragment.function?.arguments ?? "";
      }
    return {
      finishReasons: ofChoice.map((choice) => choice.finish_reason).filter((reason) => reason !== null),
      lastFinishReason: ofChoice.at(-1)?.finish_reason,
      calls: calls.map((call) => ({ name: call.name, arguments: JSON.parse(call.arguments) as unknown })),
    };
  };

  /** The same request not streamed: its finish reason and calls. */
  const whole = async (toolChoice?: OpenAI.ChatCompletionToolChoiceOption) => {
    const completion = await client.chat.completions.create({
      model: "ollama-style",
      messages,
      tools,
      temperature: 0,
      ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    });
    const choice = completion.choices[0]!;
    return {
      finishReason: choice.finish_reason,
      calls: (choice.message.tool_calls ?? []).map((call) => ({
        name: call.type === "function" ? call.function.name : "",
        arguments: JSON.parse(call.type === "function" ? call.function.arguments : "null") as unknown,
      })),
    };
  };

  it("C05: a streamed call whose upstream finishes with stop in a later chunk ends with tool_calls, as the whole answer does", async () => {
    const stream = await streamed();
    // One finish reason for the choice, on its last chunk, and it is tool_calls.
    expect(stream.finishReasons).toEqual(["tool_calls"]);
    expect(stream.lastFinishReason).toBe("tool_calls");
    expect(stream.calls).toEqual([{ name: "get_weather", arguments: { location: "Boston" } }]);
    // The upstream was asked to stream (and its answer ended with `stop` in a chunk of its own).
    expect(upstream.posts.at(-1)!.body).toMatchObject({ stream: true });
    // An upstream that says tool_calls with the call and `stop` again after it: still one finish, tool_calls.
    expect(await streamed(undefined, "finish-twice")).toEqual(stream);
    // Not streamed: sent non-streamed, answered with tool_calls and `stop`; the client gets tool_calls, and the same call.
    const answer = await whole();
    expect(upstream.posts.at(-1)!.body).not.toHaveProperty("stream");
    expect(answer).toEqual({ finishReason: "tool_calls", calls: stream.calls });
    // The SDK's streaming helper, which strict agent loops build on, sees the same.
    const final = await client.chat.completions.stream({ model: "ollama-style", messages, tools, temperature: 0 }).finalChatCompletion();
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
    expect(final.choices[0]!.message.tool_calls?.map((call) => (call.type === "function" ? call.function.name : ""))).toEqual([
      "get_weather",
    ]);
  });

  it("C05: the same holds for a named tool_choice, streamed and not", async () => {
    const named: OpenAI.ChatCompletionToolChoiceOption = { type: "function", function: { name: "get_current_time" } };
    const stream = await streamed(named);
    expect(upstream.posts.at(-1)!.body).toMatchObject({ tool_choice: named });
    expect(stream.finishReasons).toEqual(["tool_calls"]);
    expect(stream.lastFinishReason).toBe("tool_calls");
    expect(stream.calls).toEqual([{ name: "get_current_time", arguments: {} }]);
    expect(await whole(named)).toEqual({ finishReason: "tool_calls", calls: stream.calls });
    // `required` too.
    const required = await streamed("required");
    expect(required.finishReasons).toEqual(["tool_calls"]);
    expect((await whole("required")).finishReason).toBe("tool_calls");
  });

  it("C05: through the Anthropic Messages API the call ends with stop_reason tool_use, streamed and not", async () => {
    const anthropic = new Anthropic({ baseURL: gatewayUrl, apiKey: "unused", maxRetries: 0 });
    const anthropicTools: Anthropic.Tool[] = tools.map((tool) => ({
      name: tool.type === "function" ? tool.function.name : "",
      input_schema: (tool.type === "function" ? tool.function.parameters : undefined) as Anthropic.Tool.InputSchema,
    }));
    const request = {
      model: "ollama-style",
      max_tokens: 64,
      messages: [{ role: "user" as const, content: "What's the weather in Boston?" }],
      tools: anthropicTools,
    };
    const toolUses = (message: Anthropic.Message) =>
      message.content.filter((block) => block.type === "tool_use").map((block) => ({ name: block.name, input: block.input }));
    const message = await anthropic.messages.create(request);
    expect(message.stop_reason).toBe("tool_use");
    expect(toolUses(message)).toEqual([{ name: "get_weather", input: { location: "Boston" } }]);
    const stream = anthropic.messages.stream(request);
    const deltas: Array<string | null> = [];
    stream.on("streamEvent", (event) => {
      if (event.type === "message_delta") deltas.push(event.delta.stop_reason);
    });
    const final = await stream.finalMessage();
    expect(deltas).toEqual(["tool_use"]);
    expect(final.stop_reason).toBe("tool_use");
    expect(toolUses(final)).toEqual(toolUses(message));
    // A named tool (Anthropic's `{"type": "tool"}`), streamed.
    const named = await anthropic.messages.stream({ ...request, tool_choice: { type: "tool", name: "get_current_time" } }).finalMessage();
    expect(named.stop_reason).toBe("tool_use");
    expect(toolUses(named)).toEqual([{ name: "get_current_time", input: {} }]);
  });
});
