import { randomFillSync } from "node:crypto";

/**
 * Random bytes drawn from the operating system's generator 4 KiB at a time (`crypto.randomFillSync`) and handed out in
 * order, each byte once: `crypto.randomBytes` per id costs a call into the generator and a buffer per id (about
 * 50 µs a request on the development machine, docs/gateway.md "Overhead"). `crypto.randomUUID` pools its entropy the
 * same way.
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * `byteCount` random bytes (from the operating system's generator, as `crypto.randomBytes`) as lowercase hex: two
 * digits per byte.
 */
export function randomHex(byteCount: number): string {
  if (byteCount > pool.length) return randomFillSync(Buffer.alloc(byteCount)).toString("hex");
  if (poolOffset + byteCount > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString("hex", poolOffset, poolOffset + byteCount);
  poolOffset += byteCount;
  return hex;
}

/**
 * An id made of `prefix` and 24 random hex digits (96 bits), the shape of OpenAI's ids: `createRandomId("chatcmpl-")`
 * gives `chatcmpl-3f9a…`, `createRandomId("call_")` a tool call's id.
 */
export function createRandomId(prefix: string): string {
  return prefix + randomHex(12);
}
