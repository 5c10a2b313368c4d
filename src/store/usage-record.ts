import type { Selectable } from "kysely";
import type { UsageEventsTable } from "./database.js";

/** The additive counters of a ledger row, of a day's rollup and of a group of rows: tokens and money. */
export interface UsageTotals {
  /** Every prompt token, cached ones included. */
  promptTokens: number;
  /** Prompt tokens served from a reused KV-cache prefix, a subset of `promptTokens`. */
  cachedPromptTokens: number;
  /** Generated tokens, reasoning included. */
  completionTokens: number;
  /** Generated tokens that were reasoning, a subset of `completionTokens`. */
  reasoningTokens: number;
  /** Speculative decoding: tokens drafted and checked by the model (0 when the request did not speculate). */
  draftTokens: number;
  /** Speculative decoding: of `draftTokens`, those the model accepted. */
  acceptedDraftTokens: number;
  /** Explicit cache (`cache_control`): prompt tokens written to it, a subset of `promptTokens` (0 when none was marked). */
  cacheCreationInputTokens: number;
  /** Explicit cache: prompt tokens read from it, a subset of `promptTokens`. */
  cacheReadInputTokens: number;
  /** Cost by the price book, micro-USD. */
  costMicroUsd: number;
  /** The same tokens at the cloud list price of the nearest model, micro-USD (0 when none is known). */
  cloudCostMicroUsd: number;
  /** The local engine's busy time charged to the requests, µs (0 when not measured: upstream requests; migration 0007). */
  engineTimeUs: number;
  /**
   * Cost by the price book, nano-USD (migration 0007): the reports' figure, exact below the micro-USD. Rows written
   * before 0007 hold `costMicroUsd × 1000`.
   */
  costNanoUsd: number;
  /** `cloudCostMicroUsd` in nano-USD (migration 0007). */
  cloudCostNanoUsd: number;
  /** Requests whose cost is an estimate (time pricing at a default power or electricity price; migration 0007). */
  estimatedCostRequests: number;
}

/** The column of each {@link UsageTotals} counter, in `usage_events` and `usage_daily` alike. */
export const usageTotalColumns = {
  promptTokens: "prompt_tokens",
  cachedPromptTokens: "cached_prompt_tokens",
  completionTokens: "completion_tokens",
  reasoningTokens: "reasoning_tokens",
  draftTokens: "draft_tokens",
  acceptedDraftTokens: "accepted_draft_tokens",
  cacheCreationInputTokens: "cache_creation_input_tokens",
  cacheReadInputTokens: "cache_read_input_tokens",
  costMicroUsd: "cost_micro_usd",
  cloudCostMicroUsd: "cloud_cost_micro_usd",
  engineTimeUs: "engine_time_us",
  costNanoUsd: "cost_nano_usd",
  cloudCostNanoUsd: "cloud_cost_nano_usd",
  estimatedCostRequests: "cost_estimated",
} as const satisfies Record<keyof UsageTotals, keyof UsageEventsTable>;

/** A counter's column name. */
export type UsageTotalColumn = (typeof usageTotalColumns)[keyof UsageTotals];

/** Totals of 0. */
export function zeroUsageTotals(): UsageTotals {
  return {
    promptTokens: 0,
    cachedPromptTokens: 0,
    completionTokens: 0,
    reasoningTokens: 0,
    draftTokens: 0,
    acceptedDraftTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
    costMicroUsd: 0,
    cloudCostMicroUsd: 0,
    engineTimeUs: 0,
    costNanoUsd: 0,
    cloudCostNanoUsd: 0,
    estimatedCostRequests: 0,
  };
}

/** Adds `source`'s counters to `target`'s, in place. */
export function addUsageTotals(target: UsageTotals, source: UsageTotals): void {
  for (const field of Object.keys(usageTotalColumns) as Array<keyof UsageTotals>) target[field] += source[field];
}

/**
 * The counters of a SQL row (an event, a rollup or a group's sums), as numbers: PostgreSQL's `sum` is `numeric`, and a
 * group without rows sums to `null`.
 */
