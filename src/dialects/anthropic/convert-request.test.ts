import { describe, expect, it } from "vitest";
import type { MoestroError } from "../../errors/index.js";
import { parseMessagesRequest, toMessagesGenerateRequest } from "./convert-request.js";
import { createThinkingSigner } from "./thinking-signature.js";

const signer = createThinkingSigner();
const convert = (body: Record<string, unknown>) =>
  toMessagesGenerateRequest(parseMessagesRequest({ model: "m", max_tokens: 64, ...body }), signer.verify);
const refusal = (body: Record<string, unknown>): MoestroError => {
  try {
    convert(body);
  } catch (error) {
    return error as MoestroError;
  }
  throw new Error("not refused");
};
const user = (content: unknown) => ({ role: "user", content });

describe("toMessagesGenerateRequest", () => {
  it("D01: merges system entries of messages after the top-level system; string and blocks give the same prompt", () => {
    const messages = [user("Say hi."), { role: "system", content: [{ type: "text", text: "Agents: none." }] }, user("Again.")];
    const fromBlocks = convert({ system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }], messages });
    const fromString = convert({ system: "You are terse.", messages });
    expect(fromBlocks.request.input).toEqual(fromString.request.input);
    expect(fromBlocks.request.input).toEqual({
      kind: "chat",
      messages: [
        { role: "system", text: "You are terse.\n\nAgents: none." },
        { role: "user", text: "Say hi." },
        { role: "user", text: "Again." },
      ],
    });
    expect(refusal({ messages: [{ role: "tool", content: "x" }] })).toMatchObject({ code: "invalid_request", param: "messages[0].role" });
  });

  it("drops Claude Code's per-request billing line from the system prompt", () => {
    const converted = convert({
      system: [
        { type: "text", text: "x-anthropic-billing-header: cc_version=2.1.45; cch=1a2b3;" },
        { type: "text", text: "You are Claude Code." },
      ],
      messages: [user("hi")],
    });
    expect((converted.request.input as { messages: unknown[] }).messages[0]).toEqual({ role: "system", text: "You are Claude Code." });
  });

  it("keeps custom tools, drops Anthropic's own tool types, and maps each tool_choice (D02)", () => {
    const tools = [
      { type: "web_search_20250305", name: "web_search" },
      { name: "get_time", input_schema: { type: "object", properties: {} } },
      { type: "custom", name: "get_weather", description: "Weather", input_schema: { type: "object" } },
    ];
    const auto = convert({ tools, messages: [user("?")] });
    expect(auto.request.tools).toEqual({
      definitions: [
        { name: "get_time", description: undefined, parameters: { type: "object", properties: {} } },
        { name: "get_weather", description: "Weather", parameters: { type: "object" } },
      ],
      choice: { type: "auto" },
      parallel: true,
    });
    expect(auto.toolIndexes).toEqual([1, 2]);
    expect(auto.droppedTools).toEqual(["web_search"]);
    const choice = (toolChoice: unknown) => convert({ tools, tool_choice: toolChoice, messages: [user("?")] }).request.tools;
    expect(choice({ type: "none" })).toMatchObject({ choice: { type: "none" } });
    expect(choice({ type: "any", disable_parallel_tool_use: true })).toMatchObject({ choice: { type: "required" }, parallel: false });
    expect(choice({ type: "tool", name: "get_time" })).toMatchObject({ choice: { type: "function", name: "get_time" } });
    expect(refusal({ tools, tool_choice: { type: "tool", name: "web_search" }, messages: [user("?")] })).toMatchObject({
      param: "tool_choice.name",
    });
    expect(refusal({ tools, tool_choice: { type: "tool", name: "nope" }, messages: [user("?")] }).status).toBe(400);
    expect(refusal({ tool_choice: { type: "any" }, messages: [user("?")] }).status).toBe(400);
    expect(refusal({ tools, tool_choice: { type: "maybe" }, messages: [user("?")] }).message).toContain("'auto', 'any', 'tool' or 'none'");
    expect(refusal({ tools: [{ name: "no_schema" }], messages: [user("?")] })).toMatchObject({ param: "tools[0].input_schema" });
  });

  it("D06: thinking is opt-in, with Anthropic's budget limits", () => {
    const thinking = (value: unknown, maxTokens = 4096) =>
      convert({ max_tokens: maxTokens, thinking: value, messages: [user("?")] }).request.thinking;
    expect(thinking(undefined)).toEqual({ enabled: false });
    expect(thinking({ type: "disabled" })).toEqual({ enabled: false });
    expect(thinking({ type: "adaptive" })).toEqual({ enabled: true });
    expect(thinking({ type: "enabled", budget_tokens: 1024 })).toEqual({ enabled: true, budgetTokens: 1024 });
    expect(() => thinking({ type: "enabled", budget_tokens: 1023 })).toThrow(/at least 1024/);
    expect(() => thinking({ type: "enabled", budget_tokens: 4096 })).toThrow(/less than max_tokens/);
    expect(() => thinking({ type: "enabled" })).toThrow(/budget_tokens/);
  });

  it("turns tool_use and tool_result blocks into calls and tool messages, and drops thoughts sent back", () => {
    const signed = { type: "thinking", thinking: "hm", signature: signer.sign("hm") };
    const converted = convert({
      messages: [
        user("Weather?"),
        {
          role: "assistant",
          content: [
            signed,
            { type: "redacted_thinking", data: "x" },
            { type: "thinking", thinking: "edited", signature: signer.sign("hm") },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
          ],
        },
        user([
          { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "Rain" }] },
          { type: "text", text: "And?" },
        ]),
      ],
    });
    expect((converted.request.input as { messages: unknown[] }).messages.slice(1)).toEqual([
      { role: "assistant", text: "", toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
      { role: "tool", toolCallId: "toolu_1", text: "Rain" },
      { role: "user", text: "And?" },
    ]);
    expect(converted.thinkingBlocks).toEqual({ signed: 1, foreign: 1 });
  });

  it("refuses images, documents, unknown blocks and a final assistant message, naming them", () => {
    expect(refusal({ messages: [user([{ type: "image", source: {} }])] })).toMatchObject({
      code: "unsupported_parameter",
      param: "messages[0].content[0]",
    });
    expect(refusal({ messages: [user([{ type: "document", source: {} }])] }).message).toContain("'document'");
    expect(refusal({ messages: [user([{ type: "hologram" }])] }).message).toContain("'hologram'");
    expect(refusal({ messages: [user("Hi"), { role: "assistant", content: "He" }] })).toMatchObject({ param: "messages[1]" });
    expect(refusal({ max_tokens: 0, messages: [user("Hi")] })).toMatchObject({ param: "max_tokens" });
    expect(refusal({ max_tokens: undefined, messages: [user("Hi")] })).toMatchObject({ param: "max_tokens" });
  });

  it("accepts and ignores fields it does not use", () => {
    const converted = convert({
      messages: [user("Hi")],
      metadata: { user_id: "u" },
      service_tier: "auto",
      container: "c",
      mcp_servers: [],
      context_management: { edits: [] },
      output_config: { effort: "high" },
      stop_sequences: ["END", ""],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 20,
    });
    expect(converted.request).toMatchObject({ maxTokens: 64, stop: ["END"], sampling: { temperature: 0.5, topP: 0.9, topK: 20 } });
    expect(converted.request.responseFormat).toBeUndefined();
  });
});

describe("createThinkingSigner", () => {
  it("verifies its own signatures only", () => {
    const signature = signer.sign("thought");
    expect(signature).toMatch(/^moestro1\.[\w-]+$/);
    expect(signer.verify({ thinking: "thought", signature })).toBe(true);
    expect(signer.verify({ thinking: "thought!", signature })).toBe(false);
    expect(createThinkingSigner().verify({ thinking: "thought", signature })).toBe(false);
    expect(signer.verify({ thinking: "thought", signature: "EqQBCgIYAhIM" })).toBe(false);
  });
});
