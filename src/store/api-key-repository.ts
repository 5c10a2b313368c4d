import type { Kysely, Selectable } from "kysely";
import type { ApiKeysTable, Database } from "./database.js";

/**
 * A calendar period of a budget, in UTC.
 * - `day`: from 00:00 UTC to the next 00:00 UTC.
 * - `month`: from the first of the month, 00:00 UTC, to the first of the next month.
 */
export type BudgetPeriod = "day" | "month";

/** An API key as the rest of moestro sees it: never the secret, only its display prefix. */
export interface ApiKey {
  /** `key_` + 16 hex digits; what the ledger records. */
  id: string;
  /** The name given at creation. */
  name: string;
  /** The secret's first 12 characters (`mst-` + 8), safe to show. */
  prefix: string;
  /** The model ids the key may use; `undefined` means every model. */
  models?: readonly string[];
  /** Requests per minute; `undefined` means no limit. */
  requestsPerMinute?: number;
  /** Prompt plus completion tokens per minute; `undefined` means no limit. */
  tokensPerMinute?: number;
  /** Spend allowed per `budgetPeriod`, micro-USD; `undefined` means no budget. */
  budgetMicroUsd?: number;
  /** The period of `budgetMicroUsd`; set exactly when it is. */
  budgetPeriod?: BudgetPeriod;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** Expiry, epoch ms; `undefined` means never. */
  expiresAtMs?: number;
  /** Revocation time, epoch ms; `undefined` while active. */
  revokedAtMs?: number;
}

/** A stored key with the SHA-256 of its secret, for authentication only. */
export interface StoredApiKey extends ApiKey {
  /** SHA-256 of the secret, lower-case hex. */
  secretSha256: string;
}

/** The API keys aggregate. Every method is one statement; none keeps state between calls. */
export interface ApiKeyRepository {
  /**
   * Stores a new key. Resolves `false`, storing nothing, when a key with the same prefix exists (the caller draws a
   * new secret).
   */
  insert(key: StoredApiKey): Promise<boolean>;
  /** The key whose secret starts with `prefix`, revoked or not, or `undefined`. */
  findByPrefix(prefix: string): Promise<StoredApiKey | undefined>;
  /** The key with id `id`, or `undefined`. */
  findById(id: string): Promise<ApiKey | undefined>;
  /** Keys, oldest first; revoked ones only when `includeRevoked`. */
  list(options: { includeRevoked: boolean }): Promise<ApiKey[]>;
  /**
   * Marks the key revoked at `atMs`; a key revoked before keeps its first revocation time. Resolves the key, or
   * `undefined` when no key has that id.
   */
  revoke(id: string, atMs: number): Promise<ApiKey | undefined>;
}

/** The {@link ApiKeyRepository} over `db`. */
export function createApiKeyRepository(db: Kysely<Database>): ApiKeyRepository {
  return {
    async insert(key) {
      const result = await db
        .insertInto("api_keys")
        .values({
          id: key.id,
          name: key.name,
          prefix: key.prefix,
          secret_sha256: key.secretSha256,
          models_json: key.models === undefined ? null : JSON.stringify(key.models),
          requests_per_minute: key.requestsPerMinute ?? null,
          tokens_per_minute: key.tokensPerMinute ?? null,
          budget_micro_usd: key.budgetMicroUsd ?? null,
          budget_period: key.budgetPeriod ?? null,
          created_at: key.createdAtMs,
          expires_at: key.expiresAtMs ?? null,
          revoked_at: key.revokedAtMs ?? null,
        })
        .onConflict((conflict) => conflict.column("prefix").doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
    },
    async findByPrefix(prefix) {
      const row = await db.selectFrom("api_keys").selectAll().where("prefix", "=", prefix).executeTakeFirst();
      return row === undefined ? undefined : { ...toApiKey(row), secretSha256: row.secret_sha256 };
    },
    async findById(id) {
      const row = await db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toApiKey(row);
    },
    async list({ includeRevoked }) {
      let query = db.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("id");
      if (!includeRevoked) query = query.where("revoked_at", "is", null);
      return (await query.execute()).map(toApiKey);
    },
    async revoke(id, atMs) {
      await db.updateTable("api_keys").set({ revoked_at: atMs }).where("id", "=", id).where("revoked_at", "is", null).execute();
      const row = await db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toApiKey(row);
    },
  };
}

/** The one place where an `api_keys` row becomes an {@link ApiKey}. */
function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  const key: ApiKey = { id: row.id, name: row.name, prefix: row.prefix, createdAtMs: row.created_at };
  if (row.models_json !== null) key.models = JSON.parse(row.models_json) as string[];
  if (row.requests_per_minute !== null) key.requestsPerMinute = row.requests_per_minute;
  if (row.tokens_per_minute !== null) key.tokensPerMinute = row.tokens_per_minute;
  if (row.budget_micro_usd !== null && row.budget_period !== null) {
    key.budgetMicroUsd = row.budget_micro_usd;
    key.budgetPeriod = row.budget_period as BudgetPeriod;
  }
  if (row.expires_at !== null) key.expiresAtMs = row.expires_at;
  if (row.revoked_at !== null) key.revokedAtMs = row.revoked_at;
  return key;
}