export function readUsageTotals(row: { [column in UsageTotalColumn]: unknown }): UsageTotals {
  const totals = zeroUsageTotals();
  for (const [field, column] of Object.entries(usageTotalColumns) as Array<[keyof UsageTotals, UsageTotalColumn]>)
    totals[field] = Number(row[column] ?? 0);
  return totals;
}

/**
 * One ledger row: the fields of a `UsageEvent` (src/spec/usage.ts) with its cost. The speculative decoding counters
 * may be left out where a request did not speculate, and the explicit cache's where it marked none (0 in the row).
 */
export interface UsageRecord
  extends Omit<
    UsageTotals,
    | "draftTokens"
    | "acceptedDraftTokens"
    | "cacheCreationInputTokens"
    | "cacheReadInputTokens"
    | "engineTimeUs"
    | "costNanoUsd"
    | "cloudCostNanoUsd"
    | "estimatedCostRequests"
  > {
  /** Explicit cache (`cache_control`): prompt tokens written to it; absent or 0 when the request marked none. */
  cacheCreationInputTokens?: number;
  /** Explicit cache: prompt tokens read from it; absent or 0 when the request marked none. */
  cacheReadInputTokens?: number;
  /** The local engine's busy time charged to the request, µs; absent or 0 when not measured (migration 0007). */
  engineTimeUs?: number;
  /** The cost in nano-USD; absent: `costMicroUsd × 1000` (migration 0007). */
  costNanoUsd?: number;
  /** The cloud-equivalent cost in nano-USD; absent: `cloudCostMicroUsd × 1000` (migration 0007). */
  cloudCostNanoUsd?: number;
  /** Whether the cost is an estimate (time pricing at a default power or electricity price); absent: false. */
  costEstimated?: boolean;
  /** Speculative decoding: tokens drafted and checked by the model; absent or 0 when the request did not speculate. */
  draftTokens?: number;
  /** Speculative decoding: of `draftTokens`, those the model accepted; absent or 0 when it did not speculate. */
  acceptedDraftTokens?: number;
  /** The request id; unique in the ledger. */
  requestId: string;
  /** The API key's id (`admin` for the admin key), `undefined` when key checks are off. */
  keyId?: string;
  /** The model id that served the request. */
  model: string;
  /** `chat.completions`, `completions` or `embeddings`. */
  endpoint: string;
  /** Whether the response was streamed. */
  stream: boolean;
  /**
   * Which engine served it: `inproc` or `llama-server` (spec `EngineKind`); `undefined` for rows written before the
   * ledger recorded it (migration 0003).
   */
  engine?: string;
  /** The upstream that served it (engine `upstream`, docs/gateway.md); `undefined` otherwise. */
  upstream?: string;
  /** Upstreams tried before one answered, that one included (engine `upstream`); `undefined` otherwise. */
  attempts?: number;
  /** Whether the token counts are estimates (an upstream that sent no usage, no tokenizer here); absent when exact. */
  usageEstimated?: boolean;
  /** The model the client asked for when a fallback answered (`model` is the answering one); absent otherwise. */
  requestedModel?: string;
  /** How the request ended, or `running`; see {@link UsageRecordStatus}. */
  status: UsageRecordStatus;
  /** The error code when `status` is `error`. */
  errorCode?: string;
  /** `effectiveFrom` of the price entry of `costMicroUsd`, epoch ms; `undefined` when the model had none (cost 0). */
  priceEffectiveAtMs?: number;
  /** The cloud model of `cloudCostMicroUsd`, or `undefined` when none is known. */
  cloudModel?: string;
  /** Start of the request, epoch ms. */
  startedAtMs: number;
  /** Time to first token, ms; `undefined` when none was generated. */
  timeToFirstTokenMs?: number;
  /** Whole request, ms (for a running row: until its last heartbeat). */
  latencyMs: number;
  /** The server instance that owns the row while it runs (`<hostname>:<pid>:<hex>`); `undefined` for rows written whole. */
  instanceId?: string;
  /** The last flush of its counters while it ran, epoch ms; `undefined` for rows written whole. */
  heartbeatAtMs?: number;
  /** The worst-case cost held against its key's budget while `running`, micro-USD; `undefined` once settled. */
  reservedMicroUsd?: number;
}

