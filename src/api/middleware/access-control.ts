import type { Context, MiddlewareHandler } from "hono";
import { hashApiKeySecret, secretMatches } from "../../auth/api-key-secret.js";
import type { KeyService } from "../../auth/key-service.js";
import { adminKeyId, formatResetDuration, type RateLimitDecision, type RateLimiter } from "../../auth/rate-limiter.js";
import { MoestroError } from "../../errors/index.js";
import { latestTag } from "../../dialects/ollama/model-names.js";
import { budgetOf, type BudgetGuard } from "../../metering/budget-guard.js";
import { entryNamed } from "../../models/entry-named.js";
import type { ModelRegistry } from "../../spec/index.js";
import type { ApiKey } from "../../store/index.js";
import type { AppEnv } from "../app-env.js";
import { readJsonBody } from "../serving/json-body.js";
import { servedModelName } from "../serving/served-model-name.js";

/** What key checks need. Present in `AppDeps` exactly when `serve` runs with an admin key. */
export interface AccessControlDeps {
  /** The admin key: it works on every route, the admin endpoints included, with no limits. */
  adminKey: string;
  /** Finds and checks API keys (read from the store on every request). */
  keys: KeyService;
  /** Requests and tokens per minute per key. */
  rateLimiter: RateLimiter;
  /** Spend per key per day or month. */
  budgets: BudgetGuard;
  /**
   * The served models, to check a limited key's `model` under `/v1` as the route will read it (`servedModelName`:
   * `NAME:latest` for an untagged `NAME`), and to apply a scope to every name of a model (its id and aliases, see
   * {@link allowedModelIds}). Without it the name is checked as written.
   */
  models?: Pick<ModelRegistry, "listEntries">;
}

/**
 * Whether only the admin key may call `path`: the admin endpoints under `/v1/moestro/`, `/metrics` (it names the
 * models, the keys' traffic and the machine's memory), and Ollama's routes that change the models (`/api/pull`…).
 */
export function isAdminPath(path: string): boolean {
  return path === "/v1/moestro" || path.startsWith("/v1/moestro/") || path === "/metrics" || ollamaAdminPaths.has(path);
}

/**
 * What the key checks read of the models served: their ids and aliases, to apply a key's model scope to every name of
 * a model (`ModelRegistry.listEntries`, read only for a name the scope does not list literally).
 */
export type ScopeModels = Pick<ModelRegistry, "listEntries">;

/** No served models: a scope then allows exactly the names it lists. */
const noModels: ScopeModels = { listEntries: async () => [] };

/** Ollama's routes that change the server's models (pull, delete, copy): the admin key's, as `/v1/moestro/pull` is. */
const ollamaAdminPaths: ReadonlySet<string> = new Set(["/api/pull", "/api/delete", "/api/copy", "/api/push", "/api/create"]);

/**
 * The middleware that turns key checks on. Every route except `GET /health` (and CORS preflights, which never carry
 * credentials) needs `Authorization: Bearer <key>` or `x-api-key: <key>`. In order:
 *
 * 1. Authenticate: the admin key (compared in constant time; no limits), else an API key from the store. 401
 *    `missing_api_key`, `invalid_api_key`, `api_key_revoked` or `api_key_expired` otherwise.
 * 2. Rate limits: the `x-ratelimit-*` headers are set here, before the route runs, so every response to a key with
 *    limits carries them, streams and errors included; 429 `rate_limit_exceeded` with `Retry-After` when a limit is
 *    used up. Reads ({@link isReadRequest}: listing models and the like) are neither counted nor refused.
 * 3. Authorise: admin endpoints (`/v1/moestro/*` and `/metrics`, see {@link isAdminPath}) need the admin key (403
 *    `permission_denied`); a key limited to some
 *    models gets 403 `model_not_allowed` for the others (the `model` of a POST body, the id of `GET /v1/models/{id}`),
 *    and `GET /v1/models` (and Ollama's `GET /api/tags` and `/api/ps`) list only its models. A scope is on models, not
 *    on names: a name in the scope allows every name of the model it resolves to (its id and its config aliases, as
 *    `ModelRegistry.findEntry` resolves them: the id first, else the first model with that alias), see
 *    {@link allowedModelIds}.
 * 4. Budget: a POST of a key whose budget is already committed (settled spend plus running reservations) gets 429
 *    `insufficient_quota`. The budget is set as the `budget` variable: once the model admits the request, the usage
 *    meter reserves its worst-case cost against it, and refuses it (429 `insufficient_quota`, before any byte) when the
 *    rest of the budget cannot cover that.
 *
 * The key's id is set as the `keyId` variable (`admin` for the admin key), which the usage meter records.
 * Must run after the body-limit middleware: it reads the body of POSTs of model-limited keys.
 */
