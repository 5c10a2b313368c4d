import type { Logger } from "pino";
import type { AdminDeps, ResponsesDeps } from "./api/app-env.js";
import type { AccessControlDeps } from "./api/middleware/access-control.js";
import { createKeyService } from "./auth/key-service.js";
import { createRateLimiter, createTokenLimitSink, type RateLimiter, type RateLimitStore } from "./auth/rate-limiter.js";
import type { Config } from "./config/index.js";
import { MoestroError } from "./errors/index.js";
import { createBudgetGuard } from "./metering/budget-guard.js";
import { openLedgerSink, type LedgerSink } from "./metering/ledger-sink.js";
import { loadPriceBook, type PriceBook } from "./metering/price-book.js";
import { defaultMachinePower } from "./metering/time-pricing.js";
import { thisMachinePower } from "./planner/machine-power.js";
import type { UsageSink } from "./spec/index.js";
import {
  openStore,
  resolvePostgresTarget,
  startResponseSweeper,
  type ResponseSweeper,
  type ServerInstance,
  type Store,
} from "./store/index.js";

/** The studio side of a server: store, price book, keys, limits and the ledger, ready to hand to `createApp`. */
export interface Studio extends AsyncDisposable {
  /** The open store (migrated). */
  store: Store;
  /** The price book in use. */
  priceBook: PriceBook;
  /** The ledger sink, then the token counter when key checks are on: pass as `usageSinks`. */
  usageSinks: UsageSink[];
  /** Key checks, limits and budgets; `undefined` when no admin key is configured (key checks off). */
  accessControl?: AccessControlDeps;
  /** The admin endpoints' services. */
  admin: AdminDeps;
  /** The Responses API's stored responses (in the store, for `responses.retentionDays`; swept hourly). */
  responses: ResponsesDeps;
  /** This process's server instance in the store (the owner of its ledger rows and of the batches it runs). */
  instance: ServerInstance;
  /**
   * Tells the time pricing which GPUs the engine uses (node-llama-cpp's device names), so that a price book without
   * `watts` prices by the catalog GPU's typical power instead of the host's estimate (docs/studio.md).
   */
  useGpuDevices(deviceNames: readonly string[]): void;
  /** Stops the ledger's heartbeat, closes the rate-limit store and the store. Idempotent. */
  dispose(): Promise<void>;
}

/** Inputs of {@link createStudio} besides the configuration. */
export interface StudioOptions {
  /** Where failures of the rate-limit store, of the ledger's heartbeat and of the instance lock's connection are logged. */
  logger: Logger;
  /** Clock, epoch ms: key expiry, budgets, price effective dates. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Opens the store named by `config` (`databaseUrl` and `databaseSchema`, else SQLite in `home`), loads the price book
 * (`metering.priceBookPath` on top of the built-in list prices), claims this process's server instance and opens the
 * ledger, which first settles the requests that gone instances left running (as `interrupted`), and, when
 * `config.adminKey` is set, connects the rate-limit store (`limits`) and turns key checks on. Every request's usage goes
 * to the ledger either way.
 *
 * @throws {MoestroError} `invalid_request` for a bad database URL, schema or price book; the store's or Redis's
 *   connection errors. What was opened is closed first.
 */
export async function createStudio(config: Config, options: StudioOptions): Promise<Studio> {
  const priceBook = await loadPriceBook(config.metering.priceBookPath);
  const store = await openStore({
    home: config.home,
    databaseUrl: config.databaseUrl,
    databaseSchema: config.databaseSchema,
    sqliteSynchronous: config.sqliteSynchronous,
  });
  let rateLimiter: RateLimiter | undefined;
  let ledger: LedgerSink | undefined;
  let sweeper: ResponseSweeper | undefined;
  try {
    const keys = createKeyService({ keys: store.apiKeys, now: options.now });
    const instance = await store.claimInstance({ logger: options.logger });
    // The host's estimate until the server says which GPU it uses (useGpuDevices).
    let machine = defaultMachinePower();
    ledger = await openLedgerSink({
      machine: () => machine,
      usage: store.usage,
      priceBook,
      instance,
      logger: options.logger,
      now: options.now,
      heartbeatMs: config.metering.heartbeatMs,
    });
    // The ledger first: it is the sink that may refuse a request (its budget reservation), before the others count it.
    const usageSinks: UsageSink[] = [ledger];
    let accessControl: AccessControlDeps | undefined;
    if (config.adminKey !== undefined) {
      rateLimiter = await createRateLimiter({ store: rateLimitStore(config), logger: options.logger });
      usageSinks.push(createTokenLimitSink(rateLimiter));
      accessControl = {
        adminKey: config.adminKey,
        keys,
        rateLimiter,
        budgets: createBudgetGuard({ usage: store.usage, now: options.now }),
      };
    }
    // Expired responses are deleted within the hour; they are never served after their expiry in between.
    sweeper = startResponseSweeper({ repository: store.responses, logger: options.logger, now: options.now });
    let disposing: Promise<void> | undefined;
    const dispose = (): Promise<void> =>
      (disposing ??= (async () => {
        await sweeper?.dispose();
        await ledger?.dispose();
        await rateLimiter?.dispose();
        await store.dispose();
      })());
    return {
      store,
      priceBook,
      usageSinks,
      accessControl,
      admin: { keys, usage: store.usage, canManageKeys: accessControl !== undefined, pricing: { priceBook, machine: () => machine } },
      responses: { repository: store.responses, retentionMs: config.responses.retentionDays * 86_400_000 },
      instance,
      useGpuDevices(deviceNames) {
        if (deviceNames.length > 0) machine = thisMachinePower({ gpuDeviceNames: deviceNames });
      },
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await sweeper?.dispose();
    await ledger?.dispose();
    await rateLimiter?.dispose();
    await store.dispose();
    throw error;
  }
}

function rateLimitStore(config: Config): RateLimitStore {
  switch (config.limits.store) {
    case "memory":
      return { kind: "memory" };
    case "redis":
      return { kind: "redis", url: config.limits.redisUrl, keyPrefix: config.limits.keyPrefix };
    case "postgres":
      if (config.databaseUrl === undefined) {
        throw new MoestroError("invalid_request", "limits.store postgres needs a PostgreSQL store: pass --database-url postgres://...", {
          param: "limits.store",
        });
      }
      // The counters' table goes in the store's schema.
      return {
        kind: "postgres",
        databaseUrl: resolvePostgresTarget(config.databaseUrl, config.databaseSchema).connectionString,
        keyPrefix: config.limits.keyPrefix,
      };
    default:
      return config.limits.store satisfies never;
  }
}
