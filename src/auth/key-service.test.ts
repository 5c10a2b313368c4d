import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../../test/helpers/databases.js";
import { MoestroError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { hashApiKeySecret, secretMatches } from "./api-key-secret.js";
import { createKeyService, type KeyService } from "./key-service.js";

async function errorOf(promise: Promise<unknown>): Promise<MoestroError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MoestroError) return error;
    throw error;
  }
  throw new Error("expected a MoestroError");
}

describe.each(testDialects)("API keys on %s", (dialect) => {
  let target: TestStoreTarget;
  let store: Store;
  let nowMs = Date.parse("2026-05-01T00:00:00Z");
  let service: KeyService;

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    service = createKeyService({ keys: store.apiKeys, now: () => nowMs });
  });
  afterAll(async () => {
    await store?.dispose();
    await target?.cleanup();
  });

  it("creates a key whose secret is shown once and stored only as a SHA-256 and a prefix", async () => {
    const { key, secret } = await service.create({
      name: "ci",
      models: ["a", "b"],
      requestsPerMinute: 60,
      tokensPerMinute: 1000,
      budgetMicroUsd: 5_000_000,
      budgetPeriod: "month",
      expiresInMs: 3_600_000,
    });
    expect(secret).toMatch(/^mst-[A-Za-z0-9_-]{43}$/);
    expect(key).toEqual({
      id: expect.stringMatching(/^key_[0-9a-f]{16}$/),
      name: "ci",
      prefix: secret.slice(0, 12),
      models: ["a", "b"],
      requestsPerMinute: 60,
      tokensPerMinute: 1000,
      budgetMicroUsd: 5_000_000,
      budgetPeriod: "month",
      createdAtMs: nowMs,
      expiresAtMs: nowMs + 3_600_000,
    });
    const row = await store.db.selectFrom("api_keys").selectAll().where("id", "=", key.id).executeTakeFirstOrThrow();
    expect(Object.values(row)).not.toContain(secret);
    expect(row.secret_sha256).toBe(hashApiKeySecret(secret));
    expect(await service.authenticate(secret)).toEqual(key);
  });

  it("refuses unknown, altered, revoked and expired secrets with 401 codes", async () => {
    const { key, secret } = await service.create({ name: "short-lived", expiresInMs: 1000 });
    const altered = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    expect((await errorOf(service.authenticate(altered))).code).toBe("invalid_api_key");
    expect((await errorOf(service.authenticate("sk-something-else"))).code).toBe("invalid_api_key");
    expect((await errorOf(service.authenticate("mst-unknown0000000000000000"))).status).toBe(401);
    nowMs += 1000;
    expect((await errorOf(service.authenticate(secret))).code).toBe("api_key_expired");
    nowMs -= 1000;
    await service.revoke(key.prefix);
    expect((await errorOf(service.authenticate(secret))).code).toBe("api_key_revoked");
    expect((await service.list()).some((listed) => listed.id === key.id)).toBe(false);
    expect((await service.list({ includeRevoked: true })).find((listed) => listed.id === key.id)?.revokedAtMs).toBe(nowMs);
  });

  it("validates the options, naming the field", async () => {
    expect(await errorOf(service.create({ name: " " }))).toMatchObject({ code: "invalid_request", param: "name" });
    expect(await errorOf(service.create({ name: "x", budgetMicroUsd: 10 }))).toMatchObject({ param: "budgetPeriod" });
    expect(await errorOf(service.create({ name: "x", requestsPerMinute: 0 }))).toMatchObject({ param: "requestsPerMinute" });
    expect(await errorOf(service.revoke("key_nope"))).toMatchObject({ code: "api_key_not_found", status: 404 });
  });

  it("compares secrets in constant time over equal-length digests", () => {
    const secret = "mst-abc";
    expect(secretMatches(secret, hashApiKeySecret(secret))).toBe(true);
    expect(secretMatches(secret, hashApiKeySecret("mst-abd"))).toBe(false);
    expect(secretMatches(secret, "00")).toBe(false);
  });
});
