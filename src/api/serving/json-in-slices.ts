import type { Context } from "hono";

/** What {@link respondWithJsonInSlices} writes: `{...head, [listKey]: [items...], ...tail}` as one JSON object. */
export interface SlicedJsonBody {
  /** The fields written before the list, in order. */
  head: Record<string, unknown>;
  /** The name of the list field. */
  listKey: string;
  /** How many items the list has. */
  itemCount: number;
  /** Item `index` of the list, as a JSON value; called once per item, in order, when its slice is written. */
  item(index: number): unknown;
  /** The fields written after the list, in order. */
  tail: Record<string, unknown>;
}

/** Text serialised per slice before the event loop gets a turn, in UTF-16 code units (about 1 MB of JSON). */
const sliceChars = 1 << 20;

/**
 * Answers 200 with a JSON object whose one big list is serialised a slice at a time, the event loop getting a turn
 * between slices, so that a response of hundreds of megabytes never holds the other requests (2,048 embeddings of 4,096
 * floats are 162 MB of JSON: `JSON.stringify` of it held the event loop for 1.1 s). The text is byte for byte what
 * `JSON.stringify` of the whole object gives. The client reading slowly slows the writing (the stream is pulled).
 */
export function respondWithJsonInSlices(c: Context, body: SlicedJsonBody): Response {
  const encoder = new TextEncoder();
  const head = JSON.stringify(body.head);
  const tail = JSON.stringify(body.tail);
  // `{"a":1}` + list + `{"b":2}` → `{"a":1,"list":[…],"b":2}`.
  const opening = `${head.slice(0, -1)}${head.length > 2 ? "," : ""}${JSON.stringify(body.listKey)}:[`;
  const closing = `]${tail.length > 2 ? "," : ""}${tail.slice(1)}`;
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(opening));
    },
    async pull(controller) {
      // A turn for the event loop before each slice but the first, which `start` already left behind it.
      if (next > 0) await new Promise((resolve) => setImmediate(resolve));
      let text = "";
      while (next < body.itemCount && text.length < sliceChars) {
        text += (next > 0 ? "," : "") + JSON.stringify(body.item(next));
        next++;
      }
      if (next >= body.itemCount) {
        controller.enqueue(encoder.encode(text + closing));
        controller.close();
      } else controller.enqueue(encoder.encode(text));
    },
  });
  return c.body(stream, 200, { "content-type": "application/json" });
}
