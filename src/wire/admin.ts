/**
 * Wire types of the admin API under `/v1/moestro/` (keys and usage), shared by the routes, the typed client in
 * `client/` and the CLI's `--json` output. snake_case, like the rest of the OpenAI-style API; converted to and from the
 * internal camelCase shapes only here.
 */
import { z } from "zod";
import type { CreateApiKeyInput } from "../auth/key-service.js";
import { MoestroError } from "../errors/index.js";
import type { KeyBudgetUse } from "../metering/budget-guard.js";
import type { TimeRate } from "../metering/time-pricing.js";
import type { UsageReport, UsageReportRow } from "../metering/usage-report.js";
import type { ApiKey, UsageRecord, UsageTotals } from "../store/index.js";
import type { WireUsageEvent } from "./console.js";

/** An API key as the admin API shows it. Times are epoch ms. */
export const wireApiKeySchema = z.object({
  object: z.literal("moestro.api_key"),
  id: z.string(),
  name: z.string(),
  /** The secret's first 12 characters. */
  prefix: z.string(),
  models: z.array(z.string()).nullable(),
  requests_per_minute: z.number().int().nullable(),
  tokens_per_minute: z.number().int().nullable(),
  budget_micro_usd: z.number().int().nullable(),
  budget_period: z.enum(["day", "month"]).nullable(),
  created_at_ms: z.number(),
  expires_at_ms: z.number().nullable(),
  revoked_at_ms: z.number().nullable(),
  /**
   * In key lists (`GET /v1/moestro/keys`, `moestro keys ls`): what a key with a budget has committed in its current
   * period, from the ledger the budget guard reads; `null` for a key without a budget. Absent elsewhere (create,
   * revoke) and from older servers.
   */
  budget_use: z
    .object({
      /** First day of the current period, `YYYY-MM-DD` (UTC). */
      period_start_day: z.string(),
      /** When the budget renews, epoch ms. */
      renews_at_ms: z.number(),
      /** Settled spend in the period, micro-USD. */
      spent_micro_usd: z.number(),
      /** Worst cases reserved by the key's running requests, micro-USD. */
      reserved_micro_usd: z.number(),
    })
    .nullable()
    .optional(),
});
/** An API key as the admin API shows it. */
export type WireApiKey = z.infer<typeof wireApiKeySchema>;

/** The answer to creating a key: the key and, this once, its `secret`. */
export const wireCreatedApiKeySchema = wireApiKeySchema.extend({ secret: z.string() });
/** The answer to creating a key. */
export type WireCreatedApiKey = z.infer<typeof wireCreatedApiKeySchema>;

/** `GET /v1/moestro/keys`. */
export const wireApiKeyListSchema = z.object({ object: z.literal("list"), data: z.array(wireApiKeySchema) });
/** `GET /v1/moestro/keys`. */
export type WireApiKeyList = z.infer<typeof wireApiKeyListSchema>;

/** The body of `POST /v1/moestro/keys`. Limits left out mean none. */
export const createKeyBodySchema = z
  .object({
    name: z.string(),
    models: z.array(z.string()).optional(),
    requests_per_minute: z.number().optional(),
    tokens_per_minute: z.number().optional(),
    budget_micro_usd: z.number().optional(),
    budget_period: z.enum(["day", "month"]).optional(),
    expires_in_ms: z.number().optional(),
  })
  .strict();
/** The body of `POST /v1/moestro/keys`. */
export type CreateKeyBody = z.infer<typeof createKeyBodySchema>;

/**
 * Token counts and costs, as a usage report row and a ledger event both carry them. Money in integer micro-USD, with a
 * dollar figure beside it for reading; the cloud figures are the same tokens at the list price of the nearest model.
 */
