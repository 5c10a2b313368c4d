import http from "node:http";
import https from "node:https";
import { readSseData } from "../../util/sse.js";

/** Options of {@link UpstreamClient}. */
export interface UpstreamClientOptions {
  /** Base URL, `http://127.0.0.1:PORT` (a worker) or `http://host:8000` (a remote server), without a trailing `/`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer KEY` when given. */
  apiKey?: string;
  /** Sockets kept open to the upstream (one per slot is enough). Defaults to 16. */
  maxSockets?: number;
  /** For an `https://` base URL: certificates to trust besides the system's (PEM). Defaults to the system's only. */
  ca?: string | Buffer;
}

/** An answer that is not 2xx: the status and the body's text (at most 4 KiB kept), and its `Retry-After`. */
export class UpstreamHttpError extends Error {
  readonly status: number;
  readonly body: string;
  /** The answer's `Retry-After` in seconds (given as seconds or as an HTTP date), when it had one. */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, body: string, url: string, headers?: http.IncomingHttpHeaders) {
    super(`${url} answered ${status}: ${body.slice(0, 300)}`);
    this.name = "UpstreamHttpError";
    this.status = status;
    this.body = body;
    this.retryAfterSeconds = parseRetryAfterSeconds(headers?.["retry-after"]);
  }
}

/**
 * A `Retry-After` header's value in seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP date), at least 0;
 * `undefined` when absent or unreadable.
 */
export function parseRetryAfterSeconds(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const dateMs = Date.parse(value);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, Math.ceil((dateMs - nowMs) / 1000));
}

/**
 * A small HTTP client for an OpenAI-compatible (or llama.cpp-native) server on the other end of a socket: JSON
 * requests, Server-Sent Events streams, and plain text (`/metrics`). Keeps connections alive (one TCP handshake per
 * slot, not per request) and parses SSE as bytes arrive, one `data:` payload at a time, because a streamed token is a
 * few dozen bytes and per-token overhead is what this client must not add (docs/engines.md has the figures).
 *
 * Used by the llama-server worker engine and by the upstreams of the gateway (`src/engines/upstream/`), over http or
 * https.
 */
export class UpstreamClient {
  readonly baseUrl: string;
  readonly #url: URL;
  readonly #agent: http.Agent;
  /** `http.request`, or `https.request` for an `https://` base URL (a cloud upstream). */
  readonly #send: typeof http.request;
  readonly #headers: Record<string, string>;
  /** The base URL's path without its trailing `/`, the prefix of every request's path. */
  readonly #basePath: string;

  constructor(options: UpstreamClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#url = new URL(this.baseUrl);
    this.#basePath = this.#url.pathname.replace(/\/$/, "");
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16, noDelay: true };
    const isHttps = this.#url.protocol === "https:";
    this.#agent = honourKeepAliveHint(isHttps ? new https.Agent({ ...agentOptions, ca: options.ca }) : new http.Agent(agentOptions));
    this.#send = isHttps ? https.request : http.request;
    this.#headers = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  }

  /**
   * GET `path` and return its status and body text.
   *
   * @throws the socket's error, or an `AbortError` after `timeoutMs` (default 5000) or when `signal` aborts.
   */
  async get(path: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ status: number; text: string }> {
    const response = await this.#request("GET", path, undefined, { ...options, timeoutMs: options.timeoutMs ?? 5000 });
    return { status: response.statusCode ?? 0, text: await readText(response) };
  }

