import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** What every secret starts with, so that a leaked one is recognisable (secret scanners, logs). */
export const apiKeySecretMarker = "mst-";

/** Characters of a secret shown as its prefix: the marker and 8 random characters (48 bits; unique in the store). */
export const apiKeyPrefixLength = 12;

/**
 * A new API key secret: `mst-` and 43 base64url characters (32 random bytes, 256 bits, from the OS CSPRNG).
 */
export function generateApiKeySecret(): string {
  return apiKeySecretMarker + randomBytes(32).toString("base64url");
}

/** The display prefix of `secret`: its first 12 characters. The store finds a key by it; it is safe to show. */
export function apiKeyPrefix(secret: string): string {
  return secret.slice(0, apiKeyPrefixLength);
}

/**
 * The SHA-256 of `secret`, lower-case hex: what the store keeps instead of the secret.
 *
 * A fast hash is right here, unlike for passwords: the secrets are 256 random bits, so there is nothing to guess and a
 * slow KDF (bcrypt, scrypt, argon2) would add no protection against a leaked table, only latency to every request (keys
 * are checked on every request, from the store, so that revocation takes effect at once).
 */
export function hashApiKeySecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/**
 * Whether `secret` hashes to `expectedSha256` (hex), compared in constant time (`crypto.timingSafeEqual` over the two
 * 32-byte digests), so that response timing tells nothing about how much of a guess was right.
 */
export function secretMatches(secret: string, expectedSha256: string): boolean {
  const actual = createHash("sha256").update(secret, "utf8").digest();
  const expected = Buffer.from(expectedSha256, "hex");
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

/** A new key id: `key_` and 16 hex digits. Public: it names the key in the ledger and in admin calls. */
export function generateApiKeyId(): string {
  return "key_" + randomBytes(8).toString("hex");
}
