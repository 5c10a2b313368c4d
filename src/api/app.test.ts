import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAndKeyedApps, type OpenAndKeyedApps } from "../../test/helpers/keyed-apps.js";
import { createStaticModelRegistry } from "../engines/model-registry.js";
import type { ModelBackend } from "../spec/index.js";
import type { createApp } from "./app.js";
import { Metrics } from "./metrics.js";

const adminKey = "app-test-admin-key-0123456789";
// Only `info` is read by the routes these tests reach (model lists, 404s); nothing is generated.
const fakeModel = (id: string) => ({ info: { id, createdAtSeconds: 0 } }) as unknown as ModelBackend;

describe("createApp: paths, and who may read /metrics (no port)", () => {
  let folder: string;
  let apps: OpenAndKeyedApps;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-app-test-"));
    const metrics = new Metrics({ loadedBackends: () => [], modelMemoryBytes: () => new Map(), loadCount: () => 0 });
    const models = createStaticModelRegistry([fakeModel("m-a"), fakeModel("m-b")]);
    apps = await createOpenAndKeyedApps({ home: folder, adminKey, deps: { models, logger: pino({ level: "silent" }), metrics } });
  });
  afterAll(async () => {
    await apps?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { authorization: `Bearer ${key}` } });

  it("malformed percent-encoding anywhere in a path is a JSON 400 or 404, never a 500, with any key", async () => {
    const scoped = await apps.keys.create({ name: "scoped-paths", models: ["m-a"] });
    const plain = await apps.keys.create({ name: "plain-paths" });
    const paths = ["/v1/models/%zz", "/v1/models/%E0%A4%A", "/v1/models/m-a%", "/v1/%zz", "/%zz", "/v1/moestro/%zz", "/assets/%zz.js"];
    const callers: Array<[string, ReturnType<typeof createApp>, RequestInit]> = [
      ["open", apps.openApp, {}],
      ["scoped key", apps.keyedApp, withKey(scoped.secret)],
      ["plain key", apps.keyedApp, withKey(plain.secret)],
      ["admin key", apps.keyedApp, withKey(adminKey)],
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
    const scopedBad = await apps.keyedApp.request("/v1/models/%zz", withKey(scoped.secret));
    expect(scopedBad.status).toBe(400);
    expect(((await scopedBad.json()) as { error: { message: string } }).error.message).toContain("percent-encoding");
  });

  it("/metrics is open without key checks; with them, the admin key only (403 for other keys, 401 without)", async () => {
    const open = await apps.openApp.request("/metrics");
    expect(open.status).toBe(200);
    expect(await open.text()).toContain("moestro_http_requests_total");
    const user = await apps.keys.create({ name: "metrics-reader" });
    const refused = await apps.keyedApp.request("/metrics", withKey(user.secret));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("permission_denied");
    const anonymous = await apps.keyedApp.request("/metrics");
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("missing_api_key");
    const admin = await apps.keyedApp.request("/metrics", withKey(adminKey));
    expect(admin.status).toBe(200);
    expect(admin.headers.get("content-type")).toMatch(/text\/plain/);
  });
});
