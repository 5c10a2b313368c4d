import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ollama } from "ollama";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/index.js";
import { fileBytes, startFakeHub, type FakeHub } from "../helpers/fake-hub.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Case ids in test names (D10…) are the dialect cases of ../shared/cases/dialect-cases.md.
const model = "tiny-qwen3moe";
const adminKey = "ollama-e2e-admin-key-0123456789";
const noThink = { think: false } as const;
type Json = Record<string, any>;

describe.skipIf(!hasTestModels)("Ollama's API (/api/*) on the real server, with the official ollama client", () => {
  let test: TestServer;
  let hub: FakeHub;
  let home: string;
  let ledger: Store;
  let ollama: Ollama;
  let ollamaPort: Ollama;

  const headers = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
  const api = (pathName: string, init: RequestInit = {}, base = test.url) =>
    fetch(`${base}${pathName}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  const post = (pathName: string, body: unknown, base = test.url) => api(pathName, { method: "POST", body: JSON.stringify(body) }, base);
  const lines = (text: string): Json[] =>
    text
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Json);

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "moestro-ollama-"));
    hub = await startFakeHub({
      repos: { "test-owner/tiny-GGUF": [{ path: "tiny-Q8_0.gguf", content: fileBytes(testModelPath("tiny-qwen3moe.gguf")) }] },
      bytesPerSecond: 40_000_000,
    });
    const priceBookPath = writePriceBook(home, {
      version: 1,
      prices: [flatLocalPrice(model, { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 2_000_000_000 })],
    });
    test = await startTestServer({
      models: [{ path: testModelPath("tiny-qwen3moe.gguf") }],
      aliases: { "qwen3:tiny": model, "qwen3:pullable": "hf:test-owner/tiny-GGUF:Q8_0" },
      engine: { contextTokens: 1024, batchSize: 64, parallel: 2 },
      server: { ollamaPort: 0 },
      hub: { endpoint: hub.url },
      adminKey,
      home,
      metering: { priceBookPath },
    });
    ledger = await openStore({ home });
    ollama = new Ollama({ host: test.url, headers: { Authorization: `Bearer ${adminKey}` } });
    ollamaPort = new Ollama({ host: test.server.ollamaUrl!, headers: { Authorization: `Bearer ${adminKey}` } });
  });
  afterAll(async () => {
    await test?.close();
    await ledger?.dispose();
    await hub?.close();
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  it("D10: /api/version is bare semver ≥ 0.6.4, GET and HEAD; the Ollama port answers / with 'Ollama is running'", async () => {
    const version = await ollama.version();
    expect(version.version).toMatch(/^\d+\.\d+\.\d+$/);
    const [major, minor, patch] = version.version.split(".").map(Number) as [number, number, number];
    expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(6004);
    expect((await api("/api/version", { method: "HEAD" })).status).toBe(200);
    const root = await fetch(`${test.server.ollamaUrl}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get("content-type")).toContain("text/plain");
    expect(await root.text()).toBe("Ollama is running");
    const head = await fetch(`${test.server.ollamaUrl}/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    // The main port's / stays the web console (or its "not built" sentence), never Ollama's probe answer.
    expect(await (await fetch(`${test.url}/`)).text()).not.toBe("Ollama is running");
    expect((await ollamaPort.version()).version).toBe(version.version);
  });

  it("D10: /api/tags lists every servable model, its aliases too, in Ollama's shape", async () => {
    const { models } = await ollama.list();
    const names = models.map((entry) => entry.name);
    expect(names).toEqual(expect.arrayContaining([`${model}:latest`, "qwen3:tiny"]));
    for (const entry of models) {
      expect(entry.model).toBe(entry.name);
      expect(new Date(entry.modified_at as unknown as string).toISOString()).toBe(entry.modified_at as unknown as string);
      expect(Number.isInteger(entry.size) && entry.size > 0).toBe(true);
      expect(entry.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(entry.details).toMatchObject({ format: "gguf", family: "qwen3moe", families: ["qwen3moe"], quantization_level: "Q4_0" });
      expect(entry.details.parameter_size).toMatch(/^\d+(\.\d+)?[KMB]$/);
    }
  });

  it("D11: /api/show has capabilities, model_info with the served context, details and strings; `name` works too", async () => {
    const shown = await ollama.show({ model: `${model}:latest` });
    expect(shown.capabilities).toEqual(expect.arrayContaining(["completion", "tools", "thinking"]));
    expect(shown.model_info).toMatchObject({ "general.architecture": "qwen3moe", "qwen3moe.context_length": 1024 });
    expect(shown.details).toMatchObject({ format: "gguf", family: "qwen3moe", quantization_level: "Q4_0" });
    expect(shown.details.parameter_size.length).toBeGreaterThan(0);
    expect(typeof shown.modelfile).toBe("string");
    expect(typeof shown.parameters).toBe("string");
    expect(shown.template).toContain("<|im_start|>");
    const legacy = await post("/api/show", { name: model });
    expect(legacy.status).toBe(200);
    expect(((await legacy.json()) as Json).model_info["qwen3moe.context_length"]).toBe(1024);
    const unknown = await post("/api/show", { model: "nope:7b" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: expect.stringMatching(/^model 'nope:7b' not found/) });
  });

  it("chats through the client, not streamed and streamed, under NAME, NAME:latest and a config alias", async () => {
    for (const name of [model, `${model}:latest`, "qwen3:tiny"]) {
      const response = await ollama.chat({
        model: name,
        messages: [{ role: "user", content: "Hello" }],
        options: { num_predict: 8, temperature: 0, seed: 1 },
        ...noThink,
      });
      expect(response.model).toBe(name);
      expect(response.done).toBe(true);
      expect(response.message.role).toBe("assistant");
      expect(response.message.content.length).toBeGreaterThan(0);
      expect(response.message.thinking).toBeUndefined();
      expect(response.eval_count).toBe(8);
      expect(response.done_reason).toBe("length");
    }
    const parts: string[] = [];
    let last: Json | undefined;
    for await (const part of await ollama.chat({
      model,
      messages: [{ role: "user", content: "Hello" }],
      options: { num_predict: 8, temperature: 0, seed: 1 },
      stream: true,
      ...noThink,
    })) {
      parts.push(part.message.content);
      last = part;
    }
    expect(last).toMatchObject({ done: true, done_reason: "length", eval_count: 8 });
    expect(parts.join("").length).toBeGreaterThan(0);
  });

  it("D16: streaming is the default: NDJSON deltas, one final done:true with metrics in ns, equal to stream:false", async () => {
    const body = {
      model,
      messages: [{ role: "user", content: "Count from 1 to 10." }],
      options: { num_predict: 16, temperature: 0, seed: 1 },
      ...noThink,
    };
    const response = await post("/api/chat", body);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const text = await response.text();
    expect(text.endsWith("\n")).toBe(true);
    const objects = lines(text);
    const deltas = objects.filter((object) => object.done === false);
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(objects.filter((object) => object.done === true)).toHaveLength(1);
    const final = objects.at(-1)!;
    expect(final).toMatchObject({ done: true, done_reason: "length", eval_count: 16, message: { role: "assistant", content: "" } });
    for (const key of ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration", "prompt_eval_count"])
      expect(Number.isInteger(final[key])).toBe(true);
    expect(final.total_duration).toBeGreaterThanOrEqual(final.eval_duration);
    expect(final.total_duration).toBeGreaterThan(1000); // ns, not ms
    expect(Number.isNaN(Date.parse(final.created_at))).toBe(false);
    const whole = (await (await post("/api/chat", { ...body, stream: false })).json()) as Json;
    expect(deltas.map((delta) => delta.message.content).join("")).toBe(whole.message.content);
  });

  it("generates through the client, streamed and not; raw completes the prompt as it is", async () => {
    const response = await ollama.generate({ model, prompt: "Hi", options: { num_predict: 6, temperature: 0 }, ...noThink });
    expect(response).toMatchObject({ model, done: true, done_reason: "length", eval_count: 6 });
    expect(response.response!.length).toBeGreaterThan(0);
    expect(response.thinking).toBeUndefined();
    let streamed = "";
    for await (const part of await ollama.generate({
      model,
      prompt: "Hi",
      options: { num_predict: 6, temperature: 0 },
      stream: true,
      ...noThink,
    }))
      streamed += part.response;
    expect(streamed).toBe(response.response);
    const raw = await ollama.generate({ model, prompt: "<|im_start|>user\nHi<|im_end|>\n", raw: true, options: { num_predict: 4 } });
    expect(raw.prompt_eval_count).toBeLessThan(response.prompt_eval_count);
  });

  it("D14: format (a schema, or json) with think:false gives valid JSON and no thinking field, on generate and chat", async () => {
    const schema = { type: "object", properties: { summary: { type: "string", maxLength: 20 } }, required: ["summary"] };
    const prompt = "Generate JSON with a summary for: # Test Post\nThis is about Python programming.";
    const generated = (await (
      await post("/api/generate", { model, stream: false, think: false, prompt, format: schema, options: { num_predict: 60 } })
    ).json()) as Json;
    expect(generated.thinking).toBeUndefined();
    expect(typeof JSON.parse(generated.response).summary).toBe("string");
    const chatted = await ollama.chat({
      model,
      messages: [{ role: "user", content: prompt }],
      format: schema,
      think: false,
      options: { num_predict: 60 },
    });
    expect(chatted.message.thinking).toBeUndefined();
    expect(typeof JSON.parse(chatted.message.content).summary).toBe("string");
    let streamed = "";
    for await (const part of await ollama.generate({
      model,
      prompt,
      format: "json",
      think: false,
      stream: true,
      options: { num_predict: 60, temperature: 0 },
    }))
      streamed += part.response;
    expect(JSON.parse(streamed)).toBeTypeOf("object");
  });

  it("D14: think accepts the levels; a thought comes back in message.thinking, never in content", async () => {
    for (const think of [true, "low", "medium", "high", "max"] as const) {
      const response = await ollama.chat({
        model,
        messages: [{ role: "user", content: "Hi" }],
        think: think as "high",
        options: { num_predict: 6 },
      });
      expect(response.message.thinking!.length).toBeGreaterThan(0);
      expect(response.message.content).not.toMatch(/<\/?think>/);
    }
    const bad = await post("/api/chat", { model, messages: [{ role: "user", content: "Hi" }], think: "extreme" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error).toContain("think");
  });

  it("D17: no messages loads (keep_alive sets expires_at), keep_alive 0 unloads; generate the same; '-1' is a 400", async () => {
    const load = await post("/api/chat", { model, messages: [], keep_alive: -1 });
    expect(load.headers.get("content-type")).toContain("application/json");
    expect(await load.json()).toMatchObject({ model, message: { role: "assistant", content: "" }, done: true, done_reason: "load" });
    let running = await ollama.ps();
    expect(running.models.map((entry) => entry.name)).toContain(`${model}:latest`);
    const kept = running.models.find((entry) => entry.name === `${model}:latest`)!;
    expect(new Date(kept.expires_at).getFullYear()).toBeGreaterThan(new Date().getFullYear() + 50);
    expect(kept).toMatchObject({ context_length: 1024, size_vram: 0 });
    expect(kept.size).toBeGreaterThan(0);

    await ollama.chat({ model, messages: [{ role: "user", content: "Hi" }], keep_alive: "10m", options: { num_predict: 1 }, ...noThink });
    running = await ollama.ps();
    const expiresInMs = new Date(running.models[0]!.expires_at).getTime() - Date.now();
    expect(expiresInMs).toBeGreaterThan(9 * 60_000);
    expect(expiresInMs).toBeLessThanOrEqual(10 * 60_000);

    const unload = await post("/api/chat", { model, messages: [], keep_alive: 0 });
    expect(await unload.json()).toMatchObject({ done: true, done_reason: "unload", message: { content: "" } });
    expect((await ollama.ps()).models).toEqual([]);

    const generateLoad = (await (await post("/api/generate", { model, keep_alive: "1h" })).json()) as Json;
    expect(generateLoad).toMatchObject({ model, response: "", done: true, done_reason: "load" });
    expect((await ollama.ps()).models).toHaveLength(1);
    const generateUnload = (await (await post("/api/generate", { model, keep_alive: "0" })).json()) as Json;
    expect(generateUnload).toMatchObject({ response: "", done_reason: "unload" });
    expect((await ollama.ps()).models).toEqual([]);

    for (const keepAlive of ["-1", "300"]) {
      const refused = await post("/api/chat", { model, messages: [], keep_alive: keepAlive });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as Json).error).toContain("missing unit in duration");
    }
    // Reloaded for the next tests, kept.
    await post("/api/chat", { model, messages: [], keep_alive: "-1m" });
  });

  it("embeds through /api/embed (normalised vectors) and /api/embeddings", async () => {
    const embedded = await ollama.embed({ model, input: ["Hello", "World"] });
    expect(embedded.model).toBe(model);
    expect(embedded.embeddings).toHaveLength(2);
    for (const vector of embedded.embeddings) {
      expect(vector.length).toBe(64);
      expect(Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0))).toBeCloseTo(1, 4);
    }
    expect(embedded.prompt_eval_count).toBeGreaterThan(0);
    const single = await ollama.embeddings({ model, prompt: "Hello" });
    expect(single.embedding).toHaveLength(64);
  });

  it("pulls hf.co/owner/repo:QUANT from the hub with progress, serves it, and deletes it", async () => {
    const progress: Json[] = [];
    for await (const part of await ollama.pull({ model: "hf.co/test-owner/tiny-GGUF:Q8_0", stream: true })) progress.push(part);
    expect(progress[0]).toEqual({ status: "pulling manifest" });
    const downloading = progress.filter((part) => part.total !== undefined);
    expect(downloading.length).toBeGreaterThan(0);
    expect(downloading.at(-1)).toMatchObject({ digest: "tiny-Q8_0.gguf", completed: downloading.at(-1)!.total });
    expect(progress.at(-1)).toEqual({ status: "success" });
    expect((await ollama.list()).models.map((entry) => entry.name)).toContain("test-owner/tiny-GGUF:Q8_0");
    const shown = await ollama.show({ model: "hf.co/test-owner/tiny-GGUF:Q8_0" });
    expect(shown.details.family).toBe("qwen3moe");
    // Pulled already: success at once, streamed or not.
    expect(await ollama.pull({ model: "hf.co/test-owner/tiny-GGUF:Q8_0" })).toEqual({ status: "success" });
    await ollama.delete({ model: "hf.co/test-owner/tiny-GGUF:Q8_0" });
    expect((await ollama.list()).models.map((entry) => entry.name)).not.toContain("test-owner/tiny-GGUF:Q8_0");
    // An alias to an hf: reference pulls its target (stream: false answers one object).
    expect(await ollama.pull({ model: "qwen3:pullable", stream: false })).toEqual({ status: "success" });
    expect((await ollama.list()).models.map((entry) => entry.name)).toEqual(expect.arrayContaining(["qwen3:pullable"]));
  });

  it("refuses to pull an Ollama library name that is no alias, saying what to do instead", async () => {
    const response = await post("/api/pull", { model: "qwen3:30b-a3b" });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain("hf.co/");
    expect(error).toContain("aliases");
    expect(error).not.toContain("local path");
    const missing = lines(await (await post("/api/pull", { model: "hf.co/test-owner/missing-GGUF:Q4_K_M" })).text());
    expect(missing.at(-1)!.error).toEqual(expect.any(String));
  });

  it("copies a model under a new name (an alias until restart) and deletes the copy; config models cannot be deleted", async () => {
    await ollama.copy({ source: `${model}:latest`, destination: "my-copy" });
    expect((await ollama.list()).models.map((entry) => entry.name)).toContain("my-copy:latest");
    const response = await ollama.chat({
      model: "my-copy:latest",
      messages: [{ role: "user", content: "Hi" }],
      options: { num_predict: 2 },
      ...noThink,
    });
    expect(response.done).toBe(true);
    await ollama.delete({ model: "my-copy" });
    expect((await ollama.list()).models.map((entry) => entry.name)).not.toContain("my-copy:latest");
    const refused = await api("/api/delete", { method: "DELETE", body: JSON.stringify({ model }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as Json).error).toContain("--model");
    const taken = await post("/api/copy", { source: model, destination: "qwen3:tiny" });
    expect(taken.status).toBe(400);
  });

  it("answers errors as {error} with Ollama's statuses: bad JSON, unknown route, images, unknown model", async () => {
    const malformed = await api("/api/chat", { method: "POST", body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: expect.any(String) });
    const unknownRoute = await api("/api/nope");
    expect(unknownRoute.status).toBe(404);
    expect(await unknownRoute.json()).toEqual({ error: expect.any(String) });
    const images = await post("/api/chat", { model, messages: [{ role: "user", content: "What is this?", images: ["aGk="] }] });
    expect(images.status).toBe(400);
    expect(((await images.json()) as Json).error).toContain("images");
    const error = await ollama.chat({ model: "nope", messages: [{ role: "user", content: "Hi" }] }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: "ResponseError", status_code: 404, error: expect.stringContaining("model 'nope' not found") });
    // On the Ollama port every path outside /v1 answers in Ollama's shape; /v1 keeps OpenAI's envelope, as Ollama's own
    // OpenAI-compatible endpoints do.
    const ollamaPath = await post("/api/chat", { model: "nope", messages: [] }, test.server.ollamaUrl);
    expect(await ollamaPath.json()).toEqual({ error: expect.any(String) });
    const openAiPath = await post("/v1/chat/completions", { model: "nope", messages: [] }, test.server.ollamaUrl);
    expect(await openAiPath.json()).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
    // Without a key: 401 in Ollama's shape.
    const keyless = await fetch(`${test.url}/api/tags`);
    expect(keyless.status).toBe(401);
    expect(await keyless.json()).toEqual({ error: expect.stringContaining("API key") });
  });

  it("a key limited to some models sees only those (and their aliases) in /api/tags and /api/ps, as in /v1/models", async () => {
    const created = await api("/v1/moestro/keys", { method: "POST", body: JSON.stringify({ name: "ollama-scoped", models: [model] }) });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const client = new Ollama({ host: test.url, headers: { Authorization: `Bearer ${secret}` } });
    const { models } = await client.list();
    // A scope covers the model under every name: its aliases are listed too (docs/studio.md, Keys).
    expect(models.map((listed) => listed.model).sort()).toEqual([`${model}:latest`, "qwen3:tiny"].sort());
    expect((await client.ps()).models.every((listed) => [`${model}:latest`, "qwen3:tiny"].includes(listed.model))).toBe(true);
    const other = await api("/v1/moestro/keys", { method: "POST", body: JSON.stringify({ name: "ollama-other", models: ["elsewhere"] }) });
    const otherClient = new Ollama({
      host: test.url,
      headers: { Authorization: `Bearer ${((await other.json()) as { secret: string }).secret}` },
    });
    expect((await otherClient.list()).models).toEqual([]);
  });

  it("meters /api/chat, /api/generate and /api/embed under their endpoints; a key's budget trips with 429 {error}", async () => {
    const created = await api("/v1/moestro/keys", {
      method: "POST",
      body: JSON.stringify({ name: "ollama-budget", budget_micro_usd: 60_000, budget_period: "day" }),
    });
    expect(created.status).toBe(201);
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    const client = new Ollama({ host: test.url, headers: { Authorization: `Bearer ${secret}` } });
    const chat = () => client.chat({ model, messages: [{ role: "user", content: "Hi" }], options: { num_predict: 8 }, ...noThink });
    await chat();
    await client.generate({ model, prompt: "Hi", options: { num_predict: 2 }, ...noThink });
    await client.embed({ model, input: "Hi" });
    let error: unknown;
    for (let attempt = 0; attempt < 5 && error === undefined; attempt++)
      error = await chat().then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(error).toMatchObject({ name: "ResponseError", status_code: 429 });
    const deadline = Date.now() + 10_000;
    let rows = await ledger.usage.list({ keyId: id, limit: 100 });
    while (rows.some((row) => row.status === "running") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rows = await ledger.usage.list({ keyId: id, limit: 100 });
    }
    expect(rows.map((row) => row.endpoint)).toEqual(expect.arrayContaining(["ollama.chat", "ollama.generate", "ollama.embed"]));
    const chatRow = rows.find((row) => row.endpoint === "ollama.chat")!;
    expect(chatRow).toMatchObject({ model, status: "ok", stream: false, completionTokens: 8 });
    // Pull, copy and delete change the server's models: the admin key's.
    const forbidden = await fetch(`${test.url}/api/pull`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}` },
      body: JSON.stringify({ model: "hf.co/test-owner/tiny-GGUF:Q8_0" }),
    });
    expect(forbidden.status).toBe(403);
  });
});
