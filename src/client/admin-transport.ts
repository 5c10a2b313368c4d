import type { z } from "zod";
import { ApiError, apiErrorFromResponse, connectionError } from "./api-error.js";

/** Options of {@link createAdminTransport}: where the server is and how to call it. */
export interface AdminTransportOptions {
  /** The server, `http://host:port` (a trailing `/v1` is accepted); `""` means the page's own origin (the web console). */
  baseUrl: string;
  /** The admin key, sent as `Authorization: Bearer`. Defaults to none (a server with key checks off). */
  adminKey?: string;
  /** The `fetch` to use (tests route it into `app.request`). Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Time limit of each call that passes no `signal`, ms. Defaults to 30000. */
  timeoutMs?: number;
}

/** The HTTP layer of the JSON clients of `/v1/moestro/` (`admin-client.ts`, `console-client.ts`). */
export interface AdminTransport {
  /**
   * Sends one request and returns its response when the status is 2xx. A `body` is sent as JSON; `accept` replaces
   * `application/json`; `signal` replaces the time limit.
   *
   * @throws {ApiError} for an error status (the server's error body), or `status` 0 `connection_error` when the server
   * cannot be reached.
   * @throws the signal's reason when `signal` aborts.
   */
  send(method: string, path: string, init?: { body?: unknown; accept?: string; signal?: AbortSignal }): Promise<Response>;
  /**
   * Sends one request and validates its JSON answer with `schema`.
   *
   * @throws {ApiError} as {@link AdminTransport.send} does, and when the answer does not match `schema`.
   */
  call<T>(method: string, path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, body?: unknown): Promise<T>;
}

/** Creates an {@link AdminTransport}. */
export function createAdminTransport(options: AdminTransportOptions): AdminTransport {
  const baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const fetchFn = options.fetch ?? fetch;
  const send: AdminTransport["send"] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { accept: init.accept ?? "application/json" };
    if (options.adminKey !== undefined) headers.authorization = `Bearer ${options.adminKey}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetchFn(`${baseUrl}${path}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal ?? AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw connectionError(baseUrl || "the server", error);
    }
    if (!response.ok) throw apiErrorFromResponse(response, await response.text().catch(() => ""), `${method} ${path}`);
    return response;
  };
  return {
    send,
    async call(method, path, schema, body) {
      const response = await send(method, path, { body });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = undefined;
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ApiError(
          `${method} ${path} answered an unexpected body: ${issue ? `'${issue.path.join(".")}' ${issue.message}` : "invalid"}.`,
          {
            status: response.status,
            requestId: response.headers.get("x-request-id"),
          },
        );
      }
      return parsed.data;
    },
  };
}

/** A time range of the usage ledger: epoch ms, ISO 8601 dates or date-times, or durations before now (`7d`). */
export interface UsageRangeQuery {
  /** Inclusive start. Defaults to the beginning. */
  from?: string;
  /** Exclusive end. Defaults to now. */
  to?: string;
}

/**
 * The query string of a usage call (`/v1/moestro/usage`, `/usage/events`): `?from=…&to=…` of `range`, then the
 * parameters of `more` (wire names) in their order; parameters left `undefined` are left out, and no parameter gives `""`.
 */
export function usageQuery(range: UsageRangeQuery, more: Record<string, string | number | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries({ from: range.from, to: range.to, ...more }))
    if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}
