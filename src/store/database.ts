/**
 * The one Kysely `Database` type of moestro's store, shared by SQLite and PostgreSQL. Columns are snake_case,
 * timestamps are `*_at` in epoch ms, money is integer micro-USD. The tables are created by `migrations/`; this type must
 * describe what the latest migration leaves behind.
 */
import type { ColumnType } from "kysely";

/** A column that the database fills when the insert leaves it out. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

/**
 * `api_keys`: one row per API key. The secret itself is never stored: only its SHA-256 (hex) and a display prefix.
 */
export interface ApiKeysTable {
  /** `key_` + 16 hex digits; what the ledger records as `key_id`. */
  id: string;
  /** A human name given at creation; not unique. */
  name: string;
  /** The first characters of the secret (`mst-` + 8), shown in lists and used to find the row; unique. */
  prefix: string;
  /** SHA-256 of the whole secret, lower-case hex (64 characters). */
  secret_sha256: string;
  /** JSON array of the model ids the key may use, or `null` for every model. */
  models_json: string | null;
  /** Requests per minute, or `null` for no limit. */
  requests_per_minute: number | null;
  /** Tokens (prompt + completion) per minute, or `null` for no limit. */
  tokens_per_minute: number | null;
  /** Spend allowed per budget period, micro-USD, or `null` for no budget. */
  budget_micro_usd: number | null;
  /** `day` or `month` (UTC calendar periods), set exactly when `budget_micro_usd` is. */
  budget_period: string | null;
  /** Creation time, epoch ms. */
  created_at: number;
  /** Expiry time, epoch ms, or `null` for never. */
  expires_at: number | null;
  /** Revocation time, epoch ms, or `null` while the key is active. */
  revoked_at: Defaulted<number | null>;
}

/**
 * `usage_events`: the ledger, one row per model request. A request that runs a model is inserted as `running` when it
 * is admitted, its counters are flushed about once a second (`heartbeat_at`), its final counts are written before the
 * response's last bytes, and it is settled once those bytes left (or when it fails), in the same transaction as its
 * `usage_daily` rollup; a row written whole at its end (no admission) is inserted settled. Only running rows change
 * (and an `interrupted` row, by its request's own late end).
 */