export function createAccessControl(deps: AccessControlDeps): MiddlewareHandler<AppEnv> {
  // Without the served models a scope is read as written (no aliases to follow).
  const models = deps.models ?? noModels;
  const adminKeySha256 = hashApiKeySecret(deps.adminKey);
  return async (c, next) => {
    if (c.req.path === "/health" || c.req.method === "OPTIONS") return await next();
    // A batch line runs as the key that created its batch (docs/batch.md): the same checks as a request of that key.
    const batch = c.get("batch");
    if (batch !== undefined) {
      if (batch.keyId === undefined || batch.keyId === adminKeyId) {
        c.set("keyId", adminKeyId);
        return await next();
      }
      return await checkKey(c, await deps.keys.authenticateId(batch.keyId), next);
    }
    const secret = readCredential(c);
    if (secret === undefined) {
      c.header("WWW-Authenticate", 'Bearer realm="moestro"');
      throw new MoestroError(
        "missing_api_key",
        "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY) or in an x-api-key header.",
      );
    }
    if (secretMatches(secret, adminKeySha256)) {
      c.set("keyId", adminKeyId);
      return await next();
    }
    return await checkKey(c, await deps.keys.authenticate(secret), next);
  };

  /** Steps 2 to 4 for an authenticated API key. */
  async function checkKey(c: Context<AppEnv>, key: ApiKey, next: () => Promise<void>): Promise<void> {
    c.set("keyId", key.id);
    const path = c.req.path;
    // Uploads and batch calls run no model: they are rate limited as requests, never refused for tokens or budget (a key
    // over its budget can still cancel its batches; the batch's lines are budgeted one by one).
    const isModelRequest = c.req.method === "POST" && !isFilesOrBatchesPath(path);

    // Limits first, so that every answer to the key (403s included) carries its x-ratelimit headers. Reads are not
    // counted (a client that lists the models before each call would spend half its requests on the list).
    const decision = await deps.rateLimiter.check(key, { checkTokens: isModelRequest, countRequest: !isReadRequest(c) });
    setRateLimitHeaders(c, decision);
    if (decision.rejection !== undefined) throw decision.rejection;
    if (isAdminPath(path)) {
      throw new MoestroError(
        "permission_denied",
        "Only the admin key may call the admin endpoints (under /v1/moestro/, /metrics, and Ollama's /api/pull, /api/delete and /api/copy).",
      );
    }
    if (key.models !== undefined && !isFilesOrBatchesPath(path)) await checkModelScope(c, key, key.models, deps.models);
    if (isModelRequest) {
      await deps.budgets.check(key);
      c.set("budget", budgetOf(key));
    }

    await next();
    if (key.models !== undefined && c.req.method === "GET" && c.res.status === 200) {
      if (path === "/v1/models") await filterModelList(c, await allowedModelIds(key.models, models));
      else if (path === "/api/tags" || path === "/api/ps") await filterOllamaModelList(c, await allowedModelIds(key.models, models));
    }
  }
}

/**
 * Whether a request only reads, so that it counts against no requests-per-minute limit: `GET` and `HEAD` (the model
 * lists, `GET /v1/models/{id}`, a stored file, batch or response, Ollama's `/api/tags`, `/api/ps` and `/api/version`)
 * and Ollama's `POST /api/show` (a model's details, sent as a POST). Every other request counts: each that runs a model,
 * and those that change something (uploads, batch creations and cancels, deletions).
 */
function isReadRequest(c: Context<AppEnv>): boolean {
  return c.req.method === "GET" || c.req.method === "HEAD" || (c.req.method === "POST" && c.req.path === "/api/show");
}

/** Whether `path` is one of the Files or Batch APIs' (`/v1/files…`, `/v1/batches…`), which name no model. */
function isFilesOrBatchesPath(path: string): boolean {
  return path === "/v1/files" || path.startsWith("/v1/files/") || path === "/v1/batches" || path.startsWith("/v1/batches/");
}

/** The credential of the request: `Authorization: Bearer X` first, else `x-api-key: X`. */
function readCredential(c: Context<AppEnv>): string | undefined {
  const authorization = c.req.header("authorization");
  const bearer = authorization === undefined ? undefined : /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1]?.trim();
  const apiKey = c.req.header("x-api-key")?.trim();
  const secret = bearer ?? apiKey;
  return secret === undefined || secret.length === 0 ? undefined : secret;
}

/**
 * What a key's model scope allows: `isAllowed(name)` is true for a name the scope lists, and for any name (id or alias)
 * that resolves to the same served model as a name the scope lists. Names resolve as `ModelRegistry.findEntry` resolves
 * a request's `model`: the model with that id first, else the first with that alias; so a name that is one model's id
 * and another's alias stands for the first model only, here as in routing (a scope never reaches a model its names do
 * not resolve to). A scope name no model answers to (not served yet) allows only itself.
 */
