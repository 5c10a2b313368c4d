import type { ErrorDialect } from "./error-response.js";
import type { Logger } from "pino";
import type { KeyService } from "../auth/key-service.js";
import type { ModelRegistry, UsageBudget, UsageSink } from "../spec/index.js";
import type { UsageRepository } from "../store/index.js";
import type { AccessControlDeps } from "./middleware/access-control.js";

/** What `createApp` needs: everything that touches models, time or the outside is injected. */
export interface AppDeps {
  /** The models the server answers for. */
  models: ModelRegistry;
  /** Structured logger. */
  logger: Logger;
  /**
   * The scheduler's memory budget for loaded models (`--max-memory`, else measured), bytes, which `GET /v1/moestro/info`
   * gives the console (its memory bar). Defaults to unknown (`null` there).
   */
  maxMemoryBytes?: number;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Largest accepted request body, in bytes; larger bodies get 413. Defaults to 32 MiB. */
  bodyLimitBytes?: number;
  /** Receivers of one usage event per model request (ledger, budgets, metrics); when each is told is `UsageSink`'s contract. Defaults to none. */
  usageSinks?: readonly UsageSink[];
  /** A `: ping` SSE comment is sent when a stream has been silent this long, in ms. Defaults to 15000. */
  sseKeepAliveMs?: number;
  /** Pulls models into the store (`POST /v1/moestro/pull`). Defaults to none (the route answers 404). */
  puller?: import("../models/pull-model.js").ModelPuller;
  /** Prometheus metrics served at `GET /metrics`. Defaults to none (no route). */
  metrics?: import("./metrics.js").Metrics;
  /** Browser origins allowed by CORS (`*` wildcards). Defaults to every origin when undefined. */
  corsOrigins?: readonly string[];
  /** Aborted when the server's shutdown grace period is over: running requests end with an error. */
  shutdownSignal?: AbortSignal;
  /**
   * API key checks, rate limits and budgets (`api/middleware/access-control.ts`). When set, every route but `/health`
   * needs a key. Defaults to none: every route is open and unlimited.
   */
  accessControl?: AccessControlDeps;
  /** The services behind the admin endpoints under `/v1/moestro/`. Defaults to none: those routes answer 404. */
  admin?: AdminDeps;
  /** moestro's version, shown by `GET /v1/moestro/info`. Defaults to `unknown`. */
  version?: string;
  /**
   * Folder of the web console's static build (`web/dist`), served at `/` with a fallback to its `index.html`
   * (`api/console-static.ts`). Defaults to none: paths outside the API answer 404.
   */
  consoleDir?: string;
  /** Plans models on this machine (`GET /v1/moestro/plan`). Defaults to none: that route answers 404. */
  planner?: import("./model-planner.js").ModelPlanner;
  /** What Ollama's API (`/api/*`) needs beyond the rest: config aliases, the configured context, store deletes. Defaults to none. */
  ollama?: import("./routes/ollama/ollama-context.js").OllamaDeps;
  /**
   * The state of every configured upstream, in config order (`GET /v1/moestro/upstreams`, docs/gateway.md). Defaults to
   * none: that route answers empty lists.
   */
  upstreams?: () => readonly import("../spec/index.js").UpstreamInfo[];
  /** Stored bench and eval results (`GET /v1/moestro/results`). Defaults to none: that route answers 404. */
  results?: import("./stored-results.js").StoredResultsReader;
  /**
   * The gateway's per-request routing (docs/gateway.md): fallbacks by error kind (`pools`) and where a request's session
   * comes from (`gateway.affinity`). Defaults to none: no fallbacks, no sessions.
   */
  routing?: import("../gateway/request-routing.js").RequestRouting;
  /**
   * Where the Responses API keeps responses (`store: true`, `previous_response_id`, `GET /v1/responses/{id}`) and for
   * how long. Defaults to a store in this process's memory (lost on restart) with a retention of 30 days.
   */
  responses?: ResponsesDeps;
  /**
   * The Files and Batch APIs (`/v1/files`, `/v1/batches`, docs/batch.md): where files and batches are kept. Defaults to
   * none: those routes answer 404.
   */
  batches?: BatchDeps;
}

/** The Files and Batch APIs' store (docs/batch.md). */
export interface BatchDeps {
  /** Files, batches and answered lines (the server's store: SQLite or PostgreSQL). */
  repository: import("../store/index.js").BatchRepository;
  /** How long an uploaded file is kept when the upload does not say, ms (the server uses 30 days, as OpenAI). */
  fileRetentionMs: number;
  /** Tells the batch runner that a batch was created or cancelled, so that it looks now rather than at its next poll. */
  wake?: () => void;
}

/**
 * What the batch runner passes (as the Hono env's `moestroBatch`, which no HTTP client can set) with the request of a
 * batch line: the line runs under the key that created its batch.
 */
export interface BatchCaller {
  /** The batch. */
  batchId: string;
  /** The key that created it (`admin` for the admin key); `undefined` when key checks were off. */
  keyId?: string;
}

/** The stored responses of the Responses API (docs/responses.md, "Stored responses"). */
export interface ResponsesDeps {
  /** The repository (the server's store: SQLite or PostgreSQL). */
  repository: import("../store/index.js").ResponseRepository;
  /** How long a stored response is served after it was created, ms. */
  retentionMs: number;
}

/** What the admin endpoints (`/v1/moestro/keys`, `/v1/moestro/usage`) need. */
export interface AdminDeps {
  /** API keys. */
  keys: KeyService;
  /** The usage ledger. */
  usage: UsageRepository;
  /** Whether keys may be created, listed and revoked: true only when key checks are on (an admin key is set). */
  canManageKeys: boolean;
  /**
   * The price book and the machine's power, for the usage report's pricing (the hourly cost of time pricing, each
   * model's basis); absent: the report shows the ledger's figures only.
   */
  pricing?: {
    priceBook: import("../metering/price-book.js").PriceBook;
    /** The machine's power now (the server learns its GPU after the studio opens). Defaults to the host's estimate. */
    machine?: () => import("../planner/machine-power.js").MachinePower;
  };
}

/** Hono environment of the app: per-request variables set by middleware. */
export interface AppEnv {
  Variables: {
    /** The request's id, echoed in the `x-request-id` response header. */
    requestId: string;
    /** The id of the API key that authenticated the request, when key checks are on. */
    keyId?: string;
    /** The budget of that key, when it has one: the usage meter reserves each admitted request's worst case against it. */
    budget?: UsageBudget;
    /** The body parsed as JSON, once it was asked for (`readJsonBody`): access control and the route share the parse. */
    jsonBody?: Promise<unknown>;
    /**
     * The error shape this request answers in, when it is not the one its path implies (`errorDialectOf`): the Ollama
     * port sets `ollama` for every path.
     */
    errorDialect?: ErrorDialect;
    /**
     * Set on every request of the Ollama port (`--ollama-port`): the OpenAI- and Anthropic-compatible routes read model
     * names by Ollama's rules there (`servedModelName`), as Ollama's own `/v1` does.
     */
    ollamaNames?: boolean;
    /**
     * Set when the request is a batch line run by the batch runner (docs/batch.md): it is authorised as the batch's key,
     * admitted to the model at batch priority and billed at the price book's batch rate.
     */
    batch?: BatchCaller;
  };
}

/** The `system_fingerprint` sent with every completion. */
export const systemFingerprint = "moestro";
