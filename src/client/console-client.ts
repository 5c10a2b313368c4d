import type { z } from "zod";
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
import { AdminApiError } from "./admin-client.js";

/** Options of {@link createConsoleClient}. */
export interface ConsoleClientOptions {
  /** The server, `http://host:port` (a trailing `/v1` is accepted); `""` means the page's own origin (the web console). */
  baseUrl: string;
  /** The admin key, sent as `Authorization: Bearer`. Defaults to none (a server with key checks off). */
  adminKey?: string;
  /** The `fetch` to use. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Time limit of each call but pulls, ms. Defaults to 30000. */
  timeoutMs?: number;
}

/** A time range of the usage ledger: epoch ms, ISO 8601 dates or date-times, or durations before now (`7d`). */
export interface UsageRangeQuery {
  /** Inclusive start. Defaults to the beginning. */
  from?: string;
  /** Exclusive end. Defaults to now. */
  to?: string;
}

/**
 * A typed client of the model, plan, results and ledger endpoints under `/v1/moestro/` that the web console reads
 * (keys and usage totals are in `admin-client.ts`). Every method throws {@link AdminApiError} with the server's error
 * code and status, or `status` 0 and `connection_error` when the server cannot be reached.
 */
export interface ConsoleClient {
  /** `GET /v1/moestro/info`. A 401 `missing_api_key` means key checks are on and the console must log in. @throws {AdminApiError} */
  info(): Promise<WireServerInfo>;
  /** Every model the server can serve. @throws {AdminApiError} */
  listModels(): Promise<WireModelEntry[]>;
  /** The loaded models. @throws {AdminApiError} */
  listLoaded(): Promise<WireLoadedModel[]>;
  /** Loads a model (`keepAlive`: `5m`, `-1` forever, `0`). @throws {AdminApiError} `model_not_found`, `insufficient_memory`. */
  loadModel(model: string, options?: { keepAlive?: string }): Promise<WireLoadResult>;
  /** Unloads a model now, or when its last request ends. @throws {AdminApiError} */
  unloadModel(model: string): Promise<WireUnloadResult>;
  /**
   * Pulls a model into the server's store and yields its progress as it comes: `resolving`, `downloading`…, then
   * `done` last. Breaking out of the loop or aborting `signal` stops waiting (the server keeps partial files).
   *
   * @throws {AdminApiError} for an error status, or the error line the server sends when the pull fails
   *   (`model_not_found`, `hub_unreachable`, `checksum_mismatch`).
   */
  pullModel(model: string, options?: { signal?: AbortSignal }): AsyncGenerator<WirePullProgress, void, undefined>;
  /** The model's MoE facts and its plan on the server's machine. @throws {AdminApiError} `model_not_found`, `not_found` (no planner). */
  planModel(model: string): Promise<WireModelPlan>;
  /** Stored bench and eval results, newest first. @throws {AdminApiError} `not_found` when the server has no results folder. */
  listResults(): Promise<WireResultList>;
  /** Ledger rows (one per model request) in a range, oldest first, at most `limit` (default 1000). @throws {AdminApiError} */
  listUsageEvents(options?: UsageRangeQuery & { limit?: number; keyId?: string }): Promise<WireUsageEventList>;
  /** The ledger rows of a range as CSV (header line, one line per request). @throws {AdminApiError} */
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
  const baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const fetchFn = options.fetch ?? fetch;
  const headers = (extra: Record<string, string> = {}): Record<string, string> => {
    const all: Record<string, string> = { accept: "application/json", ...extra };
    if (options.adminKey !== undefined) all.authorization = `Bearer ${options.adminKey}`;
    return all;
  };
  const send = async (
    method: string,
    path: string,
    init: { body?: unknown; accept?: string; signal?: AbortSignal } = {},
  ): Promise<Response> => {
    const extra: Record<string, string> = {};
    if (init.body !== undefined) extra["content-type"] = "application/json";
    if (init.accept !== undefined) extra.accept = init.accept;
    let response: Response;
    try {
      response = await fetchFn(`${baseUrl}${path}`, {
        method,
        headers: headers(extra),
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal ?? AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new AdminApiError(`Cannot reach ${baseUrl || "the server"}: ${(error as Error).message}`, {
        status: 0,
        code: "connection_error",
        cause: error,
      });
    }
    if (!response.ok) throw errorFromBody(method, path, response.status, await response.text());
    return response;
  };
  const call = async <T>(method: string, path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, body?: unknown): Promise<T> => {
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
      throw new AdminApiError(
        `${method} ${path} answered an unexpected body: ${issue ? `'${issue.path.join(".")}' ${issue.message}` : "invalid"}.`,
        { status: response.status },
      );
    }
    return parsed.data;
  };
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
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let isDone = false;
      try {
        while (!isDone) {
          const { done, value } = await reader.read();
          isDone = done;
          buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
          const lines = buffer.split("\n");
          buffer = isDone ? "" : lines.pop()!;
          for (const line of lines) {
            if (line.trim() === "") continue;
            const json = JSON.parse(line) as unknown;
            if (typeof json === "object" && json !== null && "error" in json) throw errorFromBody("POST", path, response.status, line);
            const parsed = wirePullProgressSchema.safeParse(json);
            if (parsed.success) yield parsed.data;
          }
        }
      } finally {
        if (!isDone) await reader.cancel().catch(() => undefined);
        reader.releaseLock();
      }
    },
    planModel: (model) => call("GET", `/v1/moestro/plan?model=${encodeURIComponent(model)}`, wireModelPlanSchema),
    listResults: () => call("GET", "/v1/moestro/results", wireResultListSchema),
    listUsageEvents: (query = {}) => call("GET", `/v1/moestro/usage/events${usageQuery(query)}`, wireUsageEventListSchema),
    usageEventsCsv: async (query = {}) =>
      await (await send("GET", `/v1/moestro/usage/events${usageQuery({ ...query, format: "csv" })}`, { accept: "text/csv" })).text(),
  };
}

/** The {@link AdminApiError} an error body stands for (an OpenAI-style `{"error": …}`, or any text). */
function errorFromBody(method: string, path: string, status: number, text: string): AdminApiError {
  let error: { message?: string; code?: string | null; type?: string | null; param?: string | null } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  return new AdminApiError(error?.message ?? `${method} ${path} failed with HTTP ${status}.`, {
    status,
    code: error?.code,
    type: error?.type,
    param: error?.param,
  });
}
