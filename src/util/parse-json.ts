import { Worker } from "node:worker_threads";

/** Options of {@link parseJson}. */
export interface ParseJsonOptions {
  /**
   * The largest text parsed on the calling thread, in bytes; a larger one is decoded and parsed in a worker thread.
   * At 1 MiB, parsing takes about 5 ms (docs/api.md, "Serving behaviour", large bodies). Defaults to 1 MiB.
   */
  inlineMaxBytes?: number;
}

/** Default of {@link ParseJsonOptions.inlineMaxBytes}: 1 MiB. */
export const defaultInlineMaxBytes = 1024 * 1024;

// A CommonJS script (how Node runs an `eval` worker): gathers the bytes it is sent until `null`, decodes and parses
// them, then sends the value back. Cloning a value nested some thousands of levels deep overflows the stack, on either
// side: that is reported, not thrown.
const workerSource = `
const { parentPort } = require("node:worker_threads");
const chunks = [];
parentPort.on("message", (chunk) => {
  if (chunk !== null) {
    chunks.push(chunk);
    return;
  }
  let value;
  try {
    value = JSON.parse(new TextDecoder().decode(Buffer.concat(chunks)));
  } catch (error) {
    parentPort.postMessage({ syntaxError: error.message });
    return;
  }
  try {
    parentPort.postMessage({ value });
  } catch {
    parentPort.postMessage({ syntaxError: tooDeep });
  }
});
`;
const tooDeepMessage = "it nests arrays and objects too deeply to be read";

/**
 * Parses UTF-8 JSON without stalling the event loop: a text up to `inlineMaxBytes` with `JSON.parse` at once (as
 * `Response.json()` would), a larger one in a short-lived worker thread, so that a 32 MiB body (about 0.5 s of decoding
 * and parsing) does not block other requests. The bytes go to the worker and the value comes back by structured clone:
 * at 32 MiB, about 20 ms and 6 ms of the calling thread (docs/api.md, "Serving behaviour", large bodies).
 *
 * @param bytes - the text; a leading byte-order mark is ignored, and malformed UTF-8 becomes U+FFFD (`TextDecoder`).
 * @returns the parsed value.
 * @throws {SyntaxError} when the text is not JSON (the parser's message), or when a large text nests arrays and objects
 *   so deeply (some thousands of levels) that its value cannot be passed between threads.
 * @throws {Error} when the worker thread fails (out of memory).
 */
export async function parseJson(bytes: ArrayBuffer | Uint8Array, options: ParseJsonOptions = {}): Promise<unknown> {
  if (bytes.byteLength <= (options.inlineMaxBytes ?? defaultInlineMaxBytes)) return JSON.parse(new TextDecoder().decode(bytes));
  const worker = startParser();
  worker.push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  return await worker.finish();
}

/**
 * Parses UTF-8 JSON that arrives in chunks (a request's body stream) without stalling the event loop: the chunks are
 * gathered here up to `inlineMaxBytes` and parsed at once, as {@link parseJson} does; beyond that, each chunk goes to a
 * worker thread as it arrives, so that no copy or parse of the whole text ever runs on the calling thread.
 *
 * @returns the parsed value.
 * @throws what {@link parseJson} throws, and what reading `chunks` throws (an aborted upload, a body over its limit).
 */
export async function parseJsonChunks(chunks: AsyncIterable<Uint8Array>, options: ParseJsonOptions = {}): Promise<unknown> {
  const inlineMaxBytes = options.inlineMaxBytes ?? defaultInlineMaxBytes;
  const gathered: Uint8Array[] = [];
  let gatheredBytes = 0;
  let worker: JsonParser | undefined;
  try {
    for await (const chunk of chunks) {
      if (worker !== undefined) {
        worker.push(chunk);
        continue;
      }
      gathered.push(chunk);
      gatheredBytes += chunk.byteLength;
      if (gatheredBytes > inlineMaxBytes) {
        worker = startParser();
        for (const early of gathered.splice(0)) worker.push(early);
      }
    }
  } catch (error) {
    worker?.cancel();
    throw error;
  }
  if (worker === undefined) return JSON.parse(new TextDecoder().decode(Buffer.concat(gathered)));
  return await worker.finish();
}

interface JsonParser {
  /** Sends a copy of a chunk. */
  push(chunk: Uint8Array): void;
  /** Ends the text and waits for its value; the worker then exits. */
  finish(): Promise<unknown>;
  /** Stops the worker without an answer. */
  cancel(): void;
}

function startParser(): JsonParser {
  const worker = new Worker(`const tooDeep = ${JSON.stringify(tooDeepMessage)};${workerSource}`, { eval: true });
  let settle: { resolve(value: unknown): void; reject(error: unknown): void } | undefined;
  let outcome: { value: unknown } | { error: unknown } | undefined;
  const answer = (result: { value: unknown } | { error: unknown }): void => {
    if (outcome !== undefined) return;
    outcome = result;
    void worker.terminate();
    if (settle !== undefined) {
      if ("value" in result) settle.resolve(result.value);
      else settle.reject(result.error);
    }
  };
  worker.on("message", (message: { value?: unknown; syntaxError?: string }) =>
    answer(message.syntaxError !== undefined ? { error: new SyntaxError(message.syntaxError) } : { value: message.value }),
  );
  worker.on("messageerror", () => answer({ error: new SyntaxError(tooDeepMessage) }));
  worker.on("error", (error) => answer({ error }));
  worker.on("exit", (code) => answer({ error: new Error(`The JSON parser's worker thread exited (code ${code}) without an answer.`) }));
  return {
    push: (chunk) => {
      // A copy of just the view's bytes, handed over: cloning a view would copy its whole buffer (a pool, a body).
      const own = new Uint8Array(chunk);
      worker.postMessage(own, [own.buffer]);
    },
    finish: () => {
      worker.postMessage(null);
      return new Promise<unknown>((resolve, reject) => {
        if (outcome === undefined) settle = { resolve, reject };
        else if ("value" in outcome) resolve(outcome.value);
        else reject(outcome.error);
      });
    },
    cancel: () => answer({ error: new Error("cancelled") }),
  };
}