export async function allowedModelIds(scope: readonly string[], models: ScopeModels): Promise<{ isAllowed(name: string): boolean }> {
  const entries = await models.listEntries();
  const allowedIds = new Set<string>();
  for (const name of scope) {
    const entry = entryNamed(name, entries);
    if (entry !== undefined) allowedIds.add(entry.id);
  }
  return {
    isAllowed: (name) => {
      if (scope.includes(name)) return true;
      const entry = entryNamed(name, entries);
      return entry !== undefined && allowedIds.has(entry.id);
    },
  };
}

async function checkModelScope(c: Context<AppEnv>, key: ApiKey, models: readonly string[], served: ScopeModels | undefined): Promise<void> {
  let model: string | undefined;
  if (c.req.method === "POST" && (c.req.path.startsWith("/v1/") || c.req.path.startsWith("/api/"))) {
    // Only under /v1 and /api, where the body limit applies. The route gets the same parse; a body that is not JSON is left for it
    // to refuse.
    try {
      const body = await readJsonBody(c);
      const field = typeof body === "object" && body !== null ? (body as { model?: unknown }).model : undefined;
      if (typeof field === "string") model = field;
    } catch {
      model = undefined;
    }
  } else if (c.req.method === "GET" && c.req.path.startsWith("/v1/models/")) {
    const encoded = c.req.path.slice("/v1/models/".length);
    try {
      model = decodeURIComponent(encoded);
    } catch {
      throw new MoestroError("invalid_request", `The path holds malformed percent-encoding: '${encoded}'.`);
    }
  }
  // Ollama's clients add `:latest` to a name without a tag.
  if (
    model !== undefined &&
    c.req.path.startsWith("/api/") &&
    model.endsWith(latestTag) &&
    models.includes(model.slice(0, -latestTag.length))
  )
    model = model.slice(0, -latestTag.length);
  // Under /v1 the key is checked against the model the route will hold (`stories260K:latest` is `stories260K` when no
  // model has that exact name; Ollama's rules on the Ollama port), never a looser reading that could reach another.
  if (model !== undefined && served !== undefined && c.req.method === "POST" && c.req.path.startsWith("/v1/") && !models.includes(model))
    model = await servedModelName(c, { models: served }, model);
  // The scope's own names need no look-up; an alias (or the model an alias in the scope names) does.
  if (model === undefined || models.includes(model)) return;
  const scope = await allowedModelIds(models, served ?? noModels);
  const isOllamaLatest = c.req.path.startsWith("/api/") && model.endsWith(latestTag);
  if (!scope.isAllowed(model) && !(isOllamaLatest && scope.isAllowed(model.slice(0, -latestTag.length)))) {
    throw new MoestroError(
      "model_not_allowed",
      `The API key '${key.name}' may not use the model '${model}'. It may use: ${models.map((id) => `'${id}'`).join(", ")}.`,
      {
        param: "model",
      },
    );
  }
}

function setRateLimitHeaders(c: Context<AppEnv>, decision: RateLimitDecision): void {
  for (const [kind, state] of [
    ["requests", decision.requests],
    ["tokens", decision.tokens],
  ] as const) {
    if (state === undefined) continue;
    c.header(`x-ratelimit-limit-${kind}`, String(state.limit));
    c.header(`x-ratelimit-remaining-${kind}`, String(state.remaining));
    c.header(`x-ratelimit-reset-${kind}`, formatResetDuration(state.resetMs));
  }
}

/** Ollama's `/api/tags` and `/api/ps` for a model-limited key: only its models, named as it may send them (`:latest` aside). */
async function filterOllamaModelList(c: Context<AppEnv>, scope: { isAllowed(name: string): boolean }): Promise<void> {
  const body = (await c.res.clone().json()) as { models?: Array<{ model?: unknown }> };
  if (!Array.isArray(body.models)) return;
  const allowed = (name: unknown): boolean =>
    typeof name === "string" && (scope.isAllowed(name) || (name.endsWith(latestTag) && scope.isAllowed(name.slice(0, -latestTag.length))));
  const filtered = { ...body, models: body.models.filter((model) => allowed(model.model)) };
  c.res = new Response(JSON.stringify(filtered), { status: 200, headers: { "content-type": "application/json" } });
}

async function filterModelList(c: Context<AppEnv>, scope: { isAllowed(name: string): boolean }): Promise<void> {
  const body = (await c.res.clone().json()) as { data?: Array<{ id?: unknown }> };
  if (!Array.isArray(body.data)) return;
  const data = body.data.filter((model) => typeof model.id === "string" && scope.isAllowed(model.id));
  const filtered: Record<string, unknown> = { ...body, data };
  // Anthropic's list shape names its first and last model.
  if ("first_id" in body) Object.assign(filtered, { first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
  // hono copies the old response's headers onto the new one (content type aside); c.json sets no content-length.
  c.res = new Response(JSON.stringify(filtered), { status: 200, headers: { "content-type": "application/json" } });
}