export interface UsageEventsTable {
  /** The request id (`x-request-id`); a client that reuses one gets `id:uuid` so that no row is lost. */
  request_id: string;
  /** The API key's id, `admin` for the admin key, `null` when key checks are off. */
  key_id: string | null;
  /** The model id that served the request. */
  model: string;
  /** `chat.completions`, `completions` or `embeddings`. */
  endpoint: string;
  /** 1 when the response was streamed, else 0 (an integer so that both dialects share one type). */
  stream: number;
  /**
   * `running` (admitted, not ended: the counters are those of its last heartbeat), `ok`, `error`, `aborted`, or
   * `interrupted` (its server instance went away while it ran: settled with the counters of its last heartbeat).
   */
  status: string;
  /** The error code when `status` is `error`. */
  error_code: string | null;
  prompt_tokens: number;
  cached_prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  /** Speculative decoding: tokens drafted and checked by the model (0 when the request did not speculate; migration 0006). */
  draft_tokens: Defaulted<number>;
  /** Speculative decoding: of `draft_tokens`, those the model accepted (migration 0006). */
  accepted_draft_tokens: Defaulted<number>;
  /** Explicit cache (`cache_control`): prompt tokens written to it (0 when the request marked none; migration 0009). */
  cache_creation_input_tokens: Defaulted<number>;
  /** Explicit cache: prompt tokens read from it (migration 0009). */
  cache_read_input_tokens: Defaulted<number>;
  /** What the request cost by the price book in effect when it started, micro-USD (rounded half up once per request). */
  cost_micro_usd: number;
  /** `effectiveFrom` of the price entry applied, epoch ms, or `null` when the model had no entry (cost 0). */
  price_effective_at: number | null;
  /** The cloud model whose list price `cloud_cost_micro_usd` uses, or `null` when none is known. */
  cloud_model: string | null;
  /** What the same tokens would have cost at `cloud_model`'s list price, micro-USD. */
  cloud_cost_micro_usd: number;
  /** The local engine's busy time charged to the request, µs; 0 when not measured (upstream, and before migration 0007). */
  engine_time_us: Defaulted<number>;
  /** `cost_micro_usd` exact to the nano-USD (migration 0007; older rows: `cost_micro_usd × 1000`). */
  cost_nano_usd: Defaulted<number>;
  /** `cloud_cost_micro_usd` in nano-USD (migration 0007; older rows: `cloud_cost_micro_usd × 1000`). */
  cloud_cost_nano_usd: Defaulted<number>;
  /** 1 when the cost is an estimate (time pricing at a default power or electricity price), else 0 (migration 0007). */
  cost_estimated: Defaulted<number>;
  /** When the request started, epoch ms. */
  started_at: number;
  /** The UTC calendar day of `started_at`, `YYYY-MM-DD` (stored so that grouping by day is the same SQL on both dialects). */
  day: string;
  /** Time to first token in ms, or `null` when none was generated. */
  time_to_first_token_ms: number | null;
  /** Time from the request's start to the end of its response, ms. */
  latency_ms: number;
  /** When the row was last written (admitted, heartbeat, settled), epoch ms. */
  recorded_at: number;
  /**
   * The server instance that owns a running row, `<hostname>:<pid>:<8 hex digits>`; `null` for rows written whole at
   * their end (before migration 0002).
   */
  instance_id: Defaulted<string | null>;
  /** The owning instance's last flush of this row's counters while it ran, epoch ms; `null` when never running. */
  heartbeat_at: Defaulted<number | null>;
  /** The worst-case cost held against the key's budget while the row is `running`, micro-USD; 0 once settled. */
  reserved_micro_usd: Defaulted<number>;
  /**
   * Which engine served the request, `inproc` or `llama-server`, set when it is admitted; `null` for rows written
   * before migration 0003 and for requests that never reached a model.
   */
  engine: Defaulted<string | null>;
  /** The upstream that served the request (engine `upstream`); `null` otherwise, and before migration 0005. */
  upstream: Defaulted<string | null>;
  /** Upstreams tried before one answered, that one included (engine `upstream`); `null` otherwise. */
  attempts: Defaulted<number | null>;
  /** 1 when the token counts are estimates (an upstream that sent no usage, no tokenizer here), else 0 (migration 0010). */
  usage_estimated: Defaulted<number>;
  /** The model the client asked for when a fallback answered; `null` when it is `model` (migration 0010). */
  requested_model: Defaulted<string | null>;
}

/**
 * `usage_daily`: the rollup of `usage_events`, one row per UTC day, key and model, upserted in the same transaction as
 * each event. Budgets read it.
 */
export interface UsageDailyTable {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  /** The key id; `""` for requests without a key (the column is part of the primary key, so never `null`). */
  key_id: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  cached_prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  /** Speculative decoding's drafted and accepted tokens (migration 0006). */
  draft_tokens: Defaulted<number>;
  accepted_draft_tokens: Defaulted<number>;
  /** The explicit cache's created and read prompt tokens (migration 0009). */
  cache_creation_input_tokens: Defaulted<number>;
  cache_read_input_tokens: Defaulted<number>;
  cost_micro_usd: number;
  cloud_cost_micro_usd: number;
  /** Sums of the events' `engine_time_us`, `cost_nano_usd`, `cloud_cost_nano_usd`; `cost_estimated`: requests whose cost is an estimate (migration 0007). */
  engine_time_us: Defaulted<number>;
  cost_nano_usd: Defaulted<number>;
  cloud_cost_nano_usd: Defaulted<number>;
  cost_estimated: Defaulted<number>;
  /** Last upsert, epoch ms. */
  updated_at: number;
}

/**
 * `responses`: stored responses of the Responses API (`store: true`), kept until `expires_at`, then deleted by the
 * sweep (`startResponseSweeper`) and never served after it. They hold prompts and answers.
 */
