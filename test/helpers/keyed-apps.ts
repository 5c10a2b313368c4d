import path from "node:path";
import { pino } from "pino";
import { createKeyService, type KeyService } from "../../src/auth/key-service.js";
import { createRateLimiter } from "../../src/auth/rate-limiter.js";
import { createBudgetGuard } from "../../src/metering/budget-guard.js";
import { openStore } from "../../src/store/index.js";
import { type AppDeps, createApp } from "../../src/api/app.js";

/** Two apps built with `createApp` from the same deps: one with key checks off, one with them on. */
export interface OpenAndKeyedApps {
  /** Key checks off: every route open. */
  openApp: ReturnType<typeof createApp>;
  /** Key checks on, with `adminKey` as the admin key and the admin endpoints served. */
  keyedApp: ReturnType<typeof createApp>;
  /** The keys of the keyed app's store, to make user keys. */
  keys: KeyService;
  /** Closes the store and the rate limiter. */
  dispose(): Promise<void>;
}

/**
 * Builds {@link OpenAndKeyedApps} over a SQLite store in `home/store` (in-memory rate limits, default budgets), for
 * model-free tests of the HTTP layer (`app.request()`, no port).
 */
export async function createOpenAndKeyedApps(options: {
  home: string;
  adminKey: string;
  deps: Omit<AppDeps, "logger" | "accessControl" | "admin"> & { logger?: AppDeps["logger"] };
}): Promise<OpenAndKeyedApps> {
  const logger = options.deps.logger ?? pino({ level: "silent" });
  const store = await openStore({ home: path.join(options.home, "store") });
  const rateLimiter = await createRateLimiter({ logger });
  const keys = createKeyService({ keys: store.apiKeys });
  const deps = { ...options.deps, logger };
  return {
    openApp: createApp(deps),
    keyedApp: createApp({
      ...deps,
      accessControl: { adminKey: options.adminKey, keys, rateLimiter, budgets: createBudgetGuard({ usage: store.usage }) },
      admin: { keys, usage: store.usage, canManageKeys: true },
    }),
    keys,
    dispose: async () => {
      await rateLimiter.dispose();
      await store.dispose();
    },
  };
}
