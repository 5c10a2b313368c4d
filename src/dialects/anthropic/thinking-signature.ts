import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The prefix of moestro's thinking signatures, so that a reader can tell them from Anthropic's. */
const signaturePrefix = "moestro1.";

/**
 * Signs and checks the `signature` of `thinking` blocks (Extended thinking docs: a field that lets the server verify,
 * when a client sends the block back, that it made the thought). A signature is `moestro1.` and the base64url
 * HMAC-SHA256 of the thought's text under a secret drawn once per signer (once per server start): a block this server
 * returned verifies until the server restarts; any other block (edited, from another server, from before a restart)
 * does not. Both kinds are accepted when sent back (never a 400, which would break Claude Code's sessions); what
 * happens to them is the request converter's rule (docs/anthropic.md, "Thinking").
 */
export interface ThinkingSigner {
  /** The signature of a thought. */
  sign(thinking: string): string;
  /** Whether `signature` is this signer's signature of `thinking`. */
  verify(block: { thinking: string; signature: string }): boolean;
}

/**
 * Creates a {@link ThinkingSigner}.
 *
 * @param secret the HMAC key. Defaults to 32 random bytes.
 */
export function createThinkingSigner(secret: Uint8Array = randomBytes(32)): ThinkingSigner {
  const mac = (thinking: string): Buffer => createHmac("sha256", secret).update(thinking, "utf8").digest();
  return {
    sign: (thinking) => signaturePrefix + mac(thinking).toString("base64url"),
    verify: ({ thinking, signature }) => {
      if (!signature.startsWith(signaturePrefix)) return false;
      const given = Buffer.from(signature.slice(signaturePrefix.length), "base64url");
      const expected = mac(thinking);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