export interface ResponsesTable {
  /** `resp_` + 32 hex digits. */
  id: string;
  /** The API key that created it (`admin` for the admin key), `null` when key checks are off; only that key reads it. */
  key_id: string | null;
  /** The model id that generated it. */
  model: string;
  /** `completed` or `incomplete` (cut by `max_output_tokens`); a failed response is not stored. */
  status: string;
  /** The response it continued (`previous_response_id`), or `null`. */
  previous_response_id: string | null;
  /** JSON array of the input items the model saw (those carried over by `previous_response_id` first), without `instructions`. */
  input_items_json: string;
  /** The response object as `GET /v1/responses/{id}` returns it, JSON. */
  response_json: string;
  /** Creation time, epoch ms. */
  created_at: number;
  /** When it stops being served and is deleted, epoch ms. */
  expires_at: number;
}

/**
 * `response_items`: the items a stored response brought (its own input items, then its output), one row per item with
 * an id, deleted with their response. `item_reference` inputs find their item here by `item_id`.
 */
export interface ResponseItemsTable {
  /** The response that brought the item. */
  response_id: string;
  /** The item's place among that response's items, from 0. */
  position: number;
  /** The item's `id` (`msg_…`, `fc_…`); not unique across responses (a client may send an item again). */
  item_id: string;
  /** The item, JSON. */
  item_json: string;
}

/**
 * `files`: the Files API's files (issue 20, docs/batch.md): batch input files (`purpose` `batch`) and the output and
 * error files of batches (`batch_output`), their content whole, deleted after `expires_at`.
 */
export interface FilesTable {
  /** `file-` + 24 hex digits. */
  id: string;
  /** The API key that uploaded it (`admin` for the admin key), `null` when key checks are off; only that key sees it. */
  key_id: string | null;
  /** `batch` or `batch_output`. */
  purpose: string;
  /** The name it was uploaded under (or the runner gave it). */
  filename: string;
  /** Its size, UTF-8 bytes. */
  bytes: number;
  /** Its JSONL lines. */
  line_count: number;
  /** The content, UTF-8 text (JSONL). */
  content: string;
  /** Upload time, epoch ms. */
  created_at: number;
  /** When it stops being served and is deleted, epoch ms; `null`: never. */
  expires_at: number | null;
}

/** `batches`: one row per batch of the Batch API, as `GET /v1/batches/{id}` shows it, and its runner's lease. */
export interface BatchesTable {
  /** `batch_` + 24 hex digits. */
  id: string;
  /** The API key that created it (its lines run under it); `null` when key checks are off. */
  key_id: string | null;
  /** The endpoint of every line, `/v1/chat/completions`… */
  endpoint: string;
  input_file_id: string;
  /** `24h`. */
  completion_window: string;
  /** OpenAI's batch statuses: validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled. */
  status: string;
  /** The batch's `metadata`, JSON, or `null`. */
  metadata_json: string | null;
  /** The batch's `errors` (why it failed), JSON, or `null`. */
  errors_json: string | null;
  output_file_id: string | null;
  error_file_id: string | null;
  /** Lines of the input file. */
  total: number;
  /** Epoch ms, as every time below. */
  created_at: number;
  /** When the completion window ends: lines not answered by then are expired. */
  expires_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  /** The runner (server instance) that holds the batch, or `null`. */
  owner_id: string | null;
  /** Until when `owner_id` holds it, epoch ms; renewed while it runs. Another instance takes it over after that. */
  lease_until: number | null;
}

/** `batch_lines`: the answer of each finished line of a batch, written once (primary key: batch and line). */
export interface BatchLinesTable {
  batch_id: string;
  /** The line's index in the input file, from 0. */
  line_index: number;
  /** 1 when the line's request succeeded (output file), 0 when it failed (error file). */
  ok: number;
  /** The output or error file's line for it, JSON. */
  result_json: string;
  /** When it was answered, epoch ms. */
  finished_at: number;
}

/** Every table of the store, by name. */
export interface Database {
  api_keys: ApiKeysTable;
  usage_events: UsageEventsTable;
  usage_daily: UsageDailyTable;
  responses: ResponsesTable;
  response_items: ResponseItemsTable;
  files: FilesTable;
  batches: BatchesTable;
  batch_lines: BatchLinesTable;
}

/** Which SQL engine a store runs on. */
export type StoreDialect = "sqlite" | "postgres";
