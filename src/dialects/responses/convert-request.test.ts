import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import {
  inputItemsOf,
  parseResponseRequest,
  resolveItemReferences,
  thinkingFromEffort,
  toChatMessages,
  toResponseGenerateRequest,
} from "./convert-request.js";

const parse = (body: Record<string, unknown>) => parseResponseRequest({ model: "m", input: "Hi", ...body });
const paramOf = (index: number) => `input[${index}]`;
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MoestroError);
    return error as MoestroError;
  }
  throw new Error("expected a refusal");
};

describe("Responses requests", () => {
  it("a string input is one user message; items get ids; no input without previous_response_id is a 400", () => {
    const items = inputItemsOf(parse({}));
    expect(items).toEqual([{ type: "message", role: "user", content: "Hi", id: expect.stringMatching(/^msg_/) }]);
    expect(inputItemsOf(parse({ input: [{ type: "function_call_output", call_id: "c", output: "x" }] }))[0]!.id).toMatch(/^fco_/);
    expect(refusal(() => inputItemsOf(parse({ input: undefined }))).param).toBe("input");
    expect(inputItemsOf(parse({ input: [], previous_response_id: "resp_1" }))).toEqual([]);
  });

  it("merges instructions, system and developer messages into one leading system message; function calls join the assistant turn", () => {
    const messages = toChatMessages(
      "Rules.",
      [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Dev." }] },
        {
          role: "user",
          content: [
            { type: "input_text", text: "a" },
            { type: "input_text", text: "b" },
          ],
        },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me look." }] },
        { type: "function_call", call_id: "call_1", name: "f", arguments: '{"x":1}' },
        { type: "function_call", call_id: "call_2", name: "g", arguments: "{}" },
        { type: "reasoning", summary: [] },
        { type: "function_call_output", call_id: "call_1", output: [{ type: "input_text", text: "one" }] },
        { type: "function_call_output", call_id: "call_2", output: { ok: true } },
        { role: "system", content: "Late system." },
      ],
      paramOf,
    );
    expect(messages).toEqual([
      { role: "system", text: "Rules.\n\nDev.\n\nLate system." },
      { role: "user", text: "ab" },
      {
        role: "assistant",
        text: "Let me look.",
        toolCalls: [
          { id: "call_1", name: "f", arguments: '{"x":1}' },
          { id: "call_2", name: "g", arguments: "{}" },
        ],
      },
      { role: "tool", toolCallId: "call_1", text: "one" },
      { role: "tool", toolCallId: "call_2", text: '{"ok":true}' },
    ]);
  });

  it("refuses images, files, unknown roles and unknown item types, naming them", () => {
    const image = refusal(() => toChatMessages(undefined, [{ role: "user", content: [{ type: "input_image", image_url: "x" }] }], paramOf));
    expect([image.code, image.param]).toEqual(["unsupported_parameter", "input[0].content[0]"]);
    expect(refusal(() => toChatMessages(undefined, [{ role: "tool", content: "x" }], paramOf)).param).toBe("input[0].role");
    expect(refusal(() => toChatMessages(undefined, [{ type: "local_shell_call" }], paramOf)).param).toBe("input[0]");
    expect(refusal(() => toChatMessages(undefined, [{ type: "function_call", name: "f" }], paramOf)).param).toBe("input[0].call_id");
  });

  it("resolves item references among the known items, else 400", () => {
    const known = [{ type: "message", role: "user", content: "Earlier", id: "msg_1" }];
    expect(resolveItemReferences([{ type: "item_reference", id: "msg_1" }], known)).toEqual(known);
    expect(refusal(() => resolveItemReferences([{ type: "item_reference", id: "msg_2" }], known)).param).toBe("input[0].id");
  });

  it("maps reasoning.effort: none and minimal off, low to xhigh on, absent the model's default, unknown a 400", () => {
    expect(thinkingFromEffort(parse({}))).toBeUndefined();
    for (const effort of ["none", "minimal"]) expect(thinkingFromEffort(parse({ reasoning: { effort } }))).toBe(false);
    for (const effort of ["low", "medium", "high", "xhigh"]) expect(thinkingFromEffort(parse({ reasoning: { effort } }))).toBe(true);
    expect(thinkingFromEffort(parse({ reasoning_effort: "none" }))).toBe(false);
    expect(refusal(() => thinkingFromEffort(parse({ reasoning: { effort: "max" } }))).param).toBe("reasoning.effort");
    expect(refusal(() => thinkingFromEffort(parse({ reasoning_effort: "max" }))).param).toBe("reasoning_effort");
  });

  it("serves function tools, drops the others, and names tools by their index as sent", () => {
    const request = parse({
      tools: [
        { type: "web_search" },
        { type: "function", name: "f", parameters: { type: "object" }, strict: true },
        { type: "custom", name: "apply_patch" },
      ],
      tool_choice: { type: "function", name: "f" },
      parallel_tool_calls: false,
      text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true } },
      max_output_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
    });
    const { generateRequest, schemaParams } = toResponseGenerateRequest(request, []);
    expect(generateRequest.tools).toEqual({
      definitions: [{ name: "f", description: undefined, parameters: { type: "object" } }],
      choice: { type: "function", name: "f" },
      parallel: false,
    });
    expect(schemaParams.toolParameters(0)).toBe("tools[1].parameters");
    expect(schemaParams.responseFormat).toBe("text.format.schema");
    expect(generateRequest.responseFormat).toEqual({ type: "json_schema", name: "out", schema: { type: "object" } });
    expect(generateRequest).toMatchObject({ maxTokens: 7, sampling: { temperature: 0.5, topP: 0.9 }, stop: [] });
  });

  it("refuses a tool_choice naming a kind it cannot serve or a function that is not there; background; conversation", () => {
    const hosted = refusal(() =>
      toResponseGenerateRequest(parse({ tools: [{ type: "web_search" }], tool_choice: { type: "web_search" } }), []),
    );
    expect([hosted.code, hosted.param]).toEqual(["unsupported_parameter", "tool_choice"]);
    const missing = refusal(() =>
      toResponseGenerateRequest(parse({ tools: [{ type: "function", name: "f" }], tool_choice: { type: "function", name: "g" } }), []),
    );
    expect(missing.param).toBe("tool_choice.name");
    expect(refusal(() => toResponseGenerateRequest(parse({ tools: [{ type: "mcp" }], tool_choice: "required" }), [])).param).toBe(
      "tool_choice",
    );
    const badChoice = refusal(() => parse({ tool_choice: 7 }));
    expect([badChoice.param, badChoice.message]).toEqual([
      "tool_choice",
      expect.stringContaining("expected 'auto', 'none', 'required', or an object"),
    ]);
    expect(refusal(() => parse({ background: true })).param).toBe("background");
    expect(refusal(() => parse({ conversation: "conv_1" })).param).toBe("conversation");
    expect(refusal(() => parse({ prompt: { id: "pmpt_1" } })).param).toBe("prompt");
    expect(refusal(() => parse({ text: { format: { type: "xml" } } })).param).toBe("text.format.type");
  });
});