  /**
   * POSTs `body` as JSON and returns the parsed JSON answer, read whole (however long: a non-streamed generation's
   * answer with log-probabilities may pass a megabyte). The socket goes back to the agent for the next request.
   * `options.headers` are sent besides the client's own (its key wins over an `authorization` there); `timeoutMs` is
   * the socket's idle timeout (none by default).
   *
   * @throws {UpstreamHttpError} for a status other than 2xx (its body's first MiB kept); the socket's error; the
   *   signal's reason; a `SyntaxError` for a body that is not JSON.
   */
  async postJson<T = unknown>(
    path: string,
    body: unknown,
    options: { signal?: AbortSignal; timeoutMs?: number; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const response = await this.#request("POST", path, JSON.stringify(body), options);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new UpstreamHttpError(status, await readText(response), this.baseUrl + path, response.headers);
    return JSON.parse(await readWhole(response)) as T;
  }

  /**
   * POSTs `body` as JSON and yields each Server-Sent Event's `data:` payload parsed as JSON, in order, until the
   * server ends the stream or sends `data: [DONE]`: {@link streamJsonBatches}, one payload at a time. Ending the
   * iteration early (`break`, `return()`) closes the connection, which tells the server to stop (llama-server cancels
   * the task when its client is gone).
   *
   * @throws what {@link streamJsonBatches} throws.
   */
  async *streamJson<T = unknown>(
    path: string,
    body: unknown,
    options: { signal?: AbortSignal; headers?: Record<string, string> } = {},
  ): AsyncGenerator<T, void, undefined> {
    for await (const batch of this.streamJsonBatches<T>(path, body, options)) for (const payload of batch) yield payload;
  }

  /**
   * POSTs `body` as JSON and yields the Server-Sent Events' `data:` payloads parsed as JSON, in order, in batches: the
   * payloads of all the events whole so far that the consumer has not taken (those of one socket read, usually; more
   * when the consumer fell behind), never an empty batch, until the server ends the stream or sends `data: [DONE]`.
   * One step of the iteration per read rather than per event, and no stream iterator under it: the body is read in
   * flowing mode and parsed as it arrives ({@link readSseData}), the per-event work a gateway adds to every token
   * (docs/gateway.md, "Overhead"). The body is decoded with a stateful UTF-8 decoder, so that a character the server
   * split across two writes arrives whole (case C07). While more than `maxQueuedEvents` (256) payloads wait for the
   * consumer, the body is paused (back-pressure on the server). Ending the iteration early (`break`, `return()`) closes
   * the connection, which tells the server to stop (llama-server cancels the task when its client is gone).
   *
   * llama-server closes the connection after every streamed response (its HTTP handler reports the end of a stream as
   * a cancelled write), so a worker's streams never reuse a connection; draining them for reuse was tried and only
   * raced with that close (docs/bench.md).
   *
   * `options.headers` are sent besides the client's own (its key wins over an `authorization` there); `options.parse`
   * parses each payload (`JSON.parse` by default; a stream's own parser, such as the gateway's `UpstreamChunkParser`).
   *
   * @throws {UpstreamHttpError} for a status other than 2xx (before any event); the socket's error; the signal's reason;
   *   what `options.parse` throws (a `SyntaxError` for a payload that is not JSON); an `Error` when the connection closes before the response's end.
   *   The payloads parsed before a failure are yielded first.
   */
  streamJsonBatches<T = unknown>(
    path: string,
    body: unknown,
    options: { signal?: AbortSignal; headers?: Record<string, string>; parse?: (data: string) => T } = {},
  ): SseJsonBatches<T> {
    const parse = options.parse ?? ((data: string) => JSON.parse(data) as T);
    return new SseJsonBatches<T>(
      parse,
      async () => {
        const response = await this.#request("POST", path, JSON.stringify(body), { ...options, accept: "text/event-stream" });
        const status = response.statusCode ?? 0;
        if (status < 200 || status >= 300)
          throw new UpstreamHttpError(status, await readText(response), this.baseUrl + path, response.headers);
        return response;
      },
      this.baseUrl + path,
    );
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  #request(
    method: string,
    path: string,
    body: string | undefined,
    options: { signal?: AbortSignal; timeoutMs?: number; accept?: string; attempt?: number; headers?: Record<string, string> },
  ): Promise<http.IncomingMessage> {
    const attempt = options.attempt ?? 1;
    return new Promise((resolve, reject) => {
      // A retry only before any answer: once the server answered, it may have acted on the request.
      let responded = false;
      const headers: Record<string, string> = { ...options.headers, ...this.#headers, accept: options.accept ?? "application/json" };
      if (body !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(Buffer.byteLength(body));
      }
      const request = this.#send(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          path: this.#basePath + path,
          method,
          headers,
          agent: this.#agent,
          signal: options.signal,
          timeout: options.timeoutMs,
        },
        (response) => {
          responded = true;
          resolve(response);
        },
      );
      request.on("error", (error: NodeJS.ErrnoException) => {
        // The server closed a kept-alive socket as this request went out on it (its idle timeout, 5 s in llama-server,
        // ran out as the agent handed the socket over): nothing reached the server, so send it again (Node's documented
        // remedy, `request.reusedSocket`). The failed socket is gone; the next free one may be as old, hence a few
        // tries, the last of which may open a new connection.
        if (
          !responded &&
          request.reusedSocket &&
          (error.code === "ECONNRESET" || error.code === "EPIPE") &&
          !options.signal?.aborted &&
          attempt < maxReusedSocketAttempts
        ) {
          this.#request(method, path, body, { ...options, attempt: attempt + 1 }).then(resolve, reject);
          return;
        }
        reject(error);
      });
      request.on("timeout", () => request.destroy(Object.assign(new Error(`${this.baseUrl}${path} timed out`), { name: "TimeoutError" })));
      request.end(body);
    });
  }
}

