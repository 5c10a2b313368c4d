import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../../app-env.js";
import type { WireServerInfo } from "../../../wire/console.js";

/**
 * `GET /v1/moestro/info`: the server's version, whether key checks are on, and which optional parts of the studio it
 * has (`features`), so that the web console can show a plain notice for a missing part instead of failing. Like every
 * admin endpoint it needs the admin key when key checks are on: the console takes a 401 `missing_api_key` as "log in".
 */
export function createAdminInfoRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", (c) => {
    const body: WireServerInfo = {
      object: "moestro.info",
      version: deps.version ?? "unknown",
      key_checks: deps.accessControl !== undefined,
      features: {
        pull: deps.puller !== undefined,
        plan: deps.planner !== undefined,
        keys: deps.admin?.canManageKeys ?? false,
        usage: deps.admin !== undefined,
        results: deps.results !== undefined,
      },
      results_dir: deps.results?.dir ?? null,
      memory_budget_bytes: deps.maxMemoryBytes ?? null,
    };
    return c.json(body);
  });
  return routes;
}
