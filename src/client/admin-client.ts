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
import { createAdminTransport, usageQuery, type AdminTransportOptions, type UsageRangeQuery } from "./admin-transport.js";

/** Options of {@link createAdminClient}: the server (`baseUrl`), its admin key, `fetch` and the time limit of each call. */
export type AdminClientOptions = AdminTransportOptions;

/**
 * A typed client of the admin API under `/v1/moestro/`. Used by the CLI with `--url`. Every method throws `ApiError`
 * (`client/api-error.ts`) with the server's error code and status, or `status` 0 and `connection_error`.
 */
export interface AdminClient {
  /**
   * Creates an API key; the answer carries its `secret`, the only time it is shown.
   *
   * @throws {ApiError} 400 `invalid_request`, 401/403 when the admin key is missing or wrong.
   */
  createKey(body: CreateKeyBody): Promise<WireCreatedApiKey>;
  /** Lists keys, oldest first. @throws {ApiError} */
  listKeys(options?: { includeRevoked?: boolean }): Promise<WireApiKey[]>;
  /** Revokes the key with this id or prefix. @throws {ApiError} 404 `api_key_not_found`. */
  revokeKey(idOrPrefix: string): Promise<WireApiKey>;
  /**
   * Usage totals grouped by key, model or day over `[from, to)`; `from` and `to` are epoch ms, ISO 8601 dates or
   * date-times, or durations before now (`7d`).
   *
   * @throws {ApiError}
   */
  usage(options: UsageRangeQuery & { groupBy?: "key" | "model" | "day" }): Promise<WireUsageReport>;
}

/**
 * Creates an {@link AdminClient}.
 *
 * @example
 * const client = createAdminClient({baseUrl: "http://127.0.0.1:8080", adminKey: process.env.MOESTRO_ADMIN_KEY});
 * const {secret} = await client.createKey({name: "ci", requests_per_minute: 60});
 */
export function createAdminClient(options: AdminClientOptions): AdminClient {
  const { call } = createAdminTransport(options);
  return {
    createKey: (body) => call("POST", "/v1/moestro/keys", wireCreatedApiKeySchema, body),
    listKeys: async (listOptions = {}) =>
      (await call("GET", `/v1/moestro/keys${listOptions.includeRevoked ? "?include_revoked=true" : ""}`, wireApiKeyListSchema)).data,
    revokeKey: (idOrPrefix) => call("DELETE", `/v1/moestro/keys/${encodeURIComponent(idOrPrefix)}`, wireApiKeySchema),
    usage: (usageOptions) =>
      call("GET", `/v1/moestro/usage${usageQuery(usageOptions, { group_by: usageOptions.groupBy ?? "key" })}`, wireUsageReportSchema),
  };
}
