import { Hono, type Context } from "hono";
import { MoestroError } from "../../../errors/index.js";
import { buildUsageReport, type UsagePricingContext } from "../../../metering/usage-report.js";
import type { UsageGroupBy, UsageRange } from "../../../store/index.js";
import { parseInstantMs } from "../../../util/duration.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { toWireUsageReport } from "../../../wire/admin.js";

const groupings: readonly UsageGroupBy[] = ["key", "model", "day"];

/**
 * `GET /v1/moestro/usage?group_by=key|model|day&from=&to=`: ledger totals per group over `[from, to)`, with the cost
 * and the cloud-list-price equivalent of each group and their total, the hourly cost of time pricing (`time_rate`), and,
 * with `group_by=model`, each model's pricing and the planner's predicted cost per 1M output tokens. `from` and `to` are epoch ms, ISO 8601 dates
 * (00:00 UTC) or date-times, or durations before now (`7d`); both are optional. `group_by` defaults to `key`.
 * Admin key only when key checks are on.
 */
export function createAdminUsageRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  routes.get("/", async (c) => {
    const groupBy = (c.req.query("group_by") ?? "key") as UsageGroupBy;
    if (!groupings.includes(groupBy))
      throw new MoestroError("invalid_request", `'group_by' must be one of key, model, day; got '${groupBy}'.`, { param: "group_by" });
    const admin = deps.admin!;
    const planner = deps.planner;
    const pricing: UsagePricingContext | undefined =
      admin.pricing === undefined
        ? undefined
        : {
            priceBook: admin.pricing.priceBook,
            machine: admin.pricing.machine?.(),
            now,
            plannedSpeeds:
              planner?.decodeSpeeds === undefined
                ? undefined
                : async (model) => await planner.decodeSpeeds!(await deps.models.findEntry(model)),
          };
    const report = await buildUsageReport(admin.usage, { groupBy, ...readUsageRange(c, now()), pricing });
    return c.json(toWireUsageReport(report));
  });
  return routes;
}

/**
 * The `from` and `to` query parameters of the usage routes: epoch ms, ISO 8601 dates (00:00 UTC) or date-times, or
 * durations before `nowMs` (`7d`); absent or empty means open.
 *
 * @throws {MoestroError} 400 `invalid_request` naming the parameter when one cannot be read, or `from` when it is not
 *   before `to` (the range would hold nothing).
 */
export function readUsageRange(c: Context<AppEnv>, nowMs: number): UsageRange {
  const range: UsageRange = {};
  for (const [param, field] of [
    ["from", "fromMs"],
    ["to", "toMs"],
  ] as const) {
    const text = c.req.query(param);
    if (text === undefined || text === "") continue;
    const value = parseInstantMs(text, nowMs);
    if (value === undefined)
      throw new MoestroError(
        "invalid_request",
        `'${param}' must be epoch ms, an ISO 8601 date or date-time, or a duration such as 7d; got '${text}'.`,
        { param },
      );
    range[field] = value;
  }
  // `[from, to)` with `from` at or after `to` holds nothing: a mistake worth naming rather than an empty report.
  if (range.fromMs !== undefined && range.toMs !== undefined && range.fromMs >= range.toMs) {
    throw new MoestroError(
      "invalid_request",
      `'from' (${new Date(range.fromMs).toISOString()}) must be before 'to' (${new Date(range.toMs).toISOString()}).`,
      { param: "from" },
    );
  }
  return range;
}
