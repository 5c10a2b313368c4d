import type { z } from "zod";
import {
  wireApiKeyListSchema,
  wireApiKeySchema,
  wireCreatedApiKeySchema,
  wireUsageReportSchema,
  type CreateKeyBody,
  type WireApiKey,
  type WireCreatedApiKey,
  type WireUsageReport,
} from "../wire/admin.js";

/** Options of {@link createAdminClient}. */
export interface AdminClientOptions {
  /** The server, `http://host:port` (a trailing `/v1` is accepted). */
  baseUrl: string;
  /** The server's admin key, sent as `Authorization: Bearer`. Defaults to none (a server with key checks off). */
  adminKey?: string;
  /** The `fetch` to use (tests route it into `app.request`). Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Time limit of each call, ms. Defaults to 30000. */
  timeoutMs?: number;
}

/**
 * A failed admin call: the server's OpenAI-style error (`{"error": {message, type, param, code}}`) and HTTP status, or
 * a transport failure (`status` 0, `code` `connection_error`).
 */
export class AdminApiError extends Error {
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number;
  /** The error code (`invalid_api_key`, `permission_denied`, `api_key_not_found`), or `null`. */
  readonly code: string | null;
  /** OpenAI's error type, or `null`. */
  readonly type: string | null;
  /** The request field the error is about, or `null`. */
  readonly param: string | null;

  constructor(
    message: string,
    fields: { status: number; code?: string | null; type?: string | null; param?: string | null; cause?: unknown },
  ) {
    super(message, { cause: fields.cause });
    this.name = "AdminApiError";
    this.status = fields.status;
    this.code = fields.code ?? null;
    this.type = fields.type ?? null;
    this.param = fields.param ?? null;
  }
}

/** A typed client of the admin API under `/v1/moestro/`. Used by the CLI with `--url`. */
export interface AdminClient {
  /**
   * Creates an API key; the answer carries its `secret`, the only time it is shown.
   *
   * @throws {AdminApiError} 400 `invalid_request`, 401/403 when the admin key is missing or wrong.
   */
  createKey(body: CreateKeyBody): Promise<WireCreatedApiKey>;
  /** Lists keys, oldest first. @throws {AdminApiError} */
  listKeys(options?: { includeRevoked?: boolean }): Promise<WireApiKey[]>;
  /** Revokes the key with this id or prefix. @throws {AdminApiError} 404 `api_key_not_found`. */
  revokeKey(idOrPrefix: string): Promise<WireApiKey>;
  /**
   * Usage totals grouped by key, model or day over `[from, to)`; `from` and `to` are epoch ms, ISO 8601 dates or
   * date-times, or durations before now (`7d`).
   *
   * @throws {AdminApiError}
   */
  usage(options: { groupBy?: "key" | "model" | "day"; from?: string; to?: string }): Promise<WireUsageReport>;
}

/**
 * Creates an {@link AdminClient}.
 *
 * @example
 * const client = createAdminClient({baseUrl: "http://127.0.0.1:8080", adminKey: process.env.MOESTRO_ADMIN_KEY});
 * const {secret} = await client.createKey({name: "ci", requests_per_minute: 60});
 */
export function createAdminClient(options: AdminClientOptions): AdminClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const fetchFn = options.fetch ?? fetch;
  const call = async <T>(method: string, path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (options.adminKey !== undefined) headers.authorization = `Bearer ${options.adminKey}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetchFn(`${baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new AdminApiError(`Cannot reach ${baseUrl}: ${(error as Error).message}`, {
        status: 0,
        code: "connection_error",
        cause: error,
      });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = (
        json as { error?: { message?: string; code?: string | null; type?: string | null; param?: string | null } } | undefined
      )?.error;
      throw new AdminApiError(error?.message ?? `${method} ${path} failed with HTTP ${response.status}.`, {
        status: response.status,
        code: error?.code,
        type: error?.type,
        param: error?.param,
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new AdminApiError(`${method} ${path} answered an unexpected body: ${parsed.error.issues[0]?.message ?? "invalid"}.`, {
        status: response.status,
      });
    return parsed.data;
  };
  return {
    createKey: (body) => call("POST", "/v1/moestro/keys", wireCreatedApiKeySchema, body),
    listKeys: async (listOptions = {}) =>
      (await call("GET", `/v1/moestro/keys${listOptions.includeRevoked ? "?include_revoked=true" : ""}`, wireApiKeyListSchema)).data,
    revokeKey: (idOrPrefix) => call("DELETE", `/v1/moestro/keys/${encodeURIComponent(idOrPrefix)}`, wireApiKeySchema),
    usage: (usageOptions) => {
      const query = new URLSearchParams({ group_by: usageOptions.groupBy ?? "key" });
      if (usageOptions.from !== undefined) query.set("from", usageOptions.from);
      if (usageOptions.to !== undefined) query.set("to", usageOptions.to);
      return call("GET", `/v1/moestro/usage?${query.toString()}`, wireUsageReportSchema);
    },
  };
}
