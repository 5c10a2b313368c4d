import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyService, type KeyService } from "../auth/key-service.js";
import { createRateLimiter, type RateLimiter } from "../auth/rate-limiter.js";
import { createStaticModelRegistry } from "../engines/model-registry.js";
import { createBudgetGuard } from "../metering/budget-guard.js";
import type { ModelBackend } from "../spec/index.js";
import { openStore, type Store } from "../store/index.js";
import { createApp } from "./app.js";
import { Metrics } from "./metrics.js";

const logger = pino({ level: "silent" });
const adminKey = "app-test-admin-key-0123456789";
// Only `info` is read by the routes these tests reach (model lists, 404s); nothing is generated.
const fakeModel = (id: string) => ({ info: { id, createdAtSeconds: 0 } }) as unknown as ModelBackend;
const createMetrics = () => new Metrics({ loadedBackends: () => [], modelMemoryBytes: () => new Map(), loadCount: () => 0 });

describe("createApp: paths, and who may read /metrics (no port)", () => {
  let folder: string;
  let store: Store;
  let keys: KeyService;
  let rateLimiter: RateLimiter;
  let openApp: ReturnType<typeof createApp>;
  let keyedApp: ReturnType<typeof createApp>;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-app-test-"));
    store = await openStore({ home: folder });
    keys = createKeyService({ keys: store.apiKeys });
    rateLimiter = await createRateLimiter({ logger });
    const models = createStaticModelRegistry([fakeModel("m-a"), fakeModel("m-b")]);
    openApp = createApp({ models, logger, metrics: createMetrics() });
    keyedApp = createApp({
      models,
      logger,
      metrics: createMetrics(),
      accessControl: { adminKey, keys, rateLimiter, budgets: createBudgetGuard({ usage: store.usage }) },
      admin: { keys, usage: store.usage, canManageKeys: true },
    });
  });
  afterAll(async () => {
    await rateLimiter?.dispose();
    await store?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { authorization: `Bearer ${key}` } });

  it("malformed percent-encoding anywhere in a path is a JSON 400 or 404, never a 500, with any key", async () => {
    const scoped = await keys.create({ name: "scoped-paths", models: ["m-a"] });
    const plain = await keys.create({ name: "plain-paths" });
    const paths = ["/v1/models/%zz", "/v1/models/%E0%A4%A", "/v1/models/m-a%", "/v1/%zz", "/%zz", "/v1/moestro/%zz", "/assets/%zz.js"];
    const callers: Array<[string, ReturnType<typeof createApp>, RequestInit]> = [
      ["open", openApp, {}],
      ["scoped key", keyedApp, withKey(scoped.secret)],
      ["plain key", keyedApp, withKey(plain.secret)],
      ["admin key", keyedApp, withKey(adminKey)],
    ];
    for (const [caller, app, init] of callers) {
      for (const requestPath of paths) {
        for (const method of ["GET", "POST"]) {
          const response = await app.request(requestPath, { ...init, method });
          const label = `${caller} ${method} ${requestPath}`;
          expect(response.status, label).toBeGreaterThanOrEqual(400);
          expect(response.status, label).toBeLessThan(500);
          const { error } = (await response.json()) as { error: { code: string; type: string } };
          expect(error.type, label).toBe("invalid_request_error");
        }
      }
    }
    const scopedBad = await keyedApp.request("/v1/models/%zz", withKey(scoped.secret));
    expect(scopedBad.status).toBe(400);
    expect(((await scopedBad.json()) as { error: { message: string } }).error.message).toContain("percent-encoding");
  });

  it("/metrics is open without key checks; with them, the admin key only (403 for other keys, 401 without)", async () => {
    const open = await openApp.request("/metrics");
    expect(open.status).toBe(200);
    expect(await open.text()).toContain("moestro_http_requests_total");
    const user = await keys.create({ name: "metrics-reader" });
    const refused = await keyedApp.request("/metrics", withKey(user.secret));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("permission_denied");
    const anonymous = await keyedApp.request("/metrics");
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("missing_api_key");
    const admin = await keyedApp.request("/metrics", withKey(adminKey));
    expect(admin.status).toBe(200);
    expect(admin.headers.get("content-type")).toMatch(/text\/plain/);
  });
});
