import type { Context } from "hono";
import { ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { stream } from "hono/streaming";
import type { StreamingApi } from "hono/utils/stream";
import { MoestroError } from "../../errors/index.js";
import type { Usage } from "../../spec/index.js";
import { formatSseData, sseHeaders } from "../../util/sse.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { dialectError, toWireError } from "../error-response.js";
import type { ChoicePart, CollectedChoice, StartedGeneration } from "./start-generation.js";
import type { RequestMeter } from "./request-meter.js";

/**
 * Answers a non-streamed request: runs every choice to the end and collects it (the non-streaming path is the streaming
 * path, collected), renders the body with `render`, and sends it with {@link respondJson}: the final counts are
 * recorded (`meter.checkpoint`) before the body is written, and the request is reported `ok` once the body left. On
 * failure or abort the usage produced so far is reported (`meter.fail`: `error`, or `aborted` once the request's
 * signal aborted) before the error is thrown.
 *
 * @throws what the generation throws; `server_shutting_down` (503) when the server's shutdown ended it; what
 *   `meter.checkpoint` throws (the body is then not sent).
 */
export async function respondCollected(
  c: Context<AppEnv>,
  generation: StartedGeneration,
  render: (choices: CollectedChoice[], usage: Usage) => object | Promise<object>,
): Promise<Response> {
  const { parts, meter } = generation;
  const open = new Map<number, Omit<CollectedChoice, "finishReason" | "usage">>();
  const choices: CollectedChoice[] = [];
  let body: object;
  try {
    for await (const part of parts) {
      let choice = open.get(part.index);
      if (choice === undefined) {
        choice = { index: part.index, text: "", reasoning: "", toolCalls: [], logprobs: undefined };
        open.set(part.index, choice);
      }
      switch (part.type) {
        case "text-delta":
          choice.text += part.text;
          if (part.logprobs) (choice.logprobs ??= []).push(...part.logprobs);
          break;
        case "reasoning-delta":
          choice.reasoning += part.text;
          break;
        case "tool-call":
          choice.toolCalls.push(part.toolCall);
          break;
        case "finish":
          choices.push({ ...choice, finishReason: part.finishReason, stopSequence: part.stopSequence, usage: part.usage });
          break;
        default:
          part satisfies never;
      }
    }
    if (generation.abort.signal.aborted) {
      await meter.finish("aborted");
      // Ended by the server (its shutdown): answered with its error. A client that left reads nothing sent below.
      const serverError = generation.abort.errorFor();
      if (serverError !== undefined) throw serverError;
    }
    // A render may write before it answers (the Responses API stores the response it returns).
    body = await render(choices, meter.usage);
  } catch (error) {
    await meter.fail(error);
    throw error;
  } finally {
    await parts.return(undefined);
  }
  return await respondJson(c, meter, body);
}

/**
 * Sends `body` as a non-streamed JSON response: records the final counts, then reports the request's end once it left
 * (see {@link reportOnDelivery}).
 *
 * @throws what `meter.checkpoint` throws (the body is then not sent).
 */
export async function respondJson(c: Context<AppEnv>, meter: RequestMeter, body: object): Promise<Response> {
  return await reportOnDelivery(c, meter, c.json(body as never));
}

/**
 * Returns `response` (a non-streamed answer, whatever writes its body; nothing of it is sent before this returns) once
 * the request's final counts are recorded (`meter.checkpoint`), and reports the request's end once it left: served by
 * @hono/node-server, `ok` when Node's `ServerResponse` has handed the body's last byte to the socket (its `finish`
 * event), `aborted` when the connection closed first; elsewhere (`app.request()` in tests) `ok` when the response is
 * handed back. The report runs after the response, so it never changes it (`RequestMeter.finishDelivered` logs a sink
 * that fails).
 *
 * @throws what `meter.checkpoint` throws, after reporting the request failed (`meter.fail`); `response` is then not sent.
 */
export async function reportOnDelivery(c: Context<AppEnv>, meter: RequestMeter, response: Response): Promise<Response> {
  try {
    await meter.checkpoint();
  } catch (error) {
    await meter.fail(error);
    throw error;
  }
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  if (!(outgoing instanceof ServerResponse)) {
    await meter.finishDelivered("ok");
    return response;
  }
  let reported = false;
  const report = (status: "ok" | "aborted"): void => {
    if (reported) return;
    reported = true;
    void meter.finishDelivered(status);
  };
  outgoing.once("finish", () => report("ok"));
  outgoing.once("close", () => report(outgoing.writableFinished ? "ok" : "aborted"));
  return response;
}

/** How a streaming route turns parts into payloads (framed on the wire by its {@link StreamFormat}). */
export interface StreamEncoder {
  /**
   * Payloads to send first, once, before any part (Anthropic's `message_start`, the Responses API's
   * `response.created`), given the usage at admission (the prompt's tokens are known). Defaults to none.
   */
  start?(usage: Usage): unknown[];
  /**
   * Whether `start` waits for the first part (or, with none, for the end), so that its usage has the prompt's cached
   * tokens (`ChoiceParts.promptCacheUsage`: the in-process engine knows them once it reuses the prefix, before the
   * prefill, hence before the first part): Anthropic's `message_start` carries the cache split that `message_delta`
   * repeats. The start goes out with the first part, in the same write, so the first token reaches the client no later;
   * a prefill longer than a second (or the keep-alive interval, when shorter) sends the start then. Defaults to false
   * (the Responses API's `response.created`, which has no usage, goes out at once).
   */
  startAfterFirstPart?: boolean;
  /**
   * Payloads to send for one part (the first part of a choice may open it with a role chunk). A string is framed as it
   * is by OpenAI's SSE ({@link openAiSse}): an encoder may give a payload's JSON text, rendered its own way (a chunk's
   * envelope rendered once, `chunkEnvelope`).
   */
  encode(part: ChoicePart, isFirstOfChoice: boolean): unknown[];
  /**
   * Payloads to send after the last choice, before the format's `done` (the usage chunk when asked for), given the
   * request's usage. It may write first (the Responses API stores the response before `response.completed`); a
   * rejection fails the stream as a generation's failure does.
   */
  end(usage: Usage): unknown[] | Promise<unknown[]>;
}

/**
 * How a stream's payloads are framed on the wire: OpenAI's SSE ({@link openAiSse}), SSE with named events (Anthropic's
 * and the Responses API's, {@link namedEventSse}), or Ollama's newline-delimited JSON.
 */
export interface StreamFormat {
  /** The response's headers (its content type, no caching, no proxy buffering). */
  headers: Readonly<Record<string, string>>;
  /** The text of one payload. */
  frame(payload: unknown): string;
  /** Written once after the last payloads of a stream that finished (OpenAI's `data: [DONE]`); none when absent. */
  done?: string;
  /** The frame of a failure after the first byte (the status is already sent): the dialect's error body. */
  errorFrame(error: unknown, requestId: string): string;
  /** Written when nothing was sent for the keep-alive interval; none when absent (no keep-alive writes). */
  keepAlive?: string;
}

/** OpenAI's SSE: one `data:` line per payload, `data: [DONE]` at the end, a `: ping` comment to keep alive. */
export const openAiSse: StreamFormat = {
  headers: sseHeaders,
  frame: formatSseData,
  done: formatSseData("[DONE]"),
  errorFrame: (error, requestId) => formatSseData(toWireError(error, requestId).body),
  keepAlive: ": ping\n\n",
};

/**
 * SSE whose events are named by their payload's `type` (`event: message_start` then `data: {"type": "message_start",
 * …}`), as Anthropic's Messages stream and OpenAI's Responses stream send them.
 *
 * @param errorPayload the payload of a failure after the first byte (its `type` names the event, `error`).
 * @param keepAlive what keeps an idle stream open (Anthropic's `ping` event); a `: ping` comment by default.
 */
export function namedEventSse(
  errorPayload: (error: unknown, requestId: string) => { type: string },
  keepAlive = ": ping\n\n",
): StreamFormat {
  const frame = (payload: unknown): string => `event: ${(payload as { type: string }).type}\n${formatSseData(payload)}`;
  return {
    headers: sseHeaders,
    frame,
    errorFrame: (error, requestId) => frame(errorPayload(error, requestId)),
    keepAlive,
  };
}

/**
 * Ollama's newline-delimited JSON (Ollama docs, "Streaming"; `application/x-ndjson`): one JSON object per line, no end
 * marker (the last object says `done: true`), a failure after the first byte as a last line `{"error": "…"}` (the
 * status stays 200: Ollama docs, "Errors that occur while streaming"), no keep-alive writes (a blank line is no JSON
 * object for Ollama's clients).
 */
export const ollamaNdjson: StreamFormat = {
  headers: {
    "Content-Type": "application/x-ndjson",
    "Cache-Control": "no-cache",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  },
  frame: (payload) => `${JSON.stringify(payload)}\n`,
  errorFrame: (error, requestId) => `${JSON.stringify(dialectError("ollama", error, requestId).body)}\n`,
};

/**
 * Streams the choices in `format` (by default OpenAI's SSE: one `data:` line per event, `data: [DONE]` once at the
 * end, a failure after the first byte as one `data: {"error": …}` event with no `[DONE]` after it, and a `: ping`
 * comment when nothing was sent for `sseKeepAliveMs`; other dialects frame payloads their way, see {@link StreamFormat}).
 * The encoder's `start` payloads go out first, before the first token. The final counts are recorded (`meter.checkpoint`) before the last
 * events (the usage chunk, `[DONE]`) are written, and the request is reported `ok` once they left (`aborted` when the
 * client went away first). A client that goes away earlier aborts the generation (through `abort`), and its usage is
 * reported as `aborted`.
 *
 * Served by @hono/node-server, the events are written straight to Node's `ServerResponse` (the adapter's documented
 * `RESPONSE_ALREADY_SENT` escape), sparing each chunk the web `ReadableStream` of Hono's `stream()` and the adapter's
 * read loop (docs/bench.md#the-serving-paths-own-costs). Elsewhere (`app.request()` in tests, other runtimes) it uses
 * `stream()`.
 */
export function streamResponse(
  c: Context<AppEnv>,
  deps: AppDeps,
  generation: StartedGeneration,
  encoder: StreamEncoder,
  format: StreamFormat = openAiSse,
): Response {
  const { abort } = generation;
  for (const [name, value] of Object.entries(format.headers)) c.header(name, value);
  const outgoing = (c.env as { outgoing?: unknown } | undefined)?.outgoing;
  if (outgoing instanceof ServerResponse) {
    const headers = c.newResponse(null, 200).headers;
    const sink = new NodeSseSink(outgoing, headers, () => abort.abort());
    pumpEvents({ c, deps, generation, encoder, format }, sink).then(
      () => void sink.close(),
      (error: unknown) => {
        deps.logger.error({ err: error, requestId: c.get("requestId") }, "stream failed");
        void sink.close();
      },
    );
    return RESPONSE_ALREADY_SENT.clone();
  }
  return stream(c, async (output) => {
    output.onAbort(() => abort.abort());
    await pumpEvents({ c, deps, generation, encoder, format }, new WebSseSink(output));
  });
}

/** Where an SSE response's text goes. Writes are queued, never awaited one by one. */
interface SseSink {
  /** Queues `text` for the client, in order. */
  write(text: string): void;
  /** Resolves once everything queued has been handed to the socket, or the client is gone. */
  flush(): Promise<void>;
  /**
   * Ends the response (once) and resolves whether its last byte was handed to the socket: `false` when the client went
   * away first.
   */
  close(): Promise<boolean>;
  /** Whether the client went away. */
  readonly aborted: boolean;
}

/**
 * Writes to Node's `ServerResponse` directly. The status line and headers wait for the end of the turn of the event
 * loop that made the sink (the socket corked until `process.nextTick`, once that turn's promise jobs have run), so that
 * they leave in one `writev` with the parts ready in that turn (an upstream's first part, already read when the
 * response starts) rather than in a packet of their own, which costs a system call and a wake-up of the client
 * (docs/gateway.md, "Overhead"); a model that has no token yet still gets its headers out at once. Later writes need no
 * such help: Node corks the socket at each write of a response until the next tick itself.
 */
class NodeSseSink implements SseSink {
  readonly #outgoing: ServerResponse;
  #aborted = false;

  constructor(outgoing: ServerResponse, headers: Headers, onAbort: () => void) {
    this.#outgoing = outgoing;
    // The socket itself, not `outgoing.cork()`: the response may let go of it before the uncork.
    const socket = outgoing.socket;
    if (socket !== null && !socket.destroyed) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    outgoing.writeHead(200, Object.fromEntries(headers));
    outgoing.flushHeaders();
    outgoing.on("close", () => {
      if (outgoing.writableFinished) return;
      this.#aborted = true;
      onAbort();
    });
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  write(text: string): void {
    if (!this.#aborted && !this.#outgoing.destroyed) this.#outgoing.write(text);
  }

  async flush(): Promise<void> {
    const outgoing = this.#outgoing;
    if (!outgoing.writableNeedDrain || outgoing.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        outgoing.off("drain", done);
        outgoing.off("close", done);
        resolve();
      };
      outgoing.on("drain", done);
      outgoing.on("close", done);
    });
  }

  close(): Promise<boolean> {
    const outgoing = this.#outgoing;
    if (outgoing.writableFinished) return Promise.resolve(true);
    if (this.#aborted || outgoing.destroyed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      // `finish`: the last byte was handed to the operating system; `close` without it: the connection went first.
      outgoing.once("finish", () => resolve(true));
      outgoing.once("close", () => resolve(outgoing.writableFinished));
      if (!outgoing.writableEnded) outgoing.end();
    });
  }
}

