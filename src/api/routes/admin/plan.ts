import { Hono } from "hono";
import { MoestroError } from "../../../errors/index.js";
import type { AppDeps, AppEnv } from "../../app-env.js";

/**
 * `GET /v1/moestro/plan?model=ID`: the model's facts from its GGUF header (parameters total and active, experts and
 * experts used, quantization) and its plan on the machine the server runs on, for the server's context shape: memory,
 * placement, predicted decode and prefill speed (docs/planner.md). The id may be an alias; ids may hold `/`, hence a
 * query parameter. Answers 404 `not_found` when the server has no planner.
 *
 * @throws {MoestroError} 400 `invalid_request` without `model`; 404 `model_not_found` for an id the server does not know.
 */
export function createAdminPlanRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => {
    const planner = deps.planner;
    if (planner === undefined) throw new MoestroError("not_found", "This server has no planner.");
    const id = c.req.query("model");
    if (id === undefined || id === "")
      throw new MoestroError("invalid_request", "Give the model to plan: ?model=<id>.", { param: "model" });
    return c.json(await planner.plan(await deps.models.findEntry(id)));
  });
  return routes;
}