export const wireTokenCostFields = {
  prompt_tokens: z.number(),
  cached_prompt_tokens: z.number(),
  completion_tokens: z.number(),
  reasoning_tokens: z.number(),
  /** Speculative decoding: tokens drafted and checked by the model (0 without speculation; absent from older servers). */
  draft_tokens: z.number().optional(),
  /** Speculative decoding: of `draft_tokens`, those the model accepted. */
  accepted_draft_tokens: z.number().optional(),
  /** Explicit cache (`cache_control`): prompt tokens written to it (absent from older servers). */
  cache_creation_input_tokens: z.number().optional(),
  /** Explicit cache: prompt tokens read from it (absent from older servers). */
  cache_read_input_tokens: z.number().optional(),
  total_tokens: z.number(),
  cost_micro_usd: z.number(),
  cost_usd: z.number(),
  /** The cloud model of the comparison, or `null`. */
  cloud_model: z.string().nullable(),
  /** The same tokens at the cloud list price of the nearest model, micro-USD. */
  cloud_cost_micro_usd: z.number(),
  cloud_cost_usd: z.number(),
  /** The local engine's busy time charged, ms (0 when not measured: upstream requests; absent from older servers). */
  engine_time_ms: z.number().optional(),
  /** The cost in nano-USD: exact below the micro-USD (the figure to read; `cost_micro_usd` is rounded). */
  cost_nano_usd: z.number().optional(),
  /** The cloud-equivalent cost in nano-USD. */
  cloud_cost_nano_usd: z.number().optional(),
  /** `cloud_cost_nano_usd − cost_nano_usd`: what serving here saved against the list price; negative when it cost more. */
  difference_nano_usd: z.number().optional(),
  /** Whether the cost (some of it, for a group) is an estimate: time pricing at a default power or electricity price. */
  cost_estimated: z.boolean().optional(),
};

/** The {@link wireTokenCostFields} of a row. */
export type WireTokenCost = z.infer<z.ZodObject<typeof wireTokenCostFields>>;

/** The hourly cost of engine time that time pricing uses, with what it rests on (docs/studio.md, "Cost of local tokens"). */
export const wireTimeRateSchema = z.object({
  /** Amortised hardware, micro-USD per hour. */
  hardware_micro_usd_per_hour: z.number(),
  watts: z.number(),
  /** `configured`, or where the planner's figure comes from. */
  watts_source: z.string(),
  micro_usd_per_kwh: z.number(),
  /** `configured`, or the default's source. */
  electricity_source: z.string(),
  /** `hardware_micro_usd_per_hour + watts / 1000 × micro_usd_per_kwh`. */
  micro_usd_per_hour: z.number(),
  /** Whether the power or the electricity price is a default. */
  estimated: z.boolean(),
});
/** An hourly cost of engine time. */
export type WireTimeRate = z.infer<typeof wireTimeRateSchema>;

/** How a model row's model is priced now, and the planner's prediction (see `ModelPricing`). */
export const wireModelPricingSchema = z.object({
  /** `time`: by engine time at `rate`; `tokens`: by a `tiers` or `hourly` entry of the price book. */
  basis: z.enum(["time", "tokens"]),
  rate: wireTimeRateSchema.nullable(),
  /** The planner's predicted cost per 1M output tokens at `rate`, one sequence alone; `null` when it cannot plan the model. */
  planned_single_micro_usd_per_million_output_tokens: z.number().nullable(),
  /** The same with all the server's sequences decoding together (a busy server). */
  planned_busy_micro_usd_per_million_output_tokens: z.number().nullable(),
});
/** How a model is priced now. */
export type WireModelPricing = z.infer<typeof wireModelPricingSchema>;

/** Totals of one group in a usage report. Money in integer micro-USD, with a dollar figure beside it for reading. */
export const wireUsageRowSchema = z.object({
  /** The key's name, the model id, the day `YYYY-MM-DD`, or `total`. */
  name: z.string(),
  /** The key id, model id or day; `null` for requests without a key and for the total. */
  group: z.string().nullable(),
  requests: z.number(),
  error_requests: z.number(),
  aborted_requests: z.number(),
  /** Requests cut by the end of their server instance (a crash), priced by the tokens of their last heartbeat. */
  interrupted_requests: z.number(),
  /**
   * Requests whose token counts are estimates (an upstream that sent no usage, for a model this server has no tokenizer
   * of; docs/gateway.md). Absent from older servers.
   */
  usage_estimated_requests: z.number().optional(),
  ...wireTokenCostFields,
  /** Requests whose cost is an estimate. */
  estimated_requests: z.number().optional(),
  /** `cost_nano_usd × 1000 / completion_tokens`: measured cost per 1M output tokens, micro-USD; `null` without output. */
  measured_micro_usd_per_million_output_tokens: z.number().nullable().optional(),
  /** Rows of `group_by=model`: how the model is priced now and what the planner predicts; `null` otherwise. */
  pricing: wireModelPricingSchema.nullable().optional(),
});
/** Totals of one group in a usage report. */
export type WireUsageRow = z.infer<typeof wireUsageRowSchema>;

