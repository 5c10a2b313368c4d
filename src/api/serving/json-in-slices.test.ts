import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { respondWithJsonInSlices, type SlicedJsonBody } from "./json-in-slices.js";

async function sliced(body: SlicedJsonBody): Promise<{ text: string; contentType: string | null }> {
  const app = new Hono();
  app.get("/", (c) => respondWithJsonInSlices(c, body));
  const response = await app.request("/");
  return { text: await response.text(), contentType: response.headers.get("content-type") };
}

/** The object `body` stands for, serialised whole. */
function whole(body: SlicedJsonBody): string {
  const list = Array.from({ length: body.itemCount }, (_, index) => body.item(index));
  return JSON.stringify({ ...body.head, [body.listKey]: list, ...body.tail });
}

describe("respondWithJsonInSlices", () => {
  it("writes exactly what JSON.stringify of the whole object gives, over many slices", async () => {
    const vectors = Array.from({ length: 300 }, (_, row) => Array.from({ length: 1024 }, (_, column) => (row * 1024 + column) / 7));
    const body: SlicedJsonBody = {
      head: { object: "list" },
      listKey: "data",
      itemCount: vectors.length,
      item: (index) => ({ object: "embedding", index, embedding: vectors[index] }),
      tail: { model: "m", usage: { prompt_tokens: 3, total_tokens: 3 } },
    };
    const { text, contentType } = await sliced(body);
    expect(text.length).toBeGreaterThan(3 * (1 << 20)); // several slices of about 1 MB
    expect(text).toBe(whole(body));
    expect(contentType).toBe("application/json");
  });

  it("handles an empty head, an empty tail and an empty list", async () => {
    for (const [head, tail, itemCount] of [
      [{}, {}, 0],
      [{}, { b: 2 }, 1],
      [{ a: 1 }, {}, 2],
    ] as const) {
      const body: SlicedJsonBody = { head, listKey: "list", itemCount, item: (index) => ({ index, text: 'a "quoted" é' }), tail };
      expect((await sliced(body)).text).toBe(whole(body));
    }
  });

  it("gives the event loop a turn between slices", async () => {
    let turns = 0;
    const interval = setInterval(() => turns++, 0);
    try {
      const body: SlicedJsonBody = { head: {}, listKey: "data", itemCount: 40, item: () => "x".repeat(200_000), tail: {} };
      await sliced(body);
    } finally {
      clearInterval(interval);
    }
    expect(turns).toBeGreaterThan(0);
  });
});
