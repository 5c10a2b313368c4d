import type { MiddlewareHandler } from "hono";
import { MoestroError } from "../../errors/index.js";
import type { AppEnv } from "../app-env.js";
import { respondWithError } from "../error-response.js";
import type { Logger } from "pino";

/** Headers a browser may send to the API. */
const allowedHeaders = [
  "authorization",
  "content-type",
  "x-api-key",
  "x-request-id",
  // The default session header of the gateway's session affinity (gateway.affinity.header, docs/gateway.md).
  "x-session-id",
  "openai-organization",
  "openai-project",
  "x-stainless-lang",
  "x-stainless-package-version",
  "x-stainless-os",
  "x-stainless-arch",
  "x-stainless-runtime",
  "x-stainless-runtime-version",
  "x-stainless-retry-count",
  "x-stainless-timeout",
];
/** Response headers a browser page may read. */
const exposedHeaders = [
  "x-request-id",
  "retry-after",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  // Which pool member answered, and the model asked for when a fallback answered (docs/gateway.md).
  "x-moestro-upstream",
  "x-moestro-fallback-from",
];

/**
 * Whether `origin` matches one of `patterns` (`*` matches any run of characters; a lone `*` matches every origin).
 * `http://localhost` also matches `http://localhost:*`-style patterns only when the pattern says so.
 */
export function isOriginAllowed(origin: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    if (pattern === "*") return true;
    const regex = new RegExp(
      `^${pattern
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
        .join(".*")}$`,
      "i",
    );
    return regex.test(origin);
  });
}

/**
 * CORS for the API (the CORS protocol of the Fetch standard). A request without an `Origin` header is untouched. From
 * an allowed origin, a preflight (`OPTIONS` with `Access-Control-Request-Method`) gets 204 with the allowed methods
 * and headers, no credentials needed, and other requests get `Access-Control-Allow-Origin` echoing the origin. From an
 * origin that is not allowed, both get 403 with an OpenAI-shaped error that names the setting to change, never an
 * empty body (case C31, docs/compat-cases.md). Runs before key checks.
 */
export function createCors(options: { allowedOrigins: readonly string[]; logger: Logger }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin === undefined) return await next();
    const isPreflight = c.req.method === "OPTIONS" && c.req.header("access-control-request-method") !== undefined;
    if (!isOriginAllowed(origin, options.allowedOrigins)) {
      return respondWithError(
        c,
        new MoestroError(
          "cors_origin_not_allowed",
          `The origin ${origin} is not allowed to call this server. Allow it with --cors-origin '${origin}' or MOESTRO_SERVER__CORS_ORIGINS (a comma-separated list; * allows every origin).`,
        ),
        options.logger,
      );
    }
    c.header("Access-Control-Allow-Origin", origin);
    c.header("Vary", "Origin");
    if (isPreflight) {
      c.header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      const requested = c.req.header("access-control-request-headers");
      c.header("Access-Control-Allow-Headers", requested && requested.length > 0 ? requested : allowedHeaders.join(", "));
      c.header("Access-Control-Max-Age", "600");
      return c.body(null, 204);
    }
    c.header("Access-Control-Expose-Headers", exposedHeaders.join(", "));
    await next();
  };
}