/** `GET /v1/moestro/usage`. */
export const wireUsageReportSchema = z.object({
  object: z.literal("moestro.usage_report"),
  group_by: z.enum(["key", "model", "day"]),
  from_ms: z.number().nullable(),
  to_ms: z.number().nullable(),
  data: z.array(wireUsageRowSchema),
  total: wireUsageRowSchema,
  /** The hourly cost of time pricing now, for models without their own price entry; `null` when not known. */
  time_rate: wireTimeRateSchema.nullable().optional(),
  /**
   * Requests of the range that cost $0 for want of a price (an upstream's model the price book gives no `tiers` or
   * `hourly` price): they count against no budget. `null` when not known; absent from older servers.
   */
  unpriced: z
    .object({ requests: z.number(), models: z.array(z.string()) })
    .nullable()
    .optional(),
});
/** `GET /v1/moestro/usage`. */
export type WireUsageReport = z.infer<typeof wireUsageReportSchema>;

/** A key with what it committed against its budget, as key lists show it (`budget_use`, `null` without a budget). */
export function toWireListedApiKey(key: ApiKey, use: KeyBudgetUse | undefined): WireApiKey {
  return {
    ...toWireApiKey(key),
    budget_use:
      use === undefined
        ? null
        : {
            period_start_day: use.periodStartDay,
            renews_at_ms: use.renewsAtMs,
            spent_micro_usd: use.spentMicroUsd,
            reserved_micro_usd: use.reservedMicroUsd,
          },
  };
}

/** The key as the admin API shows it. */
export function toWireApiKey(key: ApiKey): WireApiKey {
  return {
    object: "moestro.api_key",
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    models: key.models === undefined ? null : [...key.models],
    requests_per_minute: key.requestsPerMinute ?? null,
    tokens_per_minute: key.tokensPerMinute ?? null,
    budget_micro_usd: key.budgetMicroUsd ?? null,
    budget_period: key.budgetPeriod ?? null,
    created_at_ms: key.createdAtMs,
    expires_at_ms: key.expiresAtMs ?? null,
    revoked_at_ms: key.revokedAtMs ?? null,
  };
}

/** The key-creation input a wire body stands for (validated later by the key service). */
export function fromCreateKeyBody(body: CreateKeyBody): CreateApiKeyInput {
  return {
    name: body.name,
    models: body.models,
    requestsPerMinute: body.requests_per_minute,
    tokensPerMinute: body.tokens_per_minute,
    budgetMicroUsd: body.budget_micro_usd,
    budgetPeriod: body.budget_period,
    expiresInMs: body.expires_in_ms,
  };
}

/** The wire field of each key-creation input field (`CreateApiKeyInput` → {@link CreateKeyBody}). */
const createKeyWireFields: Readonly<Record<keyof CreateApiKeyInput, keyof CreateKeyBody>> = {
  name: "name",
  models: "models",
  requestsPerMinute: "requests_per_minute",
  tokensPerMinute: "tokens_per_minute",
  budgetMicroUsd: "budget_micro_usd",
  budgetPeriod: "budget_period",
  expiresInMs: "expires_in_ms",
};

/**
 * An error of the key service (`KeyService.create`, which names its input's fields: `requestsPerMinute`, `models.1`) as
 * the HTTP API says it: `param` and the message name the wire field of {@link CreateKeyBody} (`requests_per_minute`,
 * `models[1]`, as the body's own parse errors name it). Any other error is returned as it is.
 */