/** Reads the rest of a finished response so that its socket is kept; closes it if it does not end within 2 s. */
function drain(response: http.IncomingMessage): void {
  const timer = setTimeout(() => response.destroy(), 2_000);
  timer.unref();
  response.once("close", () => clearTimeout(timer));
  response.on("error", () => {});
  response.resume();
}

/** Payloads a stream queues for a consumer that fell behind before it pauses the body (see `streamJsonBatches`). */
const maxQueuedEvents = 256;

/** Tries of one request on kept-alive sockets that the server closed under it (see `#request`). */
const maxReusedSocketAttempts = 4;

/**
 * Makes `agent` close a free socket before the server's announced keep-alive timeout (`Keep-Alive: timeout=5` from
 * llama-server's HTTP library). Node 20's agent reads that hint only when the agent itself has a `timeout`, which would
 * also apply to requests in flight (a long prefill sends nothing for seconds); without it, a socket idle past the
 * server's timeout is handed to the next request and fails under it. Returns `agent`.
 *
 * It replaces the agent's `keepSocketAlive` (Node 20.19's, `lib/_http_agent.js`: keep-alive probes every
 * `keepAliveMsecs`, the socket unref'd, a hint of 1 s or less not kept, the socket's timeout set) rather than wrapping
 * it: Node's reads the hint from `response.headers`, which builds the response's whole header object, a cost on every
 * request that nothing else here pays (the hint is read from `rawHeaders`; docs/gateway.md, "Overhead"). The agents of
 * {@link UpstreamClient} have no `timeout` of their own.
 */
function honourKeepAliveHint<A extends http.Agent>(agent: A): A {
  // @types/node declares `keepSocketAlive` as returning `void`; Node returns whether the socket may be kept.
  type KeepSocketAlive = (socket: import("node:stream").Duplex) => boolean;
  const keepWithHint: KeepSocketAlive = (duplex) => {
    const socket = duplex as import("node:net").Socket;
    // `keepAliveMsecs` is set by every Agent (its option, else 1000); @types/node does not declare it.
    socket.setKeepAlive(true, (agent as unknown as { keepAliveMsecs: number }).keepAliveMsecs);
    socket.unref();
    const response = (socket as { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res;
    const hintSeconds = response === undefined ? undefined : keepAliveTimeoutSeconds(response.rawHeaders);
    let timeoutMs = 0;
    if (hintSeconds !== undefined) {
      // A second before the server's deadline, as Node does; a server that keeps a socket a second or less: not kept.
      timeoutMs = hintSeconds * 1000 - 1000;
      if (timeoutMs <= 0) return false;
    }
    if (socket.timeout !== timeoutMs) socket.setTimeout(timeoutMs);
    return true;
  };
  agent.keepSocketAlive = keepWithHint as unknown as A["keepSocketAlive"];
  return agent;
}

/** The `timeout=N` of a `Keep-Alive` header among `rawHeaders` (names and values in turn), seconds; else `undefined`. */
function keepAliveTimeoutSeconds(rawHeaders: readonly string[]): number | undefined {
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index]!;
    if (name.length !== 10 || name.toLowerCase() !== "keep-alive") continue;
    const hint = /^timeout=(\d+)/.exec(rawHeaders[index + 1] ?? "")?.[1];
    return hint === undefined ? undefined : Number(hint);
  }
  return undefined;
}

/**
 * The body of `response` as text, read to its end (so that its socket is kept); at most about `maxChars` characters of
 * it kept (1 MiB by default: enough of an error page or a metrics text).
 */
/**
 * The whole body of `response` as text, read with the stream's events rather than its async iterator (a promise per
 * chunk, and the iterator's own machinery: a cost on every non-streamed answer, docs/gateway.md "Overhead"), decoded
 * once. Rejects with the stream's error, or when the connection closes before the body's end.
 */
