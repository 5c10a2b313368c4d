import type { Command } from "commander";
import {
  fromCreateKeyBody,
  toWireApiKey,
  toWireListedApiKey,
  toWireUsageReport,
  type CreateKeyBody,
  type WireApiKey,
  type WireCreatedApiKey,
  type WireUsageReport,
} from "../wire/admin.js";
import { createKeyService } from "../auth/key-service.js";
import { createAdminClient } from "../client/admin-client.js";
import { createConsoleClient } from "../client/console-client.js";
import { loadConfig } from "../config/index.js";
import { MoestroError } from "../errors/index.js";
import { readKeyBudgetUse } from "../metering/budget-guard.js";
import { loadPriceBook } from "../metering/price-book.js";
import { buildUsageReport } from "../metering/usage-report.js";
import { openStore } from "../store/index.js";
import { parseInstantMs } from "../util/duration.js";

/** Where admin commands act: a running server's admin API, or the local store. Both answer in the same wire shapes. */
export interface AdminBackend {
  /** `server` with `--url` (or `MOESTRO_URL`), else `local`. */
  readonly target: "server" | "local";
  /**
   * Whether an admin key is set where the command runs (`--admin-key`, `MOESTRO_ADMIN_KEY` or the config file's
   * `adminKey`): a server started with the same settings checks keys exactly then.
   */
  readonly hasAdminKey: boolean;
  /**
   * The model ids and aliases the server serves (`GET /v1/moestro/models`); `undefined` for the local store, or when the
   * server does not tell (an error answer, an older server). Never throws: it is only used for advice.
   */
  servedModels(): Promise<string[] | undefined>;
  /**
   * The served models whose requests cost $0 for want of a price (`unpriced` in `GET /v1/moestro/models`), with their
   * aliases: `[[id, ...aliases], ...]`; `undefined` as for {@link servedModels}. Never throws: it is only used for advice.
   */
  unpricedModels(): Promise<string[][] | undefined>;
  /** Creates a key; the answer holds its secret. */
  createKey(body: CreateKeyBody): Promise<WireCreatedApiKey>;
  /** Lists keys, oldest first, each with a budget with its current period's use (`budget_use`). */
  listKeys(options: { includeRevoked: boolean }): Promise<WireApiKey[]>;
  /** Revokes a key by id or prefix. */
  revokeKey(idOrPrefix: string): Promise<WireApiKey>;
  /** Usage totals; `from` and `to` as the admin API takes them. */
  usage(options: { groupBy: "key" | "model" | "day"; from?: string; to?: string }): Promise<WireUsageReport>;
  /** Closes the store when local. */
  dispose(): Promise<void>;
}

/** The flags every admin command takes. */
export interface AdminTargetFlags {
  /** A running server (else env MOESTRO_URL). */
  url?: string;
  /** Its admin key (else env MOESTRO_ADMIN_KEY). */
  adminKey?: string;
  /** The local store's folder (else env MOESTRO_HOME, else ~/.moestro). */
  home?: string;
  /** A PostgreSQL store (else env MOESTRO_DATABASE_URL). */
  databaseUrl?: string;
  /** The PostgreSQL store's schema (else env MOESTRO_DATABASE_SCHEMA). */
  databaseSchema?: string;
}

/**
 * The running server at `url` (flag or `MOESTRO_URL`) through the admin API, authenticated with the admin key (flag or
 * `MOESTRO_ADMIN_KEY`); without a URL, the local store (`--database-url`, else SQLite in `--home` / `MOESTRO_HOME`).
 *
 * @throws {MoestroError} `invalid_request` for invalid flags or environment values.
 */
export async function openAdminBackend(flags: AdminTargetFlags, env: Record<string, string | undefined>): Promise<AdminBackend> {
  const config = loadConfig({
    env,
    flags: {
      url: flags.url,
      adminKey: flags.adminKey,
      home: flags.home,
      databaseUrl: flags.databaseUrl,
      databaseSchema: flags.databaseSchema,
    },
  });
  if (config.url !== undefined) {
    const client = createAdminClient({ baseUrl: config.url, adminKey: config.adminKey });
    const consoleClient = createConsoleClient({ baseUrl: config.url, adminKey: config.adminKey });
    return {
      target: "server",
      hasAdminKey: config.adminKey !== undefined,
      servedModels: async () => (await consoleClient.listModels().catch(() => undefined))?.flatMap((model) => [model.id, ...model.aliases]),
      unpricedModels: async () =>
        (await consoleClient.listModels().catch(() => undefined))
          ?.filter((model) => model.unpriced === true)
          .map((model) => [model.id, ...model.aliases]),
      createKey: (body) => client.createKey(body),
      listKeys: (options) => client.listKeys(options),
      revokeKey: (idOrPrefix) => client.revokeKey(idOrPrefix),
      usage: (options) => client.usage(options),
      dispose: async () => undefined,
    };
  }
  const store = await openStore({
    home: config.home,
    databaseUrl: config.databaseUrl,
    databaseSchema: config.databaseSchema,
    sqliteSynchronous: config.sqliteSynchronous,
  });
  const keys = createKeyService({ keys: store.apiKeys });
  return {
    target: "local",
    hasAdminKey: config.adminKey !== undefined,
    servedModels: async () => undefined,
    unpricedModels: async () => undefined,
    async createKey(body) {
      const { key, secret } = await keys.create(fromCreateKeyBody(body));
      return { ...toWireApiKey(key), secret };
    },
    listKeys: async (options) => {
      const nowMs = Date.now();
      return await Promise.all(
        (await keys.list(options)).map(async (key) => toWireListedApiKey(key, await readKeyBudgetUse(store.usage, key, nowMs))),
      );
    },
    revokeKey: async (idOrPrefix) => toWireApiKey(await keys.revoke(idOrPrefix)),
    async usage({ groupBy, from, to }) {
      const now = Date.now();
      const bound = (text: string | undefined, name: string): number | undefined => {
        if (text === undefined) return undefined;
        const value = parseInstantMs(text, now);
        if (value === undefined)
          throw new MoestroError(
            "invalid_request",
            `--${name} must be a date (2026-01-31), a date-time, epoch ms or a duration before now (7d); got '${text}'.`,
          );
        return value;
      };
      // The local store has no server: the pricing shown is the configured price book's (MOESTRO_METERING__PRICE_BOOK_PATH or the config
      // file's metering.priceBookPath) on this machine, without the planner's prediction (it needs the served models).
      const priceBook = await loadPriceBook(config.metering.priceBookPath);
      return toWireUsageReport(
        await buildUsageReport(store.usage, { groupBy, fromMs: bound(from, "since"), toMs: bound(to, "until"), pricing: { priceBook } }),
      );
    },
    dispose: () => store.dispose(),
  };
}

/**
 * Adds the flags that pick where an admin command acts: `--url` and `--admin-key` for a running server, `--home` and
 * `--database-url` (with `--database-schema`) for the local store.
 */
export function addAdminTargetOptions(command: Command): Command {
  return command
    .option("--url <url>", "a running server, http://host:port (env MOESTRO_URL); without it, the local store")
    .option("--admin-key <key>", "the server's admin key (env MOESTRO_ADMIN_KEY; prefer the env: flags show in ps)")
    .option("--home <dir>", "the local store's folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--database-url <url>", "a PostgreSQL store, postgres://... (env MOESTRO_DATABASE_URL)")
    .option("--database-schema <name>", "the PostgreSQL store's schema (env MOESTRO_DATABASE_SCHEMA, default: the URL's search_path)");
}
