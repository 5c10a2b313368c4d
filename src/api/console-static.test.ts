import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAndKeyedApps, type OpenAndKeyedApps } from "../../test/helpers/keyed-apps.js";
import { createStaticModelRegistry } from "../engines/model-registry.js";
import type { ModelBackend } from "../spec/index.js";
import { createApp } from "./app.js";
import { consolePagePaths } from "./console-static.js";

const logger = pino({ level: "silent" });
const adminKey = "console-static-admin-key-0123";
// Only `info` is read by the routes these tests reach.
const fakeModel = (id: string) => ({ info: { id, createdAtSeconds: 0 } }) as unknown as ModelBackend;

describe("the console's static files (createApp, no port)", () => {
  let folder: string;
  let apps: OpenAndKeyedApps;
  let openApp: ReturnType<typeof createApp>;
  let keyedApp: ReturnType<typeof createApp>;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-console-static-"));
    const consoleDir = path.join(folder, "dist");
    mkdirSync(path.join(consoleDir, "assets"), { recursive: true });
    writeFileSync(path.join(consoleDir, "index.html"), "<!doctype html><title>console</title>");
    writeFileSync(path.join(consoleDir, "assets", "index-abc123.js"), "console.log(1)");
    writeFileSync(path.join(consoleDir, "favicon.svg"), "<svg/>");
    writeFileSync(path.join(folder, "secret.txt"), "outside the console");
    apps = await createOpenAndKeyedApps({
      home: folder,
      adminKey,
      deps: { models: createStaticModelRegistry([fakeModel("m")]), logger, consoleDir },
    });
    ({ openApp, keyedApp } = apps);
  });
  afterAll(async () => {
    await apps?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  it("serves index.html at / with a policy that allows only this origin, revalidated on every load", async () => {
    const response = await openApp.request("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await response.text()).toContain("<title>console</title>");
  });

  it("answers the console's own routes with index.html (SPA fallback), and serves assets with their type and a long cache", async () => {
    for (const route of ["/models", "/keys", "/usage/", "/playground", "/benchmarks"]) {
      const response = await openApp.request(route);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain("<title>console</title>");
    }
    const asset = await openApp.request("/assets/index-abc123.js");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await openApp.request("/favicon.svg")).headers.get("content-type")).toBe("image/svg+xml");
    const head = await openApp.request("/", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("leaves the API alone: a missing asset, a POST and /v1 paths get the API's answers", async () => {
    const missing = await openApp.request("/assets/missing.js");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("not_found");
    expect((await openApp.request("/", { method: "POST" })).status).toBe(404);
    const unknownApi = await openApp.request("/v1/nothing-here");
    expect(((await unknownApi.json()) as { error: { code: string } }).error.code).toBe("not_found");
    expect((await openApp.request("/v1/models")).status).toBe(200);
  });

  it("answers every other unknown path with a JSON 404 in its API's shape, never the console's HTML", async () => {
    const unknown: Array<[string, string]> = [
      ["GET", "/api/nothing"],
      ["POST", "/api/nothing"],
      ["GET", "/usage/anything"],
      ["GET", "/models/x"],
      ["GET", "/v2/models"],
      ["GET", "/robots.txt"],
      ["HEAD", "/api/nothing"],
      ["GET", "/v1/messages/nothing"],
    ];
    for (const [method, route] of unknown) {
      const response = await openApp.request(route, { method });
      expect(response.status, `${method} ${route}`).toBe(404);
      expect(response.headers.get("content-type"), `${method} ${route}`).toMatch(/application\/json/);
      if (method === "HEAD") continue;
      const body = (await response.json()) as Record<string, unknown>;
      if (route.startsWith("/api/")) {
        // Ollama's shape: {"error": "message"}.
        expect(body.error, route).toContain(route);
      } else if (route.startsWith("/v1/messages")) {
        // Anthropic's shape.
        expect(body).toMatchObject({ type: "error", error: { type: "not_found_error" } });
      } else {
        const error = body.error as { code: string; type: string; message: string };
        expect(error).toMatchObject({ code: "not_found", type: "invalid_request_error" });
        expect(error.message).toContain(route);
      }
    }
  });

  it("knows the console's pages as web/src/router.ts lists them", () => {
    const router = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web/src/router.ts"), "utf8");
    const routerPaths = [...router.matchAll(/\{\s*path:\s*"([^"]+)"/g)].map((match) => match[1]);
    expect(routerPaths.length).toBeGreaterThan(0);
    expect([...consolePagePaths].sort()).toEqual(routerPaths.sort());
  });

  it("never serves a file outside its folder", async () => {
    for (const route of ["/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"]) {
      const response = await openApp.request(route);
      expect(await response.text()).not.toContain("outside the console");
    }
  });

  it("with key checks on, serves the pages without a key while the API still asks for one", async () => {
    expect((await keyedApp.request("/")).status).toBe(200);
    expect((await keyedApp.request("/keys")).status).toBe(200);
    const api = await keyedApp.request("/v1/moestro/info");
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe("missing_api_key");
    expect((await keyedApp.request("/v1/moestro/info", { headers: { authorization: `Bearer ${adminKey}` } })).status).toBe(200);
    // The open /health says that keys are checked: the console shows its login without a refused request.
    const health = await keyedApp.request("/health");
    expect(health.status).toBe(200);
    expect(((await health.json()) as { key_checks: boolean }).key_checks).toBe(true);
  });

  it("says plainly how to build the console when it was not built", async () => {
    const app = createApp({ models: createStaticModelRegistry([]), logger, consoleDir: path.join(folder, "not-built") });
    const response = await app.request("/");
    expect(response.status).toBe(404);
    expect(await response.text()).toMatch(/console is not built: run `npm ci`/);
  });
});
