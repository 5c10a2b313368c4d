import { maxCacheBreakpoints } from "../engines/context-cache.js";
import { MoestroError } from "../errors/index.js";

/**
 * Reads one `cache_control` field (Anthropic's Messages API and Model Studio's chat completions spell it alike):
 * absent or `null` is no marker; `{"type": "ephemeral"}` marks the prefix up to and including the block or message it
 * is on. A `ttl` is accepted and not honoured: every pin lives 5 minutes from its last hit (docs/context-cache.md).
 *
 * @throws {MoestroError} `invalid_request` (400) naming `param` for anything else (a `type` other than `ephemeral`).
 */
export function isCacheMarked(value: unknown, param: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new MoestroError("invalid_request", `${param}: expected an object such as {"type": "ephemeral"}.`, { param });
  }
  const type = (value as { type?: unknown }).type;
  if (type !== "ephemeral") {
    throw new MoestroError("invalid_request", `${param}.type: must be 'ephemeral', got ${JSON.stringify(type ?? null)}.`, {
      param: `${param}.type`,
    });
  }
  return true;
}

/**
 * Refuses more than {@link maxCacheBreakpoints} markers in one request, as Anthropic and Model Studio do.
 *
 * @throws {MoestroError} `invalid_request` (400) with `param` `cache_control`.
 */
export function checkCacheBreakpointCount(count: number): void {
  if (count > maxCacheBreakpoints) {
    throw new MoestroError(
      "invalid_request",
      `A maximum of ${maxCacheBreakpoints} blocks with cache_control may be provided. Found ${count}.`,
      { param: "cache_control" },
    );
  }
}
