import { stat } from "node:fs/promises";
import { Hono } from "hono";
import type { ModelEntry } from "../../../spec/index.js";
import type { WireModel } from "../../../dialects/openai/wire.js";
import type { WireModelInfo, WireModelList } from "../../../dialects/anthropic/wire.js";
import type { AppDeps, AppEnv } from "../../app-env.js";

async function modifiedMs(entry: ModelEntry): Promise<number> {
  return (await stat(entry.path).catch(() => undefined))?.mtimeMs ?? Date.now();
}

async function toWireModel(entry: ModelEntry): Promise<WireModel> {
  return {
    id: entry.id,
    object: "model",
    created: Math.floor((await modifiedMs(entry)) / 1000),
    owned_by: entry.source === "store" ? "moestro-store" : "moestro",
  };
}

/** A model in Anthropic's shape (Models reference, "Get a Model"): its id is its display name too. */
async function toAnthropicModel(entry: ModelEntry): Promise<WireModelInfo> {
  return { type: "model", id: entry.id, display_name: entry.id, created_at: new Date(await modifiedMs(entry)).toISOString() };
}

/**
 * `GET /v1/models` and `GET /v1/models/{id}` (ids may contain `/`), per the OpenAI API reference (Models): every model
 * that can be served, loaded or not (`created` is the GGUF file's modification time). An alias finds its model. A
 * request with an `anthropic-version` header (Anthropic's clients send it on every call) gets Anthropic's shapes
 * (Models reference, "List Models": `data` of `{type, id, display_name, created_at}` and one page: `has_more` false).
 */
export function createModelsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => {
    const entries = await deps.models.listEntries();
    if (c.req.header("anthropic-version") === undefined) {
      return c.json({ object: "list", data: await Promise.all(entries.map(toWireModel)) });
    }
    const data = await Promise.all(entries.map(toAnthropicModel));
    const list: WireModelList = { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
    return c.json(list);
  });
  routes.get("/:id{.+}", async (c) => {
    const entry = await deps.models.findEntry(c.req.param("id"));
    return c.json(c.req.header("anthropic-version") === undefined ? await toWireModel(entry) : await toAnthropicModel(entry));
  });
  return routes;
}
