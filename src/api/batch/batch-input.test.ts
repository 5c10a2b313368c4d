import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { maxBatchLines, parseBatchInput } from "./batch-input.js";

const line = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [] }, ...fields });

describe("parseBatchInput", () => {
  it("reads OpenAI's batch input format, skipping empty lines and CRLF endings", () => {
    const lines = parseBatchInput(`${line()}\r\n\n${line({ custom_id: "b", url: "/v1/embeddings", body: { model: "m", input: "x" } })}\n`);
    expect(lines.map((entry) => [entry.custom_id, entry.url])).toEqual([
      ["a", "/v1/chat/completions"],
      ["b", "/v1/embeddings"],
    ]);
  });

  it.each([
    ["{", /Line 1 .* is not valid JSON/],
    ["[1]", /Line 1 .* is not a JSON object/],
    [line({ custom_id: "" }), /has no custom_id/],
    [line({ method: "GET" }), /only "POST" is supported/],
    [line({ url: "/v1/messages" }), /has url "\/v1\/messages"; supported: /],
    [line({ body: "x" }), /has no body object/],
    [line({ body: { messages: [] } }), /has no body.model/],
    [line({ body: { model: "m", stream: true } }), /stream: true/],
    [`${line()}\n\n${line()}`, /Line 3 .* repeats the custom_id 'a' of line 1/],
    ["\n \n", /holds no request/],
  ])("refuses %s with a 400 naming the line", (text, message) => {
    let error: unknown;
    try {
      parseBatchInput(text);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(MoestroError);
    expect((error as MoestroError).status).toBe(400);
    expect((error as MoestroError).param).toBe("file");
    expect((error as MoestroError).message).toMatch(message);
  });

  it("refuses more lines than OpenAI's limit", () => {
    const text = Array.from({ length: maxBatchLines + 1 }, (_, index) => line({ custom_id: `c${index}` })).join("\n");
    expect(() => parseBatchInput(text)).toThrow(/passes the limit of 50000 requests/);
  });
});
