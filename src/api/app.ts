import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MoestroError } from "../errors/index.js";
import type { AppDeps, AppEnv } from "./app-env.js";
import { respondWithError } from "./error-response.js";
import { createChatCompletionsHandler } from "./routes/openai/chat-completions.js";
import { createCompletionsHandler } from "./routes/openai/completions.js";
import { createEmbeddingsHandler } from "./routes/openai/embeddings.js";
import { createModelsRoutes } from "./routes/openai/models.js";
import { createMessagesRoutes } from "./routes/anthropic/messages.js";
import { createResponsesRoutes } from "./routes/responses/responses.js";
import { createAccessControl } from "./middleware/access-control.js";
import { createCors } from "./middleware/cors.js";
import { createAdminModelRoutes } from "./routes/admin/models.js";
import { createAdminKeyRoutes } from "./routes/admin/keys.js";
import { createAdminUsageRoutes } from "./routes/admin/usage.js";
import { createAdminUsageEventRoutes } from "./routes/admin/usage-events.js";
import { createAdminInfoRoutes } from "./routes/admin/info.js";
import { createAdminPlanRoutes } from "./routes/admin/plan.js";
import { createAdminResultsRoutes } from "./routes/admin/results.js";
import { createAdminUpstreamRoutes } from "./routes/admin/upstreams.js";
import { createConsoleStatic } from "./console-static.js";
import type { ErrorDialect } from "./error-response.js";
import { createOllamaRoutes } from "./routes/ollama/ollama-routes.js";
import { SchemaValidator } from "./serving/schema-validator.js";
import { createBatchesRoutes, createFilesRoutes } from "./routes/openai/batches.js";

export type { AppDeps, AppEnv } from "./app-env.js";

/** Default largest request body: 32 MiB, enough for the longest prompt a 128k-token model holds (case C35, docs/compat-cases.md). */
export const defaultBodyLimitBytes = 32 * 1024 * 1024;

