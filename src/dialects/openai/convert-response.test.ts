import { describe, expect, it } from "vitest";
import type { FinishReason } from "../../spec/index.js";
import { toWireFinishReason, toWireLogprobs, toWireToolCall, toWireUsage } from "./convert-response.js";

describe("toWireUsage", () => {
  it("adds total_tokens and the details objects", () => {
    expect(toWireUsage({ promptTokens: 12, completionTokens: 30, cachedPromptTokens: 8, reasoningTokens: 20 })).toEqual({
      prompt_tokens: 12,
      completion_tokens: 30,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 8 },
      completion_tokens_details: { reasoning_tokens: 20 },
    });
  });

  it("sends unknown cached and reasoning counts as 0, as OpenAI does", () => {
    expect(toWireUsage({ promptTokens: 1, completionTokens: 2 })).toEqual({
      prompt_tokens: 1,
      completion_tokens: 2,
      total_tokens: 3,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });
});

describe("toWireFinishReason", () => {
  it.each<[FinishReason, string]>([
    ["stop", "stop"],
    ["length", "length"],
    ["tool_calls", "tool_calls"],
    ["abort", "stop"],
  ])("%s → %s", (reason, wire) => {
    expect(toWireFinishReason(reason)).toBe(wire);
  });
});

describe("toWireLogprobs", () => {
  it("maps each token with its bytes and its alternatives, in order", () => {
    expect(
      toWireLogprobs([
        {
          token: "Hi",
          logprob: -0.1,
          bytes: [72, 105],
          top: [
            { token: "Hi", logprob: -0.1, bytes: [72, 105] },
            { token: "Yo", logprob: -2.5, bytes: [89, 111] },
          ],
        },
        { token: "!", logprob: -9999, bytes: [33], top: [] },
      ]),
    ).toEqual([
      {
        token: "Hi",
        logprob: -0.1,
        bytes: [72, 105],
        top_logprobs: [
          { token: "Hi", logprob: -0.1, bytes: [72, 105] },
          { token: "Yo", logprob: -2.5, bytes: [89, 111] },
        ],
      },
      { token: "!", logprob: -9999, bytes: [33], top_logprobs: [] },
    ]);
  });

  it("maps no tokens to an empty list", () => {
    expect(toWireLogprobs([])).toEqual([]);
  });
});

describe("toWireToolCall", () => {
  it("wraps a call in OpenAI's function shape, arguments kept as the JSON string", () => {
    expect(toWireToolCall({ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' })).toEqual({
      id: "call_1",
      type: "function",
      function: { name: "get_weather", arguments: '{"city":"Paris"}' },
    });
  });
});