/**
 * The state of a ledger row.
 * - `running`: admitted and not ended; the counters and the cost are those of its last heartbeat.
 * - `ok`, `error`, `aborted`: ended as the request's `UsageEvent` says.
 * - `interrupted`: its server instance went away while it ran; settled with the counters of its last heartbeat.
 */
export type UsageRecordStatus = "running" | "ok" | "error" | "aborted" | "interrupted";

/**
 * How usage rows are grouped.
 * - `key`: one row per API key id (`null` group: requests made without a key).
 * - `model`: one row per model id.
 * - `day`: one row per UTC calendar day, `YYYY-MM-DD`.
 */
export type UsageGroupBy = "key" | "model" | "day";

/** Totals of one group of ledger rows. */
export interface UsageSummaryRow extends UsageTotals {
  /** The key id, model id or day; `null` for requests made without a key when grouping by key. */
  group: string | null;
  /** The key's name, when grouping by key and the key exists. */
  keyName?: string;
  /** The cloud model of the cloud-equivalent cost (the greatest name when the group used several). */
  cloudModel?: string;
  /** Requests, whatever their status. */
  requests: number;
  /** Requests that ended with an error after the model started. */
  errorRequests: number;
  /** Requests whose client went away. */
  abortedRequests: number;
  /** Requests cut by the end of their server instance (a crash), priced by their last heartbeat. */
  interruptedRequests: number;
  /** Requests whose token counts are estimates (`usage_estimated`, migration 0010). */
  estimatedRequests: number;
}

/** A time range over `started_at`: `fromMs <= startedAtMs < toMs`; a missing end is open. */
export interface UsageRange {
  /** Inclusive start, epoch ms. Defaults to the beginning. */
  fromMs?: number;
  /** Exclusive end, epoch ms. Defaults to no end. */
  toMs?: number;
}

/**
 * The UTC calendar day of `epochMs`, `YYYY-MM-DD`, as `new Date(epochMs).toISOString().slice(0, 10)` gives it for years
 * 0 to 9999. Computed from the day number (Howard Hinnant's `civil_from_days`, howardhinnant.github.io/date_algorithms.html)
 * rather than through a `Date` and its ISO string: every ledger write reads it (docs/gateway.md, "Overhead").
 */
