import { describe, expect, it } from "vitest";
import { readLines, readSseData } from "./sse-reader.js";

function streamOf(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
}

async function collect(pieces: string[]): Promise<string[]> {
  const data: string[] = [];
  for await (const item of readSseData(streamOf(pieces))) data.push(item);
  return data;
}

describe("readSseData", () => {
  it("yields each event's data, across chunk boundaries, CRLF or LF, skipping comments and other fields", async () => {
    expect(await collect(['data: {"a"', ":1}\n\n: ping\n\nevent: x\nid: 3\ndata: two\r\ndata: lines\r\n\r\ndata:[DONE]\n\n"])).toEqual([
      '{"a":1}',
      "two\nlines",
      "[DONE]",
    ]);
  });

  it("splits a multi-byte character across chunks correctly", async () => {
    const bytes = new TextEncoder().encode("data: héllo\n\n");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 8));
        controller.enqueue(bytes.slice(8));
        controller.close();
      },
    });
    const data: string[] = [];
    for await (const item of readSseData(stream)) data.push(item);
    expect(data).toEqual(["héllo"]);
  });

  it("drops an unfinished last event, and cancels the body when the reader stops early", async () => {
    expect(await collect(["data: done\n\ndata: cut"])).toEqual(["done"]);
    let isCancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode("data: x\n\n"));
      },
      cancel() {
        isCancelled = true;
      },
    });
    for await (const _item of readSseData(stream)) break;
    expect(isCancelled).toBe(true);
  });
});

describe("readLines", () => {
  it("yields lines without their ends, and the text after the last line end", async () => {
    const lines: string[] = [];
    for await (const line of readLines(streamOf(['{"a":', '1}\r\n\n{"b":2}']))) lines.push(line);
    expect(lines).toEqual(['{"a":1}', "", '{"b":2}']);
  });
});
