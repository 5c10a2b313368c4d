import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");
const model = "stories260K";

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels)("serving like a production server: metrics, body limit, CORS, request ids", () => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      server: { bodyLimitBytes: 4 * 1024 * 1024, corsOrigins: ["https://studio.example.com", "chrome-extension://*"] },
    });
  });
  afterAll(async () => {
    await test?.close();
  });

  it("serves Prometheus metrics: requests by route and status, latency, TTFT and TPOT, tokens, queue, sequences, memory", async () => {
    await test.client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8 });
    await postJson(`${test.url}/v1/completions`, { model, prompt: "x", max_tokens: 0 });
    const response = await fetch(`${test.url}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/moestro_http_requests_total\{route="\/v1\/completions",method="POST",status="200"\} [1-9]/);
    expect(text).toMatch(/moestro_http_requests_total\{route="\/v1\/completions",method="POST",status="400"\} 1/);
    expect(text).toContain("moestro_http_request_duration_seconds_bucket");
    expect(text).toMatch(/moestro_time_to_first_token_seconds_count\{model="stories260K"\} [1-9]/);
    expect(text).toMatch(/moestro_time_per_output_token_seconds_count\{model="stories260K"\} [1-9]/);
    expect(text).toMatch(/moestro_tokens_total\{model="stories260K",kind="completion"\} [1-9]/);
    expect(text).toMatch(/moestro_queue_depth\{model="stories260K"\} 0/);
    expect(text).toMatch(/moestro_sequences_in_use\{model="stories260K"\} 0/);
    expect(text).toMatch(/moestro_model_memory_bytes\{model="stories260K"\} [1-9]/);
    expect(text).toContain("moestro_process_resident_memory_bytes");
  });

  it("C35: a long prompt under the body limit reaches the model (and is refused by context length), a larger body gets 413", async () => {
    const fitsBody = await postJson(`${test.url}/v1/chat/completions`, {
      model,
      messages: [{ role: "user", content: "word ".repeat(400_000) }],
    });
    expect(fitsBody.status).toBe(400);
    expect(((await fitsBody.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
    const tooBig = await postJson(`${test.url}/v1/chat/completions`, {
      model,
      messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }],
    });
    expect(tooBig.status).toBe(413);
    const body = await tooBig.text();
    expect(body.length).toBeLessThan(1000);
    const { error } = JSON.parse(body) as { error: { code: string; message: string; type: string } };
    expect(error.code).toBe("request_too_large");
    expect(error.message).toContain(String(4 * 1024 * 1024));
  });

  it("C35: a chunked body (no Content-Length) is counted as it arrives: over the limit it gets 413 too", async () => {
    const body = JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] });
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(body);
        for (let offset = 0; offset < bytes.length; offset += 256 * 1024) controller.enqueue(bytes.subarray(offset, offset + 256 * 1024));
        controller.close();
      },
    });
    const response = await fetch(`${test.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    expect(response.headers.get("content-length")).not.toBeNull();
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });

  it("C31: a preflight from an allowed origin gets 204 with the allow headers, no key needed", async () => {
    const response = await fetch(`${test.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        Origin: "chrome-extension://abcdef",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("chrome-extension://abcdef");
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    expect(response.headers.get("access-control-allow-headers")).toMatch(/content-type/);
  });

  it("C31: a POST from an allowed origin works and carries the allow-origin header; other origins get a JSON 403 naming the setting", async () => {
    const allowed = await postJson(
      `${test.url}/v1/completions`,
      { model, prompt: "Hi", max_tokens: 2 },
      { headers: { "content-type": "application/json", Origin: "https://studio.example.com" } },
    );
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://studio.example.com");
    const refused = await postJson(
      `${test.url}/v1/completions`,
      { model, prompt: "Hi", max_tokens: 2 },
      { headers: { "content-type": "application/json", Origin: "https://evil.example.net" } },
    );
    expect(refused.status).toBe(403);
    const { error } = (await refused.json()) as { error: { message: string; code: string } };
    expect(error.code).toBe("cors_origin_not_allowed");
    expect(error.message).toContain("MOESTRO_SERVER__CORS_ORIGINS");
    const noOrigin = await postJson(`${test.url}/v1/completions`, { model, prompt: "Hi", max_tokens: 2 });
    expect(noOrigin.status).toBe(200);
    expect(noOrigin.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers Ollama's API under /api (docs/ollama.md), unknown /api paths with Ollama's JSON 404, and console pages with the console", async () => {
    const tags = await fetch(`${test.url}/api/tags`);
    expect(tags.status).toBe(200);
    expect(((await tags.json()) as { models: unknown[] }).models.length).toBeGreaterThan(0);
    const unknown = await postJson(`${test.url}/api/nope`, { model, messages: [{ role: "user", content: "Hi" }] });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: expect.stringContaining("Unknown route") });
    // The console page: its HTML once web/dist is built (npm test builds it), else the sentence that says how to build it.
    const page = await fetch(`${test.url}/models`);
    if (page.status === 200) expect(page.headers.get("content-type")).toMatch(/text\/html/);
    else expect(await page.text()).toMatch(/console is not built/);
  });

  it("echoes a request id, or makes one", async () => {
    const echoed = await fetch(`${test.url}/v1/models`, { headers: { "x-request-id": "abc-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc-123");
    const made = await fetch(`${test.url}/v1/models`);
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("CLI: config show, pull, ls, rm", () => {
  let home: string;
  let hub: FakeHub | undefined;

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-models-"));
    hub = hasTestModels
      ? await startFakeHub({
          repos: { "karpathy/tinyllamas": [{ path: "stories260K-Q8_0.gguf", content: fileBytes(testModelPath("stories260K-q8_0.gguf")) }] },
        })
      : undefined;
  });
  afterAll(async () => {
    await hub?.close();
    rmSync(home, { recursive: true, force: true });
  });

  /** Runs the CLI without blocking this process (the fake hub answers from it). */
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], {
        env: { ...process.env, MOESTRO_HOME: home, ...(hub ? { HF_ENDPOINT: hub.url } : {}), ...env },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
      child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
      child.once("close", (status) => resolve({ status, stdout, stderr }));
    });

  it("config show prints each effective value with its source, secrets redacted", async () => {
    writeFileSync(path.join(home, "config.json"), JSON.stringify({ engine: { parallel: 3 }, server: { port: 9999 } }));
    const result = await run(["config", "show", "--json"], {
      MOESTRO_SERVER__PORT: "7777",
      MOESTRO_ADMIN_KEY: "a-very-secret-admin-key",
      MOESTRO_DATABASE_URL: "postgres://me:hunter2@db/x",
    });
    expect(result.status).toBe(0);
    const { file, settings } = JSON.parse(result.stdout) as {
      file: string;
      settings: Array<{ key: string; value: unknown; source: string; env: string }>;
    };
    const byKey = new Map(settings.map((setting) => [setting.key, setting]));
    expect(file).toBe(path.join(home, "config.json"));
    expect(byKey.get("server.port")).toMatchObject({ value: 7777, source: "env", env: "MOESTRO_SERVER__PORT" });
    expect(byKey.get("engine.parallel")).toMatchObject({ value: 3, source: "file" });
    expect(byKey.get("engine.batchSize")).toMatchObject({ value: 512, source: "default" });
    expect(byKey.get("adminKey")!.value).toBe("***");
    expect(String(byKey.get("databaseUrl")!.value)).not.toContain("hunter2");
    const text = await run(["config", "show"]);
    expect(text.stdout).toMatch(/engine\.parallel\s+3\s+\[file; MOESTRO_ENGINE__PARALLEL\]/);
    rmSync(path.join(home, "config.json"));
  });

  it.skipIf(!hasTestModels)("pull, ls and rm, with --json", async () => {
    const pulled = await run(["pull", "hf:karpathy/tinyllamas:Q8_0", "--json"]);
    expect(pulled.stderr).toBe("");
    expect(pulled.status).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ name: "karpathy/tinyllamas:Q8_0", sizeBytes: 379_232 });
    const listed = JSON.parse((await run(["ls", "--json"])).stdout) as Array<{ name: string }>;
    expect(listed.map((entry) => entry.name)).toEqual(["karpathy/tinyllamas:Q8_0"]);
    expect((await run(["ls"])).stdout).toMatch(/karpathy\/tinyllamas:Q8_0\s+370 KiB/);
    const removed = await run(["rm", "karpathy/tinyllamas:Q8_0", "--json"]);
    expect(JSON.parse(removed.stdout)).toMatchObject({ deleted: { name: "karpathy/tinyllamas:Q8_0" } });
    expect(JSON.parse((await run(["ls", "--json"])).stdout)).toEqual([]);
    const missing = await run(["rm", "nope"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
  });
});