function readWhole(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const onEnd = () => {
      settle();
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    const onClose = () => {
      settle();
      reject(Object.assign(new Error("The connection closed before the response ended."), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    };
    const settle = () => {
      response.off("data", onData);
      response.off("end", onEnd);
      response.off("error", onError);
      response.off("close", onClose);
    };
    response.on("data", onData);
    response.on("end", onEnd);
    response.on("error", onError);
    response.on("close", onClose);
  });
}

async function readText(response: http.IncomingMessage, maxChars = 1 << 20): Promise<string> {
  response.setEncoding("utf8");
  let text = "";
  for await (const chunk of response as AsyncIterable<string>) {
    if (text.length < maxChars) text += chunk;
  }
  return text;
}

/**
 * The iterator of {@link UpstreamClient.streamJsonBatches}: written by hand rather than as an async generator, so that
 * a socket read settles the consumer's waiting `next()` at once, with no generator to resume in between (one step less
 * per token on a gateway's hot path). The request is sent at the first `next()`.
 */
export class SseJsonBatches<T> implements AsyncIterableIterator<T[]> {
  readonly #parse: (data: string) => T;
  readonly #send: () => Promise<http.IncomingMessage>;
  readonly #url: string;
  #response: http.IncomingMessage | undefined;
  /** Payloads parsed, not yet taken by the consumer. */
  #queued: T[] = [];
  /** The unfinished event at the end of the last read. */
  #pending = "";
  /** `open` until `[DONE]` (`done`) or the body's end (`ended`); `closed` once the iteration ended. */
  #state: "open" | "done" | "ended" | "closed" = "open";
  #failure: { error: unknown } | undefined;
  #paused = false;
  /** The consumer's `next()` waiting for a read. */
  #waiting: { resolve: (result: IteratorResult<T[], void>) => void; reject: (error: unknown) => void } | undefined;

  constructor(parse: (data: string) => T, send: () => Promise<http.IncomingMessage>, url: string) {
    this.#parse = parse;
    this.#send = send;
    this.#url = url;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T[], void>> {
    if (this.#response === undefined) {
      if (this.#state === "closed") return Promise.resolve({ value: undefined, done: true });
      return this.#send().then((response) => {
        // Ended while the request went out: nobody reads the answer.
        if (this.#state === "closed") {
          response.destroy();
          return { value: undefined, done: true };
        }
        this.#listen(response);
        return this.next();
      });
    }
    if (this.#waiting !== undefined) return Promise.reject(new Error("SseJsonBatches: next() called while another is pending"));
    const settled = this.#take();
    if (settled !== undefined) return settled;
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  /**
   * Ends the iteration: before the stream's end (the consumer stopped, an error) the connection is dropped, so that the
   * server stops generating; after `[DONE]`, what is left of the body is read in the background (a new connection costs
   * about 1 ms a request in front of another moestro, docs/gateway.md), unless it does not end soon.
   */
  return(_value?: undefined): Promise<IteratorResult<T[], void>> {
    this.#close(this.#state === "done" || this.#state === "ended");
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The result `next()` can give now (a batch, the end, the failure), or `undefined` when it must wait for a read. */
  #take(): Promise<IteratorResult<T[], void>> | undefined {
    if (this.#queued.length > 0) {
      const batch = this.#queued;
      this.#queued = [];
      if (this.#paused) {
        this.#paused = false;
        this.#response?.resume();
      }
      return Promise.resolve({ value: batch, done: false });
    }
    if (this.#state === "done" || this.#state === "ended") {
      this.#close(true);
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#state === "closed") return Promise.resolve({ value: undefined, done: true });
    if (this.#failure !== undefined) {
      this.#close(false);
      return Promise.reject(this.#failure.error);
    }
    return undefined;
  }

  /** Settles the waiting `next()`, if any, with what it can give now. */
  #wake(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    const settled = this.#take();
    if (settled === undefined) return;
    this.#waiting = undefined;
    settled.then(waiting.resolve, waiting.reject);
  }

  #close(finished: boolean): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const response = this.#response;
    if (response === undefined) return;
    if (!finished) response.destroy();
    else if (!response.complete) drain(response);
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.#wake();
  }

  #listen(response: http.IncomingMessage): void {
    this.#response = response;
    // A stateful UTF-8 decoder: a character split between two reads arrives whole (case C07).
    response.setEncoding("utf8");
    const onPayload = (data: string): boolean => {
      if (data === "[DONE]") {
        this.#state = "done";
        return false;
      }
      this.#queued.push(this.#parse(data));
      return true;
    };
    response.on("data", (text: string) => {
      if (this.#state !== "open" || this.#failure !== undefined) return;
      try {
        this.#pending = readSseData(this.#pending, text, onPayload);
      } catch (error) {
        this.#failure = { error };
      }
      if (this.#queued.length >= maxQueuedEvents && this.#waiting === undefined && !this.#paused) {
        this.#paused = true;
        response.pause();
      }
      this.#wake();
    });
    // A connection closed mid-body (the server died) can end the body without an error: say so, never a silent half
    // answer.
    const cutShort = (): Error => new Error(`${this.#url}: the connection closed before the response ended`);
    response.on("end", () => {
      if (!response.complete) this.#fail(cutShort());
      else if (this.#state === "open") this.#state = "ended";
      this.#wake();
    });
    response.on("error", (error) => this.#fail(error));
    response.on("close", () => {
      if (this.#state === "open" && !response.complete) this.#fail(cutShort());
      this.#wake();
    });
  }
}
