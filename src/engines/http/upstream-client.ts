import http from "node:http";
import https from "node:https";

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

  constructor(options: UpstreamClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#url = new URL(this.baseUrl);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16, noDelay: true };
    const isHttps = this.#url.protocol === "https:";
    this.#agent = isHttps ? new https.Agent({ ...agentOptions, ca: options.ca }) : new http.Agent(agentOptions);
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
   * POSTs `body` as JSON and returns the parsed JSON answer.
   *
   * @throws {UpstreamHttpError} for a status other than 2xx; the socket's error; the signal's reason.
   */
  async postJson<T = unknown>(path: string, body: unknown, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    const response = await this.#request("POST", path, JSON.stringify(body), options);
    const text = await readText(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new UpstreamHttpError(status, text, this.baseUrl + path, response.headers);
    return JSON.parse(text) as T;
  }

  /**
   * POSTs `body` as JSON and yields each Server-Sent Event's `data:` payload parsed as JSON, in order, until the
   * server ends the stream or sends `data: [DONE]`. Ending the iteration early (`break`, `return()`) closes the
   * connection, which tells the server to stop (llama-server cancels the task when its client is gone).
   *
   * @throws {UpstreamHttpError} for a status other than 2xx (before any event); the socket's error; the signal's reason.
   */
  async *streamJson<T = unknown>(path: string, body: unknown, options: { signal?: AbortSignal } = {}): AsyncGenerator<T, void, undefined> {
    const response = await this.#request("POST", path, JSON.stringify(body), { ...options, accept: "text/event-stream" });
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new UpstreamHttpError(status, await readText(response), this.baseUrl + path, response.headers);
    let finished = false;
    try {
      let buffer = "";
      response.setEncoding("utf8");
      for await (const chunk of response as AsyncIterable<string>) {
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
          for (const line of event.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
            if (data === "[DONE]") {
              finished = true;
              return;
            }
            yield JSON.parse(data) as T;
          }
        }
      }
      finished = true;
    } finally {
      // An early end (the consumer stopped, an error): drop the connection so that the server stops generating.
      if (!finished) response.destroy();
    }
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  #request(
    method: string,
    path: string,
    body: string | undefined,
    options: { signal?: AbortSignal; timeoutMs?: number; accept?: string; retried?: boolean },
  ): Promise<http.IncomingMessage> {
    const retried = options.retried === true;
    return new Promise((resolve, reject) => {
      // A retry only before any answer: once the server answered, it may have acted on the request.
      let responded = false;
      const headers: Record<string, string> = { ...this.#headers, accept: options.accept ?? "application/json" };
      if (body !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = String(Buffer.byteLength(body));
      }
      const request = this.#send(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          path: this.#url.pathname.replace(/\/$/, "") + path,
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
        // The server closed a kept-alive socket as this request went out on it (llama-server's HTTP library ends
        // connections after some streams): nothing reached the server, so send it again on a new socket (Node's
        // documented remedy, `request.reusedSocket`).
        if (!responded && request.reusedSocket && error.code === "ECONNRESET" && !options.signal?.aborted && !retried) {
          this.#request(method, path, body, { ...options, retried: true }).then(resolve, reject);
          return;
        }
        reject(error);
      });
      request.on("timeout", () => request.destroy(Object.assign(new Error(`${this.baseUrl}${path} timed out`), { name: "TimeoutError" })));
      request.end(body);
    });
  }
}

async function readText(response: http.IncomingMessage): Promise<string> {
  response.setEncoding("utf8");
  let text = "";
  for await (const chunk of response as AsyncIterable<string>) {
    if (text.length < 1 << 20) text += chunk;
  }
  return text;
}
