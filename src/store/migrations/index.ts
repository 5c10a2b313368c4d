import type { Migration } from "kysely";
import * as initial from "./0001-initial.js";
import * as runningRequests from "./0002-running-requests.js";
import * as usageEngine from "./0003-usage-engine.js";
import * as responses from "./0004-responses.js";
import * as usageUpstream from "./0005-usage-upstream.js";
import * as usageSpeculative from "./0006-usage-speculative.js";
import * as usageTimeCost from "./0007-usage-time-cost.js";
import * as batches from "./0008-batches.js";
import * as usageContextCache from "./0009-usage-context-cache.js";
import * as usageEstimated from "./0010-usage-estimated.js";

/**
 * Every migration, by name, in the order they apply. Listed by hand (not read from the folder) so that the compiled
 * `dist/` needs no file-system scan. Add a new file `NNNN-name.ts` and one line here; never edit an applied one.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  "0001-initial": initial,
  "0002-running-requests": runningRequests,
  "0003-usage-engine": usageEngine,
  "0004-responses": responses,
  "0005-usage-upstream": usageUpstream,
  "0006-usage-speculative": usageSpeculative,
  "0007-usage-time-cost": usageTimeCost,
  "0008-batches": batches,
  "0009-usage-context-cache": usageContextCache,
  "0010-usage-estimated": usageEstimated,
};
