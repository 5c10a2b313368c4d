import { describe, expect, it } from "vitest";
import { parseJson, parseJsonChunks } from "./parse-json.js";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

async function* chunksOf(bytes: Uint8Array, size: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) {
    if (failAfter !== undefined && offset >= failAfter) throw new Error("upload aborted");
    yield bytes.subarray(offset, offset + size);
  }
}

describe("parseJson", () => {
  const value = { model: "m", prompt: "🦄 héllo\n", ids: [1, 2, 3], nested: { a: null, b: true, c: 1.5 } };

  it("gives the same value, at once or in a worker thread", async () => {
    const bytes = encode(JSON.stringify(value));
    expect(await parseJson(bytes)).toEqual(value);
    expect(await parseJson(bytes, { inlineMaxBytes: 0 })).toEqual(value);
    expect(await parseJson(bytes.buffer as ArrayBuffer, { inlineMaxBytes: 0 })).toEqual(value);
  });

  it("ignores a byte-order mark, as Response.json() does", async () => {
    const bytes = encode(`\uFEFF${JSON.stringify(value)}`);
    expect(await parseJson(bytes)).toEqual(value);
    expect(await parseJson(bytes, { inlineMaxBytes: 0 })).toEqual(value);
  });

  it("throws the parser's SyntaxError in both places", async () => {
    const bytes = encode('{"model": ');
    const inline = await parseJson(bytes).catch((error: unknown) => error);
    const inWorker = await parseJson(bytes, { inlineMaxBytes: 0 }).catch((error: unknown) => error);
    expect(inline).toBeInstanceOf(SyntaxError);
    expect(inWorker).toBeInstanceOf(SyntaxError);
    expect((inWorker as SyntaxError).message).toBe((inline as SyntaxError).message);
  });

  it("refuses with a SyntaxError a large text nested too deeply to pass between threads", async () => {
    const depth = 100_000;
    const error = await parseJson(encode("[".repeat(depth) + "]".repeat(depth)), { inlineMaxBytes: 0 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SyntaxError);
    expect((error as SyntaxError).message).toMatch(/too deeply/);
  });
});

describe("parseJsonChunks", () => {
  const text = JSON.stringify({ prompt: "x".repeat(5000), list: Array.from({ length: 500 }, (_, index) => index) });

  it("parses chunks at once under the limit, and streams them to a worker thread over it", async () => {
    const bytes = encode(text);
    expect(await parseJsonChunks(chunksOf(bytes, 1000))).toEqual(JSON.parse(text));
    expect(await parseJsonChunks(chunksOf(bytes, 1000), { inlineMaxBytes: 2500 })).toEqual(JSON.parse(text));
    // A chunk may end inside a multi-byte character: the worker decodes the whole text.
    const unicorns = encode(JSON.stringify({ prompt: "🦄".repeat(3000) }));
    expect(await parseJsonChunks(chunksOf(unicorns, 333), { inlineMaxBytes: 1000 })).toEqual({ prompt: "🦄".repeat(3000) });
  });

  it("throws a SyntaxError for a streamed text that is not JSON, and the stream's own error", async () => {
    await expect(parseJsonChunks(chunksOf(encode(text.slice(0, -1)), 1000), { inlineMaxBytes: 2500 })).rejects.toBeInstanceOf(SyntaxError);
    await expect(parseJsonChunks(chunksOf(encode(text), 1000, 4000), { inlineMaxBytes: 2500 })).rejects.toThrow("upload aborted");
  });
});
