import type { HonoRequest } from "hono";
import { defaultInlineMaxBytes, parseJson, parseJsonChunks } from "../../util/parse-json.js";

/**
 * Reads a request's body and parses it as JSON without stalling the event loop (issue 14, item 6): a body declared at
 * up to 1 MiB is read and parsed at once, as before; a larger one, or one of unknown length (chunked), is streamed
 * chunk by chunk into a worker thread that parses it (`parseJsonChunks`), so that neither the copy of the whole body nor
 * its parse runs here. A body that something has read already (hono caches it) is parsed from that copy.
 *
 * @throws {SyntaxError} when the body is not JSON (see `parseJson`).
 * @throws what reading the body throws (a body over the limit, an aborted upload).
 */
export async function readJson(request: HonoRequest): Promise<unknown> {
  const declared = request.header("content-length");
  const isSmall = declared !== undefined && Number(declared) <= defaultInlineMaxBytes;
  const isRead = Object.keys(request.bodyCache).length > 0;
  if (isSmall || isRead) return await parseJson(await request.arrayBuffer());
  const stream = request.raw.body;
  if (stream === null) return await parseJson(new Uint8Array(0));
  return await parseJsonChunks(stream);
}