/** Writes through Hono's `stream()` helper. */
class WebSseSink implements SseSink {
  readonly #output: StreamingApi;
  #queued: Promise<unknown> = Promise.resolve();

  constructor(output: StreamingApi) {
    this.#output = output;
  }

  get aborted(): boolean {
    return this.#output.aborted || this.#output.closed;
  }

  write(text: string): void {
    this.#queued = this.#output.write(text);
  }

  async flush(): Promise<void> {
    await this.#queued;
  }

  /** The stream helper ends the response when its callback returns: here the last write was taken by the stream. */
  async close(): Promise<boolean> {
    await this.#queued;
    return !this.aborted;
  }
}

/** What {@link pumpEvents} streams: the arguments of {@link streamResponse}. */
interface StreamJob {
  c: Context<AppEnv>;
  deps: AppDeps;
  generation: StartedGeneration;
  encoder: StreamEncoder;
  format: StreamFormat;
}

/** Runs the generation to its end and writes its events to `sink`; never throws for a generation's failure. */
async function pumpEvents({ c, deps, generation, encoder, format }: StreamJob, sink: SseSink): Promise<void> {
  const { parts, abort, meter } = generation;
  const keepAliveMs = deps.sseKeepAliveMs ?? 15_000;
  let lastWriteAt = performance.now();
  // Writes are queued, not awaited one by one: the next token's decode starts while the previous chunk is still on
  // its way to the socket, instead of after it (docs/bench.md#the-serving-paths-own-costs). The events of one part go
  // out in one write.
  const write = (payloads: unknown[]): void => {
    if (payloads.length === 0) return;
    lastWriteAt = performance.now();
    sink.write(payloads.length === 1 ? format.frame(payloads[0]) : payloads.map((payload) => format.frame(payload)).join(""));
  };
  // The start's payloads, written once: at once, or with the first part for an encoder that waits for it.
  let started = encoder.start === undefined;
  const startPayloads = (): unknown[] => {
    if (started) return [];
    started = true;
    // The meter counts the prompt once the first part arrives; the admission already knows it, and the engine the
    // cached part of it once it reused the prefix (before the first part).
    return encoder.start!({ ...meter.usage, promptTokens: parts.promptTokens, ...parts.promptCacheUsage });
  };
  // A start still waiting for the first part goes out after this long anyway (a long prefill), with what is known of
  // the cache: a client should see its stream open within a second, as Anthropic's own start comes before the prefill.
  const startWaitMs = Math.min(keepAliveMs, 1000);
  const keepAlive = setInterval(
    () => {
      if (!started && performance.now() - lastWriteAt >= startWaitMs && !sink.aborted) return write(startPayloads());
      if (format.keepAlive !== undefined && performance.now() - lastWriteAt >= keepAliveMs && !sink.aborted) {
        lastWriteAt = performance.now();
        sink.write(format.keepAlive);
      }
    },
    Math.max(1, Math.min(keepAliveMs, 1000)),
  );
  const opened = new Set<number>();
  try {
    if (encoder.startAfterFirstPart !== true) write(startPayloads());
    for await (const part of parts) {
      if (part.type === "finish" && part.finishReason === "abort") break;
      const isFirst = !opened.has(part.index);
      opened.add(part.index);
      const payloads = encoder.encode(part, isFirst);
      write(started ? payloads : [...startPayloads(), ...payloads]);
    }
    write(startPayloads());
    if (abort.signal.aborted) {
      await sink.flush();
      await meter.finish("aborted");
      // Ended by the server (its shutdown), not by the client: say so, without [DONE].
      const serverError = abort.errorFor();
      if (serverError !== undefined && !sink.aborted) sink.write(format.errorFrame(serverError, c.get("requestId")));
      await sink.flush();
      return;
    }
    // The final counts go on the running row first: a crash from here on leaves them exact for the recovery.
    await meter.checkpoint();
    write(await encoder.end(meter.usage));
    if (format.done !== undefined) sink.write(format.done);
    const delivered = await sink.close();
    await meter.finishDelivered(delivered ? "ok" : "aborted");
  } catch (error) {
    await meter.fail(error).catch(() => undefined);
    const requestId = c.get("requestId");
    if (!(error instanceof MoestroError)) deps.logger.error({ err: error, requestId }, "stream failed");
    await sink.flush();
    if (!sink.aborted) sink.write(format.errorFrame(error, requestId));
    await sink.flush();
  } finally {
    clearInterval(keepAlive);
    await parts.return(undefined);
  }
}
