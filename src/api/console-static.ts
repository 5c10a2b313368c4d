import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env.js";

/** Content types of the files a Vite build writes. */
const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/**
 * The console's pages may load scripts, styles and data only from this server: nothing from elsewhere, no inline
 * scripts. Inline styles are allowed (React sets `style` attributes; they cannot run code).
 */
const contentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The console's own pages (the `path`s of `pages` in web/src/router.ts; console-static.test.ts keeps the two lists
 * equal). These and `/` are answered with `index.html`, so that a page loads on a refresh.
 */
export const consolePagePaths: readonly string[] = ["/playground", "/models", "/upstreams", "/keys", "/usage", "/batches", "/benchmarks"];

/** Whether a path is `/` or one of the console's pages (a trailing slash allowed, as the console's router allows it). */
function isConsolePage(requestPath: string): boolean {
  const trimmed = requestPath.replace(/\/+$/, "");
  return trimmed === "" || consolePagePaths.includes(trimmed);
}

/** Paths that belong to the API, never to the console. */
function isApiPath(requestPath: string): boolean {
  return requestPath === "/v1" || requestPath.startsWith("/v1/") || requestPath === "/health" || requestPath === "/metrics";
}

/**
 * Serves the web console's static build (`web/dist`) for `GET` and `HEAD` requests outside the API (`/v1/*`,
 * `/health`, `/metrics`), before key checks: the pages hold no data, the API calls they make carry the key.
 *
 * - A file of `dir` is served with its content type; hashed files under `/assets/` are cached for a year, the rest
 *   revalidated (`no-cache`).
 * - `/` and the console's own pages ({@link consolePagePaths}: `/models`, `/keys`…) get `index.html`, so that they
 *   load on a refresh (SPA fallback).
 * - Every other path falls through to the API's JSON 404, so that a client of another API (`GET /api/tags` from an
 *   Ollama client) reads an error it can parse, never the console's HTML.
 * - When `dir` holds no `index.html` (the console was not built), console paths answer 404 with a plain sentence that
 *   says how to build it.
 *
 * Every HTML answer carries a Content-Security-Policy that allows only this origin.
 */
export function createConsoleStatic(options: { dir: string }): MiddlewareHandler<AppEnv> {
  const root = path.resolve(options.dir);
  const indexPath = path.join(root, "index.html");
  return async (c, next) => {
    if ((c.req.method !== "GET" && c.req.method !== "HEAD") || isApiPath(c.req.path)) return await next();
    let relative: string;
    try {
      relative = decodeURIComponent(c.req.path);
    } catch {
      return await next();
    }
    const candidate = path.resolve(root, "." + path.posix.normalize("/" + relative));
    if (candidate !== root && !candidate.startsWith(root + path.sep)) return await next();
    const file = (await isFile(candidate)) ? candidate : isConsolePage(c.req.path) ? indexPath : undefined;
    if (file === undefined) return await next();
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (error) {
      if (file !== indexPath || (error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return c.text(
        "The moestro console is not built: run `npm ci` (or `npm run build:web`) in the moestro checkout, then restart the server. The API under /v1 works without it.\n",
        404,
      );
    }
    const extension = path.extname(file);
    c.header("Content-Type", contentTypes[extension] ?? "application/octet-stream");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", file.startsWith(path.join(root, "assets") + path.sep) ? "public, max-age=31536000, immutable" : "no-cache");
    if (extension === ".html") {
      c.header("Content-Security-Policy", contentSecurityPolicy);
      c.header("Referrer-Policy", "no-referrer");
      c.header("X-Frame-Options", "DENY");
    }
    if (c.req.method === "HEAD") return c.body(null, 200);
    return c.body(new Uint8Array(body), 200);
  };
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
