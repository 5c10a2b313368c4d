import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../../app-env.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { createOllamaChatHandler } from "./chat.js";
import { createOllamaEmbeddingsHandler, createOllamaEmbedHandler } from "./embed.js";
import { createOllamaGenerateHandler } from "./generate.js";
import {
  createOllamaCopyHandler,
  createOllamaDeleteHandler,
  createOllamaPsHandler,
  createOllamaShowHandler,
  createOllamaTagsHandler,
  createOllamaVersionHandler,
} from "./models.js";
import { createOllamaContext } from "./ollama-context.js";
import { createOllamaPullHandler } from "./pull.js";

/**
 * Ollama's API (Ollama docs/api.md), mounted at `/api`: `chat`, `generate`, `tags`, `show`, `ps`, `pull`, `delete`,
 * `copy`, `embed`, `embeddings` and `version` (docs/ollama.md says what each supports). Errors answer in Ollama's shape
 * `{"error": "…"}` (the app's error handler, by path). `GET` routes answer `HEAD` too (Hono routes HEAD to GET).
 */
export function createOllamaRoutes(deps: AppDeps, validator: SchemaValidator): Hono<AppEnv> {
  const context = createOllamaContext(deps, validator);
  const routes = new Hono<AppEnv>();
  routes.get("/version", createOllamaVersionHandler());
  routes.get("/tags", createOllamaTagsHandler(context));
  routes.get("/ps", createOllamaPsHandler(context));
  routes.post("/show", createOllamaShowHandler(context));
  routes.post("/chat", createOllamaChatHandler(context));
  routes.post("/generate", createOllamaGenerateHandler(context));
  routes.post("/pull", createOllamaPullHandler(context));
  routes.post("/copy", createOllamaCopyHandler(context));
  routes.delete("/delete", createOllamaDeleteHandler(context));
  routes.post("/embed", createOllamaEmbedHandler(context));
  routes.post("/embeddings", createOllamaEmbeddingsHandler(context));
  return routes;
}
