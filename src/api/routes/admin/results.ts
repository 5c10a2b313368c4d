import { Hono } from "hono";
import { MoestroError } from "../../../errors/index.js";
import type { AppDeps, AppEnv } from "../../app-env.js";

/**
 * `GET /v1/moestro/results`: the serving benchmarks and evals stored in the server's results folder
 * (`$MOESTRO_HOME/results`; `moestro bench --out` and `moestro eval --out` write there when pointed at it), newest
 * first. Read-only. Answers 404 `not_found` when the server has no results folder.
 */
export function createAdminResultsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => {
    if (deps.results === undefined) throw new MoestroError("not_found", "This server has no results folder.");
    return c.json(await deps.results.list());
  });
  return routes;
}
