import { Hono } from "hono";
import type { WireModel } from "../../openai/wire.js";
import type { ModelBackend } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { findModel } from "./shared.js";

function toWireModel(backend: ModelBackend): WireModel {
  return { id: backend.info.id, object: "model", created: backend.info.createdAtSeconds, owned_by: "moestro" };
}

/** `GET /v1/models` and `GET /v1/models/{id}` (ids may contain `/`), per the OpenAI API reference (Models). */
export function createModelsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", (c) => c.json({ object: "list", data: deps.models.list().map(toWireModel) }));
  routes.get("/:id{.+}", (c) => c.json(toWireModel(findModel(deps.models, c.req.param("id")))));
  return routes;
}
