import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import type { ApiKey, ApiKeyRepository, StoredApiKey } from "../store/index.js";
import {
  apiKeyPrefix,
  apiKeyPrefixLength,
  apiKeySecretMarker,
  generateApiKeyId,
  generateApiKeySecret,
  hashApiKeySecret,
  secretMatches,
} from "./api-key-secret.js";

/** What a new key may do. Everything but `name` is optional; a missing limit means none. */
export const createApiKeyInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200).describe("A human name for the key; not unique."),
    models: z.array(z.string().min(1)).min(1).optional().describe("The only model ids the key may use. Defaults to every model."),
    requestsPerMinute: z.number().int().positive().optional().describe("Requests per minute. Defaults to no limit."),
    tokensPerMinute: z.number().int().positive().optional().describe("Prompt plus completion tokens per minute. Defaults to no limit."),
    budgetMicroUsd: z.number().int().nonnegative().optional().describe("Spend per budget period, micro-USD. Defaults to no budget."),
    budgetPeriod: z.enum(["day", "month"]).optional().describe("The UTC period of the budget; required with budgetMicroUsd."),
    expiresInMs: z.number().int().positive().optional().describe("Lifetime of the key, ms from creation. Defaults to never expiring."),
  })
  .strict()
  .refine((input) => (input.budgetMicroUsd === undefined) === (input.budgetPeriod === undefined), {
    message: "a budget needs both an amount and a period (day or month)",
    path: ["budgetPeriod"],
  });

/** Input of {@link KeyService.create}. */
export type CreateApiKeyInput = z.input<typeof createApiKeyInputSchema>;

/** A key just created, with its secret: the only time the secret exists outside the client. */
export interface CreatedApiKey {
  /** The stored key. */
  key: ApiKey;
  /** The whole secret, to give to the user once. */
  secret: string;
}

/** Creating, listing, revoking and checking API keys. Used by the admin endpoints, the CLI and the key middleware. */
export interface KeyService {
  /**
   * Creates a key and returns its secret, which is not stored (only its SHA-256 and prefix are).
   *
   * @throws {MoestroError} `invalid_request` naming the first invalid field.
   */
  create(input: CreateApiKeyInput): Promise<CreatedApiKey>;
  /** Keys, oldest first; revoked ones only when asked. */
  list(options?: { includeRevoked?: boolean }): Promise<ApiKey[]>;
  /**
   * Revokes the key with this id or prefix; it stops working at the next request. Revoking twice is harmless.
   *
   * @throws {MoestroError} `api_key_not_found` (404) when no key has that id or prefix.
   */
  revoke(idOrPrefix: string): Promise<ApiKey>;
  /**
   * The active key whose secret is `secret`. The store is read on every call, so a new key works and a revoked one stops
   * at once. The key is found by its public prefix and the secret's hash compared in constant time.
   *
   * @throws {MoestroError} `invalid_api_key`, `api_key_revoked` or `api_key_expired` (all 401).
   */
  authenticate(secret: string): Promise<ApiKey>;
  /**
   * The active key whose id is `id`: how a batch line is authorised as the key that created its batch (docs/batch.md),
   * checked as {@link authenticate} checks a secret, so that a key revoked or expired since stops its batches' lines.
   *
   * @throws {MoestroError} `invalid_api_key` (no such key), `api_key_revoked` or `api_key_expired` (all 401).
   */
  authenticateId(id: string): Promise<ApiKey>;
}

/** Inputs of {@link createKeyService}. */
export interface KeyServiceOptions {
  /** Where keys are stored. */
  keys: ApiKeyRepository;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * The {@link KeyService} over a key repository.
 *
 * @example
 * const service = createKeyService({keys: store.apiKeys});
 * const {key, secret} = await service.create({name: "ci", requestsPerMinute: 60});
 */
export function createKeyService(options: KeyServiceOptions): KeyService {
  const now = options.now ?? Date.now;
  // Compared against when no key has the prefix, so that an unknown prefix costs the same hash-and-compare as a known one.
  const decoySha256 = hashApiKeySecret(generateApiKeySecret());
  return {
    async create(input) {
      const parsed = createApiKeyInputSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new MoestroError("invalid_request", `Invalid key option '${issue.path.join(".")}': ${issue.message}.`, {
          param: issue.path.join(".") || null,
        });
      }
      const { expiresInMs, ...fields } = parsed.data;
      const createdAtMs = now();
      // A clash of 48-bit prefixes is rare; a few draws make it vanish.
      for (let attempt = 0; attempt < 5; attempt++) {
        const secret = generateApiKeySecret();
        const key: StoredApiKey = {
          id: generateApiKeyId(),
          ...fields,
          prefix: apiKeyPrefix(secret),
          secretSha256: hashApiKeySecret(secret),
          createdAtMs,
          expiresAtMs: expiresInMs === undefined ? undefined : createdAtMs + expiresInMs,
        };
        if (await options.keys.insert(key)) {
          const { secretSha256: _hash, ...stored } = key;
          return { key: withoutUndefined(stored), secret };
        }
      }
      throw new Error("Could not draw an unused API key prefix in 5 attempts.");
    },
    async list(listOptions = {}) {
      return await options.keys.list({ includeRevoked: listOptions.includeRevoked ?? false });
    },
    async revoke(idOrPrefix) {
      const id = (await options.keys.findById(idOrPrefix))?.id ?? (await options.keys.findByPrefix(idOrPrefix))?.id;
      const revoked = id === undefined ? undefined : await options.keys.revoke(id, now());
      if (revoked === undefined)
        throw new MoestroError("api_key_not_found", `No API key has the id or prefix '${idOrPrefix}'.`, { param: "id" });
      return revoked;
    },
    async authenticate(secret) {
      const wellFormed = secret.startsWith(apiKeySecretMarker) && secret.length > apiKeyPrefixLength;
      const stored = wellFormed ? await options.keys.findByPrefix(apiKeyPrefix(secret)) : undefined;
      const matches = secretMatches(secret, stored?.secretSha256 ?? decoySha256);
      if (stored === undefined || !matches) {
        throw new MoestroError(
          "invalid_api_key",
          "Incorrect API key provided. Create one with `moestro keys create` and send it as `Authorization: Bearer <key>`.",
        );
      }
      return checkActive(stored);
    },
    async authenticateId(id) {
      const stored = await options.keys.findById(id);
      if (stored === undefined) throw new MoestroError("invalid_api_key", `The API key ${id} does not exist any more.`);
      return checkActive(stored);
    },
  };

  /** The key without its hash, when it is neither revoked nor expired. */
  function checkActive(stored: ApiKey & { secretSha256?: string }): ApiKey {
    const { secretSha256: _hash, ...key } = stored;
    if (key.revokedAtMs !== undefined)
      throw new MoestroError("api_key_revoked", `The API key ${key.prefix}… was revoked at ${new Date(key.revokedAtMs).toISOString()}.`);
    if (key.expiresAtMs !== undefined && key.expiresAtMs <= now()) {
      throw new MoestroError("api_key_expired", `The API key ${key.prefix}… expired at ${new Date(key.expiresAtMs).toISOString()}.`);
    }
    return key;
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
