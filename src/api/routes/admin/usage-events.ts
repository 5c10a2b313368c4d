import { Hono } from "hono";
import { MoestroError } from "../../../errors/index.js";
import { formatCsv } from "../../../util/format-csv.js";
import { toWireUsageEvent } from "../../../wire/admin.js";
import type { WireUsageEvent, WireUsageEventList } from "../../../wire/console.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { readUsageRange } from "./usage.js";

/** Most rows one call returns. */
const maxLimit = 100_000;

/** The CSV columns, in order: the wire event's fields. */
const csvColumns = [
  "request_id",
  "started_at",
  "key_id",
  "model",
  "endpoint",
  "stream",
  "status",
  "error_code",
  "prompt_tokens",
  "cached_prompt_tokens",
  "completion_tokens",
  "reasoning_tokens",
  "total_tokens",
  "cost_usd",
  "cloud_model",
  "cloud_cost_usd",
  "time_to_first_token_ms",
  "latency_ms",
  // Last: columns added later go at the end, so that readers by position keep working.
  "engine",
  "upstream",
  "attempts",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
  // Time pricing (migration 0007): the engine time, the cost exact to the nano-USD, and whether it is an estimate.
  "engine_time_ms",
  "cost_nano_usd",
  "cost_estimated",
  "usage_estimated",
  "requested_model",
] as const;

/**
 * `GET /v1/moestro/usage/events?from=&to=&key_id=&limit=&format=json|csv`: the ledger's rows (one per model
 * request) started in `[from, to)`, oldest first; `from` and `to` as in `GET /v1/moestro/usage`. `limit` defaults to
 * 1000 for JSON and to 100000 (the most) for CSV. JSON answers `{object: "list", data, has_more}`; CSV answers a header
 * line and one line per request (RFC 4180 quoting, times ISO 8601, money in USD), as an attachment. Admin key only
 * when key checks are on.
 *
 * @throws {MoestroError} 400 `invalid_request` for a bad `from`, `to`, `limit` or `format`.
 */
export function createAdminUsageEventRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  routes.get("/", async (c) => {
    const format = c.req.query("format") ?? "json";
    if (format !== "json" && format !== "csv")
      throw new MoestroError("invalid_request", `'format' must be json or csv; got '${format}'.`, { param: "format" });
    const limitText = c.req.query("limit");
    const limit = limitText === undefined || limitText === "" ? (format === "csv" ? maxLimit : 1000) : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit)
      throw new MoestroError("invalid_request", `'limit' must be a whole number from 1 to ${maxLimit}; got '${limitText}'.`, {
        param: "limit",
      });
    const keyId = c.req.query("key_id");
    const rows = await deps.admin!.usage.list({ ...readUsageRange(c, now()), keyId: keyId === "" ? undefined : keyId, limit: limit + 1 });
    const events = rows.slice(0, limit).map(toWireUsageEvent);
    if (format === "csv") {
      c.header("Content-Type", "text/csv; charset=utf-8");
      c.header("Content-Disposition", 'attachment; filename="moestro-usage.csv"');
      return c.body(formatUsageCsv(events));
    }
    const body: WireUsageEventList = { object: "list", data: events, has_more: rows.length > limit };
    return c.json(body);
  });
  return routes;
}

/** Ledger rows as CSV (`formatCsv`): a header line, then one line per row. */
function formatUsageCsv(events: readonly WireUsageEvent[]): string {
  const rows = events.map((event) => {
    const cells: Record<(typeof csvColumns)[number], string | number | boolean | null> = {
      request_id: event.request_id,
      started_at: new Date(event.started_at_ms).toISOString(),
      key_id: event.key_id,
      model: event.model,
      endpoint: event.endpoint,
      stream: event.stream,
      engine: event.engine ?? null,
      upstream: event.upstream ?? null,
      attempts: event.attempts ?? null,
      cache_creation_input_tokens: event.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: event.cache_read_input_tokens ?? 0,
      usage_estimated: event.usage_estimated ?? false,
      requested_model: event.requested_model ?? null,
      status: event.status,
      error_code: event.error_code,
      prompt_tokens: event.prompt_tokens,
      cached_prompt_tokens: event.cached_prompt_tokens,
      completion_tokens: event.completion_tokens,
      reasoning_tokens: event.reasoning_tokens,
      total_tokens: event.total_tokens,
      cost_usd: event.cost_usd,
      cloud_model: event.cloud_model,
      cloud_cost_usd: event.cloud_cost_usd,
      time_to_first_token_ms: event.time_to_first_token_ms,
      latency_ms: event.latency_ms,
      engine_time_ms: event.engine_time_ms ?? 0,
      cost_nano_usd: event.cost_nano_usd ?? event.cost_micro_usd * 1000,
      cost_estimated: event.cost_estimated ?? false,
    };
    return csvColumns.map((column) => cells[column]);
  });
  return formatCsv(csvColumns, rows);
}