export function toWireCreateKeyError(error: unknown): unknown {
  if (!(error instanceof MoestroError) || error.param === null) return error;
  const [field, ...rest] = error.param.split(".");
  const wire = createKeyWireFields[field as keyof CreateApiKeyInput];
  if (wire === undefined) return error;
  const param = `${wire}${rest.map((segment) => (/^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`)).join("")}`;
  return new MoestroError(error.code, error.message.replaceAll(`'${error.param}'`, `'${param}'`), {
    param,
    retryAfterSeconds: error.retryAfterSeconds,
    cause: error,
  });
}

/** The report as the admin API and `moestro usage --json` show it. */
export function toWireUsageReport(report: UsageReport): WireUsageReport {
  return {
    object: "moestro.usage_report",
    group_by: report.groupBy,
    from_ms: report.fromMs ?? null,
    to_ms: report.toMs ?? null,
    data: report.rows.map(toWireUsageRow),
    total: toWireUsageRow(report.total),
    time_rate: report.timeRate === undefined ? null : toWireTimeRate(report.timeRate),
    unpriced: report.unpriced === undefined ? null : { requests: report.unpriced.requests, models: [...report.unpriced.models] },
  };
}

/** A time rate as the admin API shows it. */
function toWireTimeRate(rate: TimeRate): WireTimeRate {
  return {
    hardware_micro_usd_per_hour: rate.hardwareMicroUsdPerHour,
    watts: rate.watts,
    watts_source: rate.wattsSource,
    micro_usd_per_kwh: rate.microUsdPerKwh,
    electricity_source: rate.electricitySource,
    micro_usd_per_hour: rate.microUsdPerHour,
    estimated: rate.estimated,
  };
}

function toWireUsageRow(row: UsageReportRow): WireUsageRow {
  return {
    name: row.name,
    group: row.group,
    requests: row.requests,
    error_requests: row.errorRequests,
    aborted_requests: row.abortedRequests,
    interrupted_requests: row.interruptedRequests,
    ...toWireTokenCost({ ...row, costEstimated: row.estimatedCostRequests > 0 }),
    estimated_requests: row.estimatedCostRequests,
    measured_micro_usd_per_million_output_tokens: row.measuredMicroUsdPerMillionOutputTokens ?? null,
    pricing:
      row.pricing === undefined
        ? null
        : {
            basis: row.pricing.basis,
            rate: row.pricing.rate === undefined ? null : toWireTimeRate(row.pricing.rate),
            planned_single_micro_usd_per_million_output_tokens: row.pricing.planned?.singleMicroUsdPerMillionOutputTokens ?? null,
            planned_busy_micro_usd_per_million_output_tokens: row.pricing.planned?.busyMicroUsdPerMillionOutputTokens ?? null,
          },
    usage_estimated_requests: row.estimatedRequests,
  };
}

/** A ledger row as the admin API shows it (`GET /v1/moestro/usage/events`). */
export function toWireUsageEvent(record: UsageRecord): WireUsageEvent {
  return {
    request_id: record.requestId,
    key_id: record.keyId ?? null,
    model: record.model,
    endpoint: record.endpoint,
    stream: record.stream,
    engine: record.engine ?? null,
    upstream: record.upstream ?? null,
    attempts: record.attempts ?? null,
    usage_estimated: record.usageEstimated === true,
    requested_model: record.requestedModel ?? null,
    status: record.status,
    error_code: record.errorCode ?? null,
    ...toWireTokenCost(record),
    started_at_ms: record.startedAtMs,
    time_to_first_token_ms: record.timeToFirstTokenMs ?? null,
    latency_ms: record.latencyMs,
  };
}

/** The {@link wireTokenCostFields} of a ledger row or a report row: the one place where counters become wire fields. */
function toWireTokenCost(
  totals: Omit<
    UsageTotals,
    | "draftTokens"
    | "acceptedDraftTokens"
    | "cacheCreationInputTokens"
    | "cacheReadInputTokens"
    | "engineTimeUs"
    | "costNanoUsd"
    | "cloudCostNanoUsd"
    | "estimatedCostRequests"
  > & {
    draftTokens?: number;
    acceptedDraftTokens?: number;
    cacheCreationInputTokens?: number;
    cacheReadInputTokens?: number;
    cloudModel?: string;
    engineTimeUs?: number;
    costNanoUsd?: number;
    cloudCostNanoUsd?: number;
    costEstimated?: boolean;
  },
): WireTokenCost {
  const costNanoUsd = totals.costNanoUsd ?? totals.costMicroUsd * 1000;
  const cloudCostNanoUsd = totals.cloudCostNanoUsd ?? totals.cloudCostMicroUsd * 1000;
  return {
    prompt_tokens: totals.promptTokens,
    cached_prompt_tokens: totals.cachedPromptTokens,
    completion_tokens: totals.completionTokens,
    reasoning_tokens: totals.reasoningTokens,
    draft_tokens: totals.draftTokens ?? 0,
    accepted_draft_tokens: totals.acceptedDraftTokens ?? 0,
    cache_creation_input_tokens: totals.cacheCreationInputTokens ?? 0,
    cache_read_input_tokens: totals.cacheReadInputTokens ?? 0,
    total_tokens: totals.promptTokens + totals.completionTokens,
    cost_micro_usd: totals.costMicroUsd,
    cost_usd: totals.costMicroUsd / 1_000_000,
    cloud_model: totals.cloudModel ?? null,
    cloud_cost_micro_usd: totals.cloudCostMicroUsd,
    cloud_cost_usd: totals.cloudCostMicroUsd / 1_000_000,
    engine_time_ms: (totals.engineTimeUs ?? 0) / 1000,
    cost_nano_usd: costNanoUsd,
    cloud_cost_nano_usd: cloudCostNanoUsd,
    difference_nano_usd: cloudCostNanoUsd - costNanoUsd,
    cost_estimated: totals.costEstimated === true,
  };
}
