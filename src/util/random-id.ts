import { randomBytes } from "node:crypto";

/** `byteCount` random bytes (from `crypto.randomBytes`) as lowercase hex: two digits per byte. */
export function randomHex(byteCount: number): string {
  return randomBytes(byteCount).toString("hex");
}

/**
 * An id made of `prefix` and 24 random hex digits (96 bits), the shape of OpenAI's ids: `createRandomId("chatcmpl-")`
 * gives `chatcmpl-3f9a…`, `createRandomId("call_")` a tool call's id.
 */
export function createRandomId(prefix: string): string {
  return prefix + randomHex(12);
}
