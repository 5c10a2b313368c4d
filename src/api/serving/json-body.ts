import type { Context } from "hono";
import { MoestroError } from "../../errors/index.js";
import { defaultInlineMaxBytes, parseJson, parseJsonChunks } from "../../util/parse-json.js";
import type { AppEnv } from "../app-env.js";

/**
 * Reads the request's body and parses it as JSON, once per request: the parse (its promise) is kept in the `jsonBody`
 * variable, so that access control (the `model` of a key limited to some models) and the route share it. It never
 * stalls the event loop (issue 14, item 6): a body declared at up to 1 MiB is read and parsed at once; a larger one,
 * or one of unknown length (chunked), is streamed chunk by chunk into a worker thread that parses it
 * (`parseJsonChunks`), so that neither the copy of the whole body nor its parse runs here. A body that something has
 * read already (hono caches it) is parsed from that copy.
 *
 * @throws {MoestroError} `invalid_json` (400) when the body is not JSON.
 * @throws what reading the body throws (a body over the limit, an aborted upload).
 */
export function readJsonBody(c: Context<AppEnv>): Promise<unknown> {
  let body = c.get("jsonBody");
  if (body === undefined) {
    body = readJson(c).catch((error: unknown) => {
      if (!(error instanceof SyntaxError)) throw error;
      throw new MoestroError("invalid_json", `The request body is not valid JSON: ${error.message}`, { cause: error });
    });
    c.set("jsonBody", body);
  }
  return body;
}

async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const request = c.req;
  const declared = request.header("content-length");
  const isSmall = declared !== undefined && Number(declared) <= defaultInlineMaxBytes;
  const isRead = Object.keys(request.bodyCache).length > 0;
  if (isSmall || isRead) return await parseJson(await request.arrayBuffer());
  const stream = request.raw.body;
  if (stream === null) return await parseJson(new Uint8Array(0));
  return await parseJsonChunks(stream);
}
