import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createFakeBackend } from "../../../test/helpers/fake-backend.js";
import { createOpenAndKeyedApps, type OpenAndKeyedApps } from "../../../test/helpers/keyed-apps.js";
import { createStaticModelRegistry } from "../../engines/model-registry.js";
import * as parsing from "../../util/parse-json.js";

vi.mock("../../util/parse-json.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../util/parse-json.js")>();
  return { ...original, parseJson: vi.fn(original.parseJson), parseJsonChunks: vi.fn(original.parseJsonChunks) };
});

const adminKey = "json-body-test-admin-key-0123456789";

describe("readJsonBody: the body is parsed once per request", () => {
  let folder: string;
  let apps: OpenAndKeyedApps;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-json-body-test-"));
    const models = createStaticModelRegistry([createFakeBackend({ id: "m-a" })]);
    apps = await createOpenAndKeyedApps({ home: folder, adminKey, deps: { models, logger: pino({ level: "silent" }) } });
  });
  afterAll(async () => {
    await apps?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  const parses = () => vi.mocked(parsing.parseJson).mock.calls.length + vi.mocked(parsing.parseJsonChunks).mock.calls.length;

  it.each([
    ["a small body", 0],
    ["a body over 1 MiB (parsed in a worker thread)", 2 * 1024 * 1024],
  ])("%s of a key limited to some models: access control and the route share one parse", async (_name, paddingChars) => {
    const scoped = await apps.keys.create({ name: `scoped-${paddingChars}`, models: ["m-a"] });
    const body = JSON.stringify({ model: "m-a", prompt: "Hi", max_tokens: 2, user: "x".repeat(paddingChars) });
    const before = parses();
    const response = await apps.keyedApp.request("/v1/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${scoped.secret}`, "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(200);
    expect(parses() - before).toBe(1);
  });

  it("a body that is not JSON is parsed once and refused by the route with 400 invalid_json", async () => {
    const scoped = await apps.keys.create({ name: "scoped-bad-json", models: ["m-a"] });
    const before = parses();
    const response = await apps.keyedApp.request("/v1/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${scoped.secret}`, "content-type": "application/json" },
      body: '{"model": "m-a",',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
    expect(parses() - before).toBe(1);
  });
});
