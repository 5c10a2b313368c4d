import {
  wireLoadedModelListSchema,
  wireLoadResultSchema,
  wireModelEntryListSchema,
  wireModelPlanSchema,
  wirePullProgressSchema,
  wireResultListSchema,
  wireServerInfoSchema,
  wireUnloadResultSchema,
  wireUpstreamListSchema,
  wireUsageEventListSchema,
  type WireLoadedModel,
  type WireLoadResult,
  type WireModelEntry,
  type WireModelPlan,
  type WirePullProgress,
  type WireResultList,
  type WireServerInfo,
  type WireUnloadResult,
  type WireUpstreamList,
  type WireUsageEventList,
} from "../wire/console.js";
import { createAdminTransport, usageQuery, type AdminTransportOptions, type UsageRangeQuery } from "./admin-transport.js";
import { ApiError, apiErrorFromResponse } from "./api-error.js";
import { readLines } from "./sse-reader.js";

/**
 * Options of {@link createConsoleClient}: the server (`baseUrl`; `""` means the page's own origin, the web console), its
 * admin key, `fetch` and the time limit of each call but pulls.
 */
export type ConsoleClientOptions = AdminTransportOptions;

/**
 * A typed client of the model, plan, results and ledger endpoints under `/v1/moestro/` that the web console reads
 * (keys and usage totals are in `admin-client.ts`). Every method throws {@link ApiError} with the server's error
 * code and status, or `status` 0 and `connection_error` when the server cannot be reached.
 */
export interface ConsoleClient {
  /** `GET /v1/moestro/info`. A 401 `missing_api_key` means key checks are on and the console must log in. @throws {ApiError} */
  info(): Promise<WireServerInfo>;
  /** Every model the server can serve. @throws {ApiError} */
  listModels(): Promise<WireModelEntry[]>;
  /** The loaded models. @throws {ApiError} */
  listLoaded(): Promise<WireLoadedModel[]>;
  /**
   * Every upstream with its state, load, errors and latency, and the pools their models make (empty lists on a server
   * without upstreams). @throws {ApiError} `not_found` from a server older than the endpoint.
   */
  listUpstreams(): Promise<WireUpstreamList>;
  /** Loads a model (`keepAlive`: `5m`, `-1` forever, `0`). @throws {ApiError} `model_not_found`, `insufficient_memory`. */
  loadModel(model: string, options?: { keepAlive?: string }): Promise<WireLoadResult>;
  /** Unloads a model now, or when its last request ends. @throws {ApiError} */
  unloadModel(model: string): Promise<WireUnloadResult>;
  /**
   * Pulls a model into the server's store and yields its progress as it comes: `resolving`, `downloading`…, then
   * `done` last. Breaking out of the loop or aborting `signal` stops waiting (the server keeps partial files).
   *
   * @throws {ApiError} for an error status, or the error line the server sends when the pull fails
   *   (`model_not_found`, `hub_unreachable`, `checksum_mismatch`); `invalid_response` (the response's status) for a line
   *   that is not JSON.
   */
  pullModel(model: string, options?: { signal?: AbortSignal }): AsyncGenerator<WirePullProgress, void, undefined>;
  /** The model's MoE facts and its plan on the server's machine. @throws {ApiError} `model_not_found`, `not_found` (no planner). */
  planModel(model: string): Promise<WireModelPlan>;
  /** Stored bench and eval results, newest first. @throws {ApiError} `not_found` when the server has no results folder. */
  listResults(): Promise<WireResultList>;
  /** Ledger rows (one per model request) in a range, oldest first, at most `limit` (default 1000). @throws {ApiError} */
  listUsageEvents(options?: UsageRangeQuery & { limit?: number; keyId?: string }): Promise<WireUsageEventList>;
  /** The ledger rows of a range as CSV (header line, one line per request). @throws {ApiError} */
  usageEventsCsv(options?: UsageRangeQuery & { keyId?: string }): Promise<string>;
}

/**
 * Creates a {@link ConsoleClient}.
 *
 * @example
 * const client = createConsoleClient({baseUrl: "http://127.0.0.1:8080", adminKey: process.env.MOESTRO_ADMIN_KEY});
 * for await (const progress of client.pullModel("hf:Qwen/Qwen3-0.6B-GGUF:Q8_0")) console.log(progress.completed_bytes);
 */
export function createConsoleClient(options: ConsoleClientOptions): ConsoleClient {
  const { send, call } = createAdminTransport(options);
  return {
    info: () => call("GET", "/v1/moestro/info", wireServerInfoSchema),
    listModels: async () => (await call("GET", "/v1/moestro/models", wireModelEntryListSchema)).data,
    listLoaded: async () => (await call("GET", "/v1/moestro/ps", wireLoadedModelListSchema)).data,
    listUpstreams: () => call("GET", "/v1/moestro/upstreams", wireUpstreamListSchema),
    loadModel: (model, loadOptions = {}) =>
      call("POST", "/v1/moestro/models/load", wireLoadResultSchema, {
        model,
        ...(loadOptions.keepAlive === undefined ? {} : { keep_alive: loadOptions.keepAlive }),
      }),
    unloadModel: (model) => call("POST", "/v1/moestro/models/unload", wireUnloadResultSchema, { model }),
    async *pullModel(model, pullOptions = {}) {
      const path = "/v1/moestro/pull";
      const response = await send("POST", path, {
        body: { model },
        accept: "application/x-ndjson",
        signal: pullOptions.signal ?? new AbortController().signal,
      });
      if (response.body === null) return;
      for await (const line of readLines(response.body)) {
        if (line.trim() === "") continue;
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch (error) {
          throw new ApiError(`POST ${path} sent a line that is not JSON: ${line.slice(0, 200)}`, {
            status: response.status,
            code: "invalid_response",
            requestId: response.headers.get("x-request-id"),
            cause: error,
          });
        }
        if (typeof json === "object" && json !== null && "error" in json) throw apiErrorFromResponse(response, line, `POST ${path}`);
        const parsed = wirePullProgressSchema.safeParse(json);
        if (parsed.success) yield parsed.data;
      }
    },
    planModel: (model) => call("GET", `/v1/moestro/plan?model=${encodeURIComponent(model)}`, wireModelPlanSchema),
    listResults: () => call("GET", "/v1/moestro/results", wireResultListSchema),
    listUsageEvents: (query = {}) =>
      call("GET", `/v1/moestro/usage/events${usageQuery(query, { limit: query.limit, key_id: query.keyId })}`, wireUsageEventListSchema),
    usageEventsCsv: async (query = {}) =>
      await (
        await send("GET", `/v1/moestro/usage/events${usageQuery(query, { key_id: query.keyId, format: "csv" })}`, { accept: "text/csv" })
      ).text(),
  };
}
