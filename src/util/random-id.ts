/**
 * An id made of `prefix` and 24 random hex digits (96 bits from `crypto.getRandomValues`), the shape of OpenAI's ids:
 * `createRandomId("chatcmpl-")` gives `chatcmpl-3f9a…`, `createRandomId("call_")` a tool call's id.
 */
export function createRandomId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return prefix + Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