/**
 * Builds moestro's HTTP app: the OpenAI-compatible API under `/v1` (Chat Completions, Completions, Embeddings,
 * Responses), Anthropic's Messages API under `/v1/messages`, Ollama's under `/api`, `GET /health`, and the web console
 * at `/` when `deps.consoleDir` is set. Nothing is global; everything comes from `deps`. Every error is answered in the
 * error shape of the API its path belongs to (`errorDialectOf`: OpenAI's `{"error": {message, type, param, code}}`
 * with the status the OpenAI SDKs map to the right error class, Anthropic's, Ollama's); each response carries an
 * `x-request-id` header.
 *
 * @example
 * const app = createApp({models: createStaticModelRegistry([backend]), logger: pino()});
 * const response = await app.request("/v1/models");
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limitBytes = deps.bodyLimitBytes ?? defaultBodyLimitBytes;

  app.use("*", async (c, next) => {
    // The Ollama port answers every error in Ollama's shape (`createOllamaPortFetch` passes it in the env).
    const errorDialect = (c.env as { errorDialect?: ErrorDialect } | undefined)?.errorDialect;
    if (errorDialect !== undefined) c.set("errorDialect", errorDialect);
    // The models routes answer Anthropic's clients (which send `anthropic-version` on every call) in Anthropic's shapes,
    // their errors included (a model not found is `not_found_error`), as they answer its lists.
    else if (isModelsPath(c.req.path) && c.req.header("anthropic-version") !== undefined) c.set("errorDialect", "anthropic");
    // The Ollama port reads model names by Ollama's rules on `/v1` too (`servedModelName`).
    if ((c.env as { ollamaNames?: boolean } | undefined)?.ollamaNames === true) c.set("ollamaNames", true);
    // A batch line, from the batch runner (`api/batch/batch-runner.ts`): only in-process calls carry this env.
    const batch = (c.env as { moestroBatch?: import("./app-env.js").BatchCaller } | undefined)?.moestroBatch;
    if (batch !== undefined) c.set("batch", batch);
    const requestId = c.req.header("x-request-id") ?? crypto.randomUUID();
    c.set("requestId", requestId);
    c.header("x-request-id", requestId);
    const startedAt = performance.now();
    await next();
    // One access-log line per request; prompts and bodies are never logged.
    deps.logger.info(
      { requestId, method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(performance.now() - startedAt) },
      "request",
    );
  });
  const onTooLarge = (c: Context<AppEnv>): Response =>
    respondWithError(
      c,
      new MoestroError(
        "request_too_large",
        `The request body is larger than the limit of ${limitBytes} bytes (MOESTRO_SERVER__BODY_LIMIT_BYTES).`,
      ),
      deps.logger,
    );
  const countingBodyLimit = bodyLimit({
    maxSize: limitBytes,
    onError: (c) => {
      // The rest of a chunked body is never read: close the connection after the answer, so that no client reuses it.
      c.header("Connection", "close");
      return onTooLarge(c);
    },
  });
  const limitBody: MiddlewareHandler<AppEnv> = async (c, next) => {
    // A declared length is checked from the header alone: Hono's bodyLimit first builds a full Fetch Request, a cost on
    // every request (docs/bench.md#the-serving-paths-own-costs). It still counts the bytes of a chunked body.
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined)
      return Number(length) > limitBytes ? onTooLarge(c) : await next();
    return await countingBodyLimit(c, next);
  };
  app.use("/v1/*", limitBody);
  // Ollama's API (issue 18) takes bodies too.
  app.use("/api/*", limitBody);

  if (deps.metrics !== undefined) app.use("*", deps.metrics.middleware());
  // Before key checks: a preflight carries no credentials.
  app.use("*", createCors({ allowedOrigins: deps.corsOrigins ?? ["*"], logger: deps.logger }));
  // Before key checks: the console's pages hold no data; the API calls they make carry the admin key.
  if (deps.consoleDir !== undefined) app.use("*", createConsoleStatic({ dir: deps.consoleDir }));
  // After the body limit: key checks may read the body (the model of a key limited to some models).
  if (deps.accessControl !== undefined) app.use("*", createAccessControl({ models: deps.models, ...deps.accessControl }));

  // `key_checks` lets the console show its login without a request that the key checks would refuse (a 401 that the
  // browser logs as an error).
  app.get("/health", (c) =>
    c.json({ status: "ok", loaded: deps.models.listLoaded().map((model) => model.id), key_checks: deps.accessControl !== undefined }),
  );
  const validator = new SchemaValidator();
  app.post("/v1/chat/completions", createChatCompletionsHandler(deps, validator));
  app.post("/v1/embeddings", createEmbeddingsHandler(deps));
  app.post("/v1/completions", createCompletionsHandler(deps, validator));
  // Anthropic's Messages API (issue 18): docs/anthropic.md.
  app.route("/v1/messages", createMessagesRoutes(deps, validator));
  // The Responses API (issue 18, docs/responses.md).
  app.route("/v1/responses", createResponsesRoutes(deps, validator));
  app.route("/v1/models", createModelsRoutes(deps));
  // The Files and Batch APIs (issue 20, docs/batch.md).
  app.route("/v1/files", createFilesRoutes(deps));
  app.route("/v1/batches", createBatchesRoutes(deps));
  // Ollama's API (issue 18, docs/ollama.md).
  app.route("/api", createOllamaRoutes(deps, validator));
  app.route("/v1/moestro", createAdminModelRoutes(deps));
  app.route("/v1/moestro/info", createAdminInfoRoutes(deps));
  app.route("/v1/moestro/plan", createAdminPlanRoutes(deps));
  app.route("/v1/moestro/results", createAdminResultsRoutes(deps));
  app.route("/v1/moestro/upstreams", createAdminUpstreamRoutes(deps));
  if (deps.metrics !== undefined) {
    const metrics = deps.metrics;
    // Admin key only when key checks are on (access control's isAdminPath).
    app.get("/metrics", async (c) => c.body(await metrics.render(), 200, { "Content-Type": metrics.contentType }));
  }
  if (deps.admin !== undefined) {
    app.route("/v1/moestro/keys", createAdminKeyRoutes(deps));
    app.route("/v1/moestro/usage/events", createAdminUsageEventRoutes(deps));
    app.route("/v1/moestro/usage", createAdminUsageRoutes(deps));
  }

  app.notFound((c) => respondWithError(c, new MoestroError("not_found", `Unknown route: ${c.req.method} ${c.req.path}.`), deps.logger));
  app.onError((error, c) => respondWithError(c, error, deps.logger));
  return app;
}

/** Whether `path` is one of the models routes (`/v1/models`, `/v1/models/{id}`), shared by OpenAI's and Anthropic's clients. */
function isModelsPath(path: string): boolean {
  return path === "/v1/models" || path.startsWith("/v1/models/");
}
