import { Hono } from "hono";
import { parseWith } from "../../../dialects/openai/convert-request.js";
import { MoestroError } from "../../../errors/index.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { readKeyBudgetUse } from "../../../metering/budget-guard.js";
import {
  createKeyBodySchema,
  fromCreateKeyBody,
  toWireApiKey,
  toWireListedApiKey,
  toWireCreateKeyError,
  type WireApiKeyList,
  type WireCreatedApiKey,
} from "../../../wire/admin.js";

/**
 * The key endpoints under `/v1/moestro/keys` (admin key only; the access-control middleware checks it):
 * - `POST /` creates a key; 201 with the key and its `secret`, shown this once; 400 `invalid_request` naming the body's
 *   field in `param` (`requests_per_minute`, `models[1]`, `budget_period`).
 * - `GET /` lists keys, oldest first; `?include_revoked=true` adds revoked ones. Each key with a budget carries
 *   `budget_use`: its current period's settled spend and running reservations (one ledger read per such key).
 * - `DELETE /{id}` revokes the key with that id or prefix; 200 with the key, 404 `api_key_not_found`.
 *
 * With key checks off (no admin key) every key endpoint answers 403 `permission_denied`: keys made then would be
 * usable by anyone once checks are turned on.
 */
export function createAdminKeyRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const admin = deps.admin;
  routes.use("*", async (_c, next) => {
    if (admin === undefined || !admin.canManageKeys) {
      throw new MoestroError(
        "permission_denied",
        "Key management needs key checks on: start `moestro serve` with --admin-key (or MOESTRO_ADMIN_KEY).",
      );
    }
    await next();
  });
  routes.post("/", async (c) => {
    const input = fromCreateKeyBody(parseWith(createKeyBodySchema, await readJsonBody(c)));
    // The key service names its input's fields (`requestsPerMinute`); the API answers with the body's (`requests_per_minute`).
    const { key, secret } = await admin!.keys.create(input).catch((error: unknown) => {
      throw toWireCreateKeyError(error);
    });
    const body: WireCreatedApiKey = { ...toWireApiKey(key), secret };
    return c.json(body, 201);
  });
  routes.get("/", async (c) => {
    const includeRevoked = c.req.query("include_revoked") === "true";
    const nowMs = (deps.now ?? Date.now)();
    const keys = await admin!.keys.list({ includeRevoked });
    const data = await Promise.all(keys.map(async (key) => toWireListedApiKey(key, await readKeyBudgetUse(admin!.usage, key, nowMs))));
    const body: WireApiKeyList = { object: "list", data };
    return c.json(body);
  });
  routes.delete("/:id", async (c) => c.json(toWireApiKey(await admin!.keys.revoke(c.req.param("id")))));
  return routes;
}
