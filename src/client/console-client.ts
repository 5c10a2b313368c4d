import {
  wireLoadedModelListSchema,
  wireLoadResultSchema,
  wireModelEntryListSchema,
  wireModelPlanSchema,
  wirePullProgressSchema,
  wireResultListSchema,
  wireServerInfoSchema,
  wireUnloadResultSchema,
  wireUsageEventListSchema,
  type WireLoadedModel,
  type WireLoadResult,
  type WireModelEntry,
  type WireModelPlan,
  type WirePullProgress,
  type WireResultList,
  type WireServerInfo,
  type WireUnloadResult,
  type WireUsageEventList,
} from "../wire/console.js";
import { apiErrorFromBody, createAdminTransport, type AdminTransportOptions } from "./admin-transport.js";
import { readLines } from "./sse-reader.js";

/**
 * Options of {@link createConsoleClient}: the server (`baseUrl`; `""` means the page's own origin, the web console), its
 * admin key, `fetch` and the time limit of each call but pulls.
 */
export type ConsoleClientOptions = AdminTransportOptions;

/** A time range of the usage ledger: epoch ms, ISO 8601 dates or date-times, or durations before now (`7d`). */
export interface UsageRangeQuery {
  /** Inclusive start. Defaults to the beginning. */
  from?: string;
  /** Exclusive end. Defaults to now. */
  to?: string;
}

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
  /** Loads a model (`keepAlive`: `5m`, `-1` forever, `0`). @throws {ApiError} `model_not_found`, `insufficient_memory`. */
  loadModel(model: string, options?: { keepAlive?: string }): Promise<WireLoadResult>;
  /** Unloads a model now, or when its last request ends. @throws {ApiError} */
  unloadModel(model: string): Promise<WireUnloadResult>;
  /**
   * Pulls a model into the server's store and yields its progress as it comes: `resolving`, `downloading`…, then
   * `done` last. Breaking out of the loop or aborting `signal` stops waiting (the server keeps partial files).
   *
   * @throws {ApiError} for an error status, or the error line the server sends when the pull fails
   *   (`model_not_found`, `hub_unreachable`, `checksum_mismatch`).
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
  const usageQuery = (query: UsageRangeQuery & { limit?: number; keyId?: string; format?: string }): string => {
    const search = new URLSearchParams();
    if (query.from !== undefined) search.set("from", query.from);
    if (query.to !== undefined) search.set("to", query.to);
    if (query.limit !== undefined) search.set("limit", String(query.limit));
    if (query.keyId !== undefined) search.set("key_id", query.keyId);
    if (query.format !== undefined) search.set("format", query.format);
    const text = search.toString();
    return text === "" ? "" : `?${text}`;
  };
  return {
    info: () => call("GET", "/v1/moestro/info", wireServerInfoSchema),
    listModels: async () => (await call("GET", "/v1/moestro/models", wireModelEntryListSchema)).data,
    listLoaded: async () => (await call("GET", "/v1/moestro/ps", wireLoadedModelListSchema)).data,
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
        const json = JSON.parse(line) as unknown;
        if (typeof json === "object" && json !== null && "error" in json) throw apiErrorFromBody("POST", path, response, line);
        const parsed = wirePullProgressSchema.safeParse(json);
        if (parsed.success) yield parsed.data;
      }
    },
    planModel: (model) => call("GET", `/v1/moestro/plan?model=${encodeURIComponent(model)}`, wireModelPlanSchema),
    listResults: () => call("GET", "/v1/moestro/results", wireResultListSchema),
    listUsageEvents: (query = {}) => call("GET", `/v1/moestro/usage/events${usageQuery(query)}`, wireUsageEventListSchema),
    usageEventsCsv: async (query = {}) =>
      await (await send("GET", `/v1/moestro/usage/events${usageQuery({ ...query, format: "csv" })}`, { accept: "text/csv" })).text(),
  };
}
