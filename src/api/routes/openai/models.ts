import { stat } from "node:fs/promises";
import { Hono } from "hono";
import type { ModelEntry } from "../../../spec/index.js";
import type { WireModel } from "../../../dialects/openai/wire.js";
import type { AppDeps, AppEnv } from "../../app-env.js";

async function toWireModel(entry: ModelEntry): Promise<WireModel> {
  const modifiedMs = (await stat(entry.path).catch(() => undefined))?.mtimeMs ?? Date.now();
  return {
    id: entry.id,
    object: "model",
    created: Math.floor(modifiedMs / 1000),
    owned_by: entry.source === "store" ? "moestro-store" : "moestro",
  };
}

/**
 * `GET /v1/models` and `GET /v1/models/{id}` (ids may contain `/`), per the OpenAI API reference (Models): every model
 * that can be served, loaded or not (`created` is the GGUF file's modification time). An alias finds its model.
 */
export function createModelsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => c.json({ object: "list", data: await Promise.all((await deps.models.listEntries()).map(toWireModel)) }));
  routes.get("/:id{.+}", async (c) => {
    return c.json(await toWireModel(await deps.models.findEntry(c.req.param("id"))));
  });
  return routes;
}
