import { Hono } from "hono";
import type { WireUpstreamList, WireUpstreamPool } from "../../../wire/console.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { toWireUpstream } from "./models.js";

/**
 * `GET /v1/moestro/upstreams` (admin-only when key checks are on): every configured upstream in config order, each
 * with its state, load, errors and latency (`data`), and the pools their models make (`pools`), each with its members
 * as balancing sees them. `ps` shows the upstreams of each loaded pool; this lists an upstream that serves no model
 * too (one unreachable since start, whose models were never read), and a pool whose local member is unloaded. A server
 * without upstreams answers empty lists.
 */
export function createAdminUpstreamRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/", (c) => {
    const upstreams = deps.upstreams?.() ?? [];
    // A loaded pool's members come from its backend, which knows its local member; an unloaded one's from the upstreams.
    const loadedPools = new Map(
      deps.models
        .listLoaded()
        .filter((model) => model.engine.upstreams !== undefined)
        .map((model) => [model.id, model.engine.upstreams!]),
    );
    const poolIds = [...new Set(upstreams.flatMap((upstream) => upstream.models))];
    const pools: WireUpstreamPool[] = poolIds.map((model) => {
      const loaded = loadedPools.get(model);
      return {
        model,
        loaded: loaded !== undefined,
        members: (loaded ?? upstreams.filter((upstream) => upstream.models.includes(model))).map(toWireUpstream),
      };
    });
    // Read after the upstreams' state, so that the cooldown left it implies is never overstated.
    const at = new Date((deps.now ?? Date.now)()).toISOString();
    return c.json({ object: "list", at, data: upstreams.map(toWireUpstream), pools } satisfies WireUpstreamList);
  });
  return routes;
}
