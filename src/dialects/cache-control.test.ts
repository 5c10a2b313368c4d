import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { parseMessagesRequest, toMessagesGenerateRequest } from "./anthropic/convert-request.js";
import { toWireUsage as toAnthropicUsage } from "./anthropic/convert-response.js";
import { parseChatCompletionRequest, toChatGenerateRequest } from "./openai/convert-request.js";
import { toWireUsage as toOpenAiUsage } from "./openai/convert-response.js";

const ephemeral = { type: "ephemeral" };
const anthropic = (body: Record<string, unknown>) =>
  toMessagesGenerateRequest(parseMessagesRequest({ model: "m", max_tokens: 64, ...body }), () => false).request;
const openai = (body: Record<string, unknown>) => toChatGenerateRequest(parseChatCompletionRequest({ model: "m", ...body }));

describe("cache_control on Anthropic messages", () => {
  it("turns each marked block into the chat prefix up to and including it, system blocks first", () => {
    const request = anthropic({
      system: [
        { type: "text", text: "You are terse." },
        { type: "text", text: "Long manual.", cache_control: ephemeral },
      ],
      messages: [
        { role: "user", content: [{ type: "text", text: "Q1" }] },
        { role: "assistant", content: [{ type: "text", text: "A1", cache_control: ephemeral }] },
        {
          role: "user",
          content: [
            { type: "text", text: "Q2", cache_control: { type: "ephemeral", ttl: "5m" } },
            { type: "text", text: "more" },
          ],
        },
      ],
    });
    expect(request.cacheBreakpoints).toEqual([
      [{ role: "system", text: "You are terse.\n\nLong manual." }],
      [
        { role: "system", text: "You are terse.\n\nLong manual." },
        { role: "user", text: "Q1" },
        { role: "assistant", text: "A1" },
      ],
      [
        { role: "system", text: "You are terse.\n\nLong manual." },
        { role: "user", text: "Q1" },
        { role: "assistant", text: "A1" },
        { role: "user", text: "Q2" },
      ],
    ]);
    expect(anthropic({ messages: [{ role: "user", content: "Hi" }] }).cacheBreakpoints).toBeUndefined();
  });

  it("refuses a marker of another type and more than 4 markers, naming the field", () => {
    expect(() =>
      anthropic({ messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: { type: "persistent" } }] }] }),
    ).toThrow(expect.objectContaining({ code: "invalid_request", param: "messages[0].content[0].cache_control.type" }));
    const five = Array.from({ length: 5 }, (_, index) => ({ type: "text", text: `${index}`, cache_control: ephemeral }));
    expect(() => anthropic({ messages: [{ role: "user", content: five }] })).toThrow(MoestroError);
    expect(() => anthropic({ messages: [{ role: "user", content: five }] })).toThrow(/maximum of 4 blocks with cache_control/);
  });

  it("reports what a marked request read and created apart from input_tokens, and the implicit cache otherwise", () => {
    const usage = { promptTokens: 500, completionTokens: 7, cachedPromptTokens: 480 };
    expect(toAnthropicUsage({ ...usage, cacheReadInputTokens: 300, cacheCreationInputTokens: 150 })).toEqual({
      input_tokens: 50,
      output_tokens: 7,
      cache_read_input_tokens: 300,
      cache_creation_input_tokens: 150,
      cache_creation: { ephemeral_5m_input_tokens: 150, ephemeral_1h_input_tokens: 0 },
    });
    expect(toAnthropicUsage(usage)).toEqual({
      input_tokens: 20,
      output_tokens: 7,
      cache_read_input_tokens: 480,
      cache_creation_input_tokens: 0,
    });
  });
});

describe("cache_control on OpenAI chat completions (Model Studio's spelling)", () => {
  it("accepts it on a content part and on a message, system and developer messages merged as the whole request is", () => {
    const request = openai({
      messages: [
        { role: "system", content: [{ type: "text", text: "Manual.", cache_control: ephemeral }] },
        { role: "user", content: "Q1", cache_control: ephemeral },
        {
          role: "assistant",
          content: [{ type: "text", text: "A1", cache_control: ephemeral }],
          tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: "c1", content: "42" },
      ],
    });
    expect(request.cacheBreakpoints).toEqual([
      [{ role: "system", text: "Manual." }],
      [
        { role: "system", text: "Manual." },
        { role: "user", text: "Q1" },
      ],
      [
        { role: "system", text: "Manual." },
        { role: "user", text: "Q1" },
        { role: "assistant", text: "A1" },
      ],
    ]);
    expect(openai({ messages: [{ role: "user", content: "Hi" }] }).cacheBreakpoints).toBeUndefined();
  });

  it("refuses a marker that is not an object with type 'ephemeral'", () => {
    expect(() => openai({ messages: [{ role: "user", content: "x", cache_control: "yes" }] })).toThrow(
      expect.objectContaining({ param: "messages[0].cache_control" }),
    );
  });

  it("reports the explicit cache in usage.prompt_tokens_details as Model Studio does, the implicit cache otherwise", () => {
    const usage = { promptTokens: 500, completionTokens: 7, cachedPromptTokens: 480, reasoningTokens: 0 };
    expect(toOpenAiUsage({ ...usage, cacheReadInputTokens: 300, cacheCreationInputTokens: 150 }).prompt_tokens_details).toEqual({
      cached_tokens: 300,
      cache_creation_input_tokens: 150,
      cache_creation: { ephemeral_5m_input_tokens: 150 },
      cache_type: "ephemeral",
    });
    expect(toOpenAiUsage(usage).prompt_tokens_details).toEqual({ cached_tokens: 480 });
  });
});