export function utcDay(epochMs: number): string {
  const days = Math.floor(epochMs / 86_400_000) + 719_468;
  const era = Math.floor(days / 146_097);
  const dayOfEra = days - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${String(year).padStart(4, "0")}-${month < 10 ? "0" : ""}${month}-${day < 10 ? "0" : ""}${day}`;
}

/** The one place where a {@link UsageRecord} becomes a `usage_events` row. */
export function toUsageEventRow(record: UsageRecord, recordedAtMs: number): Selectable<UsageEventsTable> {
  return {
    request_id: record.requestId,
    key_id: record.keyId ?? null,
    model: record.model,
    endpoint: record.endpoint,
    stream: record.stream ? 1 : 0,
    status: record.status,
    error_code: record.errorCode ?? null,
    prompt_tokens: record.promptTokens,
    cached_prompt_tokens: record.cachedPromptTokens,
    completion_tokens: record.completionTokens,
    reasoning_tokens: record.reasoningTokens,
    draft_tokens: record.draftTokens ?? 0,
    accepted_draft_tokens: record.acceptedDraftTokens ?? 0,
    cache_creation_input_tokens: record.cacheCreationInputTokens ?? 0,
    cache_read_input_tokens: record.cacheReadInputTokens ?? 0,
    cost_micro_usd: record.costMicroUsd,
    price_effective_at: record.priceEffectiveAtMs ?? null,
    cloud_model: record.cloudModel ?? null,
    cloud_cost_micro_usd: record.cloudCostMicroUsd,
    engine_time_us: record.engineTimeUs ?? 0,
    cost_nano_usd: record.costNanoUsd ?? record.costMicroUsd * 1000,
    cloud_cost_nano_usd: record.cloudCostNanoUsd ?? record.cloudCostMicroUsd * 1000,
    cost_estimated: record.costEstimated === true ? 1 : 0,
    started_at: record.startedAtMs,
    day: utcDay(record.startedAtMs),
    time_to_first_token_ms: record.timeToFirstTokenMs ?? null,
    latency_ms: record.latencyMs,
    recorded_at: recordedAtMs,
    instance_id: record.instanceId ?? null,
    heartbeat_at: record.heartbeatAtMs ?? null,
    reserved_micro_usd: record.status === "running" ? (record.reservedMicroUsd ?? 0) : 0,
    engine: record.engine ?? null,
    upstream: record.upstream ?? null,
    attempts: record.attempts ?? null,
    usage_estimated: record.usageEstimated === true ? 1 : 0,
    requested_model: record.requestedModel ?? null,
  };
}

/** The one place where a `usage_events` row becomes a {@link UsageRecord}. */
export function toUsageRecord(row: Selectable<UsageEventsTable>): UsageRecord {
  const {
    draftTokens,
    acceptedDraftTokens,
    cacheCreationInputTokens,
    cacheReadInputTokens,
    estimatedCostRequests,
    engineTimeUs,
    costNanoUsd,
    cloudCostNanoUsd,
    ...totals
  } = readUsageTotals(row);
  const record: UsageRecord = {
    requestId: row.request_id,
    model: row.model,
    endpoint: row.endpoint,
    stream: Number(row.stream) === 1,
    status: row.status as UsageRecord["status"],
    ...totals,
    startedAtMs: Number(row.started_at),
    latencyMs: Number(row.latency_ms),
  };
  // Rows of requests that did not speculate leave the draft counters out, as their records do.
  if (draftTokens > 0 || acceptedDraftTokens > 0) Object.assign(record, { draftTokens, acceptedDraftTokens });
  // Likewise the explicit cache's counters, for rows of requests that marked no `cache_control`.
  if (cacheCreationInputTokens > 0 || cacheReadInputTokens > 0) Object.assign(record, { cacheCreationInputTokens, cacheReadInputTokens });
  // Likewise the fields of migration 0007, where they say no more than the row's other fields (no engine time, the
  // micro-USD costs × 1000, not an estimate): a record written without them reads back as it was written.
  if (engineTimeUs > 0) record.engineTimeUs = engineTimeUs;
  if (costNanoUsd !== totals.costMicroUsd * 1000) record.costNanoUsd = costNanoUsd;
  if (cloudCostNanoUsd !== totals.cloudCostMicroUsd * 1000) record.cloudCostNanoUsd = cloudCostNanoUsd;
  if (estimatedCostRequests > 0) record.costEstimated = true;
  if (row.key_id !== null) record.keyId = row.key_id;
  if (row.engine !== null) record.engine = row.engine;
  if (row.upstream !== null && row.upstream !== undefined) record.upstream = row.upstream;
  if (row.attempts !== null && row.attempts !== undefined) record.attempts = Number(row.attempts);
  if (Number(row.usage_estimated ?? 0) === 1) record.usageEstimated = true;
  if (row.requested_model !== null && row.requested_model !== undefined) record.requestedModel = row.requested_model;
  if (row.error_code !== null) record.errorCode = row.error_code;
  if (row.price_effective_at !== null) record.priceEffectiveAtMs = Number(row.price_effective_at);
  if (row.cloud_model !== null) record.cloudModel = row.cloud_model;
  if (row.time_to_first_token_ms !== null) record.timeToFirstTokenMs = Number(row.time_to_first_token_ms);
  if (row.instance_id !== null) record.instanceId = row.instance_id;
  if (row.heartbeat_at !== null) record.heartbeatAtMs = Number(row.heartbeat_at);
  if (row.status === "running") record.reservedMicroUsd = Number(row.reserved_micro_usd);
  return record;
}
