import OpenAI, { type APIError } from "openai";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestStoreTarget, testDialects, type TestStoreTarget } from "../../../test/helpers/databases.js";
import { createKeyService, type KeyService } from "../../auth/key-service.js";
import { createRateLimiter, type RateLimiter } from "../../auth/rate-limiter.js";
import { createAdminClient } from "../../client/admin-client.js";
import { createStaticModelRegistry } from "../../engines/model-registry.js";
import { createBudgetGuard } from "../../metering/budget-guard.js";
import type { ModelBackend } from "../../spec/index.js";
import { openStore, type Store } from "../../store/index.js";
import { createApp } from "../app.js";

const adminKey = "admin-key-for-tests-0123456789";
const logger = pino({ level: "silent" });
// Only `info` is read by the routes these tests reach (model lists, 404s); nothing is generated.
const fakeModel = (id: string) => ({ info: { id, createdAtSeconds: 0 } }) as unknown as ModelBackend;

describe.each(testDialects)("key checks over a %s store (createApp, no port)", (dialect) => {
  let target: TestStoreTarget;
  let store: Store;
  let keys: KeyService;
  let rateLimiter: RateLimiter;
  let app: ReturnType<typeof createApp>;
  const nowMs = Date.parse("2026-06-15T12:00:00Z");

  const request = (path: string, init: RequestInit & { key?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.key !== undefined) headers.set("authorization", `Bearer ${init.key}`);
    return app.request(path, { ...init, headers });
  };
  const viaApp = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => await app.request(String(url), init);
  const openai = (apiKey: string) => new OpenAI({ baseURL: "http://moestro.test/v1", apiKey, maxRetries: 0, fetch: viaApp });
  const errorBody = async (response: Response) => {
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(typeof body.error.message).toBe("string");
    return body.error;
  };

  beforeAll(async () => {
    target = await createTestStoreTarget(dialect);
    store = await openStore({ home: target.home, databaseUrl: target.databaseUrl });
    keys = createKeyService({ keys: store.apiKeys, now: () => nowMs });
    rateLimiter = await createRateLimiter({ logger });
    // Config aliases, as `serve` attaches them to entries: `a-short` names m-a; `m-a` is also (shadowed) an alias of m-b,
    // which must not let a key scoped to m-b reach m-a.
    const registry = createStaticModelRegistry([fakeModel("m-a"), fakeModel("m-b")]);
    const aliases: Record<string, string[]> = { "m-a": ["a-short", "a-other"], "m-b": ["m-a", "b-short"] };
    const listEntries = async () => (await registry.listEntries()).map((entry) => ({ ...entry, aliases: aliases[entry.id] }));
    app = createApp({
      models: { ...registry, listEntries, loadedBackends: registry.loadedBackends, listLoaded: registry.listLoaded },
      logger,
      now: () => nowMs,
      accessControl: { adminKey, keys, rateLimiter, budgets: createBudgetGuard({ usage: store.usage, now: () => nowMs }) },
      admin: { keys, usage: store.usage, canManageKeys: true },
    });
  });
  afterAll(async () => {
    await rateLimiter?.dispose();
    await store?.dispose();
    await target?.cleanup();
  });

  it("leaves /health open and asks every other route for a key: 401 missing_api_key in OpenAI's shape", async () => {
    expect((await request("/health")).status).toBe(200);
    for (const path of ["/v1/models", "/v1/moestro/usage", "/v1/nothing-here", "/elsewhere"]) {
      const response = await request(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain("Bearer");
      expect(await errorBody(response)).toMatchObject({ code: "missing_api_key", type: "invalid_request_error", param: null });
    }
    await expect(openai("mst-wrongwrongwrongwrong").models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const error = await openai("mst-wrongwrongwrongwrong")
      .models.list()
      .catch((caught: unknown) => caught as APIError);
    expect(error).toMatchObject({ status: 401, code: "invalid_api_key" });
  });

  it("accepts a key as Bearer or x-api-key, and the admin key everywhere", async () => {
    const { secret } = await keys.create({ name: "plain" });
    expect((await request("/v1/models", { key: secret })).status).toBe(200);
    expect((await request("/v1/models", { headers: { "x-api-key": secret } })).status).toBe(200);
    expect((await request("/v1/models", { key: adminKey })).status).toBe(200);
    expect((await request("/v1/moestro/keys", { key: adminKey })).status).toBe(200);
    // An admin key that only shares a prefix with the real one is just a wrong key.
    expect((await request("/v1/models", { key: adminKey.slice(0, -1) })).status).toBe(401);
  });

  it("keeps the admin endpoints to the admin key: 403 permission_denied (PermissionDeniedError)", async () => {
    const { secret } = await keys.create({ name: "not-admin" });
    const response = await request("/v1/moestro/keys", { key: secret });
    expect(response.status).toBe(403);
    expect(await errorBody(response)).toMatchObject({ code: "permission_denied" });
    const error = await openai(secret)
      .get("/moestro/usage")
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it("limits a scoped key to its models: 403 model_not_allowed, and lists only its models", async () => {
    const { secret } = await keys.create({ name: "scoped", models: ["m-a", "ghost"], requestsPerMinute: 100 });
    const chat = (model: string) =>
      request("/v1/chat/completions", {
        method: "POST",
        key: secret,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
      });
    const denied = await chat("m-b");
    expect(denied.status).toBe(403);
    expect(await errorBody(denied)).toMatchObject({ code: "model_not_allowed", param: "model" });
    expect(denied.headers.get("x-ratelimit-limit-requests")).toBe("100");
    const error = await openai(secret)
      .completions.create({ model: "m-b", prompt: "hi" })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    // An allowed model passes the key checks (here it is not served, so the route answers 404).
    expect((await chat("ghost")).status).toBe(404);
    // Under /v1 the key is checked against the model the route holds: `m-a:latest` is `m-a` (allowed; the fake model
    // cannot generate, so the route fails past the key checks), `m-b:latest` is `m-b` (refused, named as sent).
    expect((await chat("m-a:latest")).status).not.toBe(403);
    const deniedTagged = await chat("m-b:latest");
    expect(deniedTagged.status).toBe(403);
    expect(await errorBody(deniedTagged)).toMatchObject({ code: "model_not_allowed", message: expect.stringContaining("'m-b'") });
    const list = (await (await request("/v1/models", { key: secret })).json()) as { data: Array<{ id: string }> };
    expect(list.data.map((model) => model.id)).toEqual(["m-a"]);
    expect((await request("/v1/models/m-b", { key: secret })).status).toBe(403);
    expect((await request("/v1/models/m-a", { key: secret })).status).toBe(200);
    // A body that is not JSON is left to the route (400), not turned into a 403.
    expect((await request("/v1/chat/completions", { method: "POST", key: secret, body: "{" })).status).toBe(400);
  });

  it("applies a scope to every name of a model: its id and its aliases, whichever the scope names", async () => {
    const chat = (secret: string, model: string) =>
      request("/v1/chat/completions", {
        method: "POST",
        key: secret,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
      });
    // Scoped on the model: its aliases pass the key checks (what the route then answers does not matter here: these fake
    // models cannot generate, and this registry resolves ids only).
    const byId = (await keys.create({ name: "by-id", models: ["m-a"] })).secret;
    for (const model of ["m-a", "a-short", "a-other"]) expect((await chat(byId, model)).status, model).not.toBe(403);
    expect((await chat(byId, "b-short")).status).toBe(403);
    expect((await request("/v1/models/a-short", { key: byId })).status).not.toBe(403);
    // Scoped on an alias: the model it names and that model's other aliases pass; the list shows the model.
    const byAlias = (await keys.create({ name: "by-alias", models: ["a-short"] })).secret;
    for (const model of ["m-a", "a-short", "a-other"]) expect((await chat(byAlias, model)).status, model).not.toBe(403);
    const denied = await chat(byAlias, "m-b");
    expect(denied.status).toBe(403);
    expect((await errorBody(denied)).message).toBe("The API key 'by-alias' may not use the model 'm-b'. It may use: 'a-short'.");
    const list = (await (await request("/v1/models", { key: byAlias })).json()) as { data: Array<{ id: string }> };
    expect(list.data.map((model) => model.id)).toEqual(["m-a"]);
    // A name that is one model's id and another's alias means the first (as routing resolves it): a key scoped to m-b
    // sends `m-a` to m-a, which it may not use.
    const onB = (await keys.create({ name: "on-b", models: ["m-b"] })).secret;
    expect((await chat(onB, "b-short")).status).not.toBe(403);
    expect((await chat(onB, "m-a")).status).toBe(403);
    const listB = (await (await request("/v1/models", { key: onB })).json()) as { data: Array<{ id: string }> };
    expect(listB.data.map((model) => model.id)).toEqual(["m-b"]);
  });

  it("refuses a key over its requests per minute: 429 rate_limit_exceeded, Retry-After and x-ratelimit headers", async () => {
    const { secret } = await keys.create({ name: "rpm", requestsPerMinute: 2, tokensPerMinute: 500 });
    const completion = () =>
      request("/v1/chat/completions", {
        method: "POST",
        key: secret,
        body: JSON.stringify({ model: "ghost", messages: [{ role: "user", content: "hi" }] }),
      });
    const first = await completion();
    expect(first.status).toBe(404);
    expect(first.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("1");
    expect(first.headers.get("x-ratelimit-reset-requests")).toMatch(/^(\d+ms|[\d.]+s|1m0s)$/);
    expect(first.headers.get("x-ratelimit-limit-tokens")).toBe("500");
    expect(first.headers.get("x-ratelimit-remaining-tokens")).toBe("500");
    const second = await completion();
    expect(second.status).toBe(404);
    expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const third = await completion();
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(third.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(await errorBody(third)).toMatchObject({ code: "rate_limit_exceeded", type: "rate_limit_error" });
    await expect(openai(secret).completions.create({ model: "ghost", prompt: "hi" })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it("counts only requests that run a model or change something: listing models is free, and never refused", async () => {
    const { secret } = await keys.create({ name: "rpm-reads", requestsPerMinute: 2 });
    for (let index = 0; index < 5; index += 1) {
      const list = await request("/v1/models", { key: secret });
      expect(list.status).toBe(200);
      expect(list.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    }
    expect((await request("/v1/models/m-a", { key: secret })).status).toBe(200);
    // Ollama's model details are a read sent as a POST.
    const show = await request("/api/show", { method: "POST", key: secret, body: JSON.stringify({ model: "m-a" }) });
    expect(show.headers.get("x-ratelimit-remaining-requests")).toBe("2");
    const post = () => request("/v1/completions", { method: "POST", key: secret, body: JSON.stringify({ model: "ghost", prompt: "hi" }) });
    expect((await post()).status).toBe(404);
    expect((await post()).status).toBe(404);
    expect((await post()).status).toBe(429);
    // The limit is used up; a client may still list the models (the headers say what is left).
    const list = await request("/v1/models", { key: secret });
    expect(list.status).toBe(200);
    expect(list.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(await openai(secret).models.list()).toBeDefined();
  });

  it("stops a key whose budget is spent: 429 insufficient_quota for model requests, from the ledger", async () => {
    const { key, secret } = await keys.create({ name: "budget", budgetMicroUsd: 1000, budgetPeriod: "day" });
    const post = () => request("/v1/completions", { method: "POST", key: secret, body: JSON.stringify({ model: "ghost", prompt: "hi" }) });
    expect((await post()).status).toBe(404);
    const spend = (costMicroUsd: number, startedAtMs: number) =>
      store.usage.record(
        {
          requestId: crypto.randomUUID(),
          keyId: key.id,
          model: "m-a",
          endpoint: "completions",
          stream: true,
          status: "aborted",
          promptTokens: 1,
          cachedPromptTokens: 0,
          completionTokens: 1,
          reasoningTokens: 0,
          costMicroUsd,
          cloudCostMicroUsd: 0,
          startedAtMs,
          latencyMs: 1,
        },
        startedAtMs,
      );
    await spend(5000, nowMs - 86_400_000); // yesterday: another period
    await spend(999, nowMs - 1000);
    expect((await post()).status).toBe(404);
    await spend(1, nowMs - 500);
    const over = await post();
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toBeNull();
    const error = await errorBody(over);
    expect(error).toMatchObject({ code: "insufficient_quota", type: "insufficient_quota" });
    expect(error.message).toContain("$0.001");
    expect((await request("/v1/models", { key: secret })).status).toBe(200);
  });

  it("creates, lists and revokes keys over the admin API; a revoked key stops at once", async () => {
    const client = createAdminClient({ baseUrl: "http://moestro.test", adminKey, fetch: viaApp });
    const created = await client.createKey({
      name: "via-api",
      models: ["m-a"],
      requests_per_minute: 10,
      budget_micro_usd: 2_000_000,
      budget_period: "month",
      expires_in_ms: 60_000,
    });
    expect(created).toMatchObject({
      object: "moestro.api_key",
      name: "via-api",
      models: ["m-a"],
      requests_per_minute: 10,
      budget_micro_usd: 2_000_000,
      expires_at_ms: nowMs + 60_000,
      revoked_at_ms: null,
    });
    expect(created.secret.startsWith(created.prefix)).toBe(true);
    expect((await request("/v1/models", { key: created.secret })).status).toBe(200);
    expect((await client.listKeys()).map((key) => key.id)).toContain(created.id);
    // A key with a budget is listed with its current period's use, as the budget guard reads it; others with null.
    const listed = await client.listKeys();
    expect(listed.find((key) => key.id === created.id)?.budget_use).toEqual({
      period_start_day: "2026-06-01",
      renews_at_ms: Date.parse("2026-07-01T00:00:00Z"),
      spent_micro_usd: 0,
      reserved_micro_usd: 0,
    });
    expect(listed.find((key) => key.name === "budget")?.budget_use).toEqual({
      period_start_day: "2026-06-15",
      renews_at_ms: Date.parse("2026-06-16T00:00:00Z"),
      spent_micro_usd: 1000,
      reserved_micro_usd: 0,
    });
    expect(listed.find((key) => key.name === "plain")?.budget_use).toBeNull();
    expect(JSON.stringify(await client.listKeys())).not.toContain(created.secret);
    const revoked = await client.revokeKey(created.id);
    expect(revoked.revoked_at_ms).toBe(nowMs);
    const after = await request("/v1/models", { key: created.secret });
    expect(after.status).toBe(401);
    expect((await errorBody(after)).code).toBe("api_key_revoked");
    await expect(client.revokeKey("key_missing")).rejects.toMatchObject({ status: 404, code: "api_key_not_found" });
    await expect(client.createKey({ name: "bad", budget_micro_usd: 5 })).rejects.toMatchObject({
      status: 400,
      code: "invalid_request",
      param: "budget_period",
    });
    await expect(
      createAdminClient({ baseUrl: "http://moestro.test", adminKey: "x".repeat(20), fetch: viaApp }).listKeys(),
    ).rejects.toMatchObject({ status: 401 });
  });

  it("refuses a key body that does not fit with 400 naming the field (none for an unknown field)", async () => {
    const post = (body: unknown) =>
      request("/v1/moestro/keys", {
        method: "POST",
        key: adminKey,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    for (const [body, param] of [
      [{ name: 1 }, "name"],
      [{ name: "x", models: ["m-a", 2] }, "models[1]"],
      // Values the key service refuses are named by their wire field too, not the service's (requestsPerMinute).
      [{ name: "x", requests_per_minute: -5 }, "requests_per_minute"],
      [{ name: "x", tokens_per_minute: 1.5 }, "tokens_per_minute"],
      [{ name: "x", budget_micro_usd: -1, budget_period: "day" }, "budget_micro_usd"],
      [{ name: "x", budget_micro_usd: 5 }, "budget_period"],
      [{ name: "x", expires_in_ms: 0 }, "expires_in_ms"],
      [{ name: "  " }, "name"],
      [{ name: "x", models: [] }, "models"],
      [{ name: "x", models: ["m-a", ""] }, "models[1]"],
      [{ name: "x", unknown_field: true }, null],
      [["x"], null],
    ] as const) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const error = await errorBody(response);
      expect(error, JSON.stringify(body)).toMatchObject({ code: "invalid_request", param });
      expect(error.message, JSON.stringify(body)).not.toMatch(/PerMinute|MicroUsd|Period|InMs/);
    }
  });

  it("answers usage by key, model and day, and rejects a bad group or time", async () => {
    const client = createAdminClient({ baseUrl: "http://moestro.test/v1", adminKey, fetch: viaApp });
    const report = await client.usage({ groupBy: "model", from: "2026-06-15", to: String(nowMs + 1) });
    expect(report).toMatchObject({
      object: "moestro.usage_report",
      group_by: "model",
      from_ms: Date.parse("2026-06-15T00:00:00Z"),
      to_ms: nowMs + 1,
    });
    expect(report.data.map((row) => row.name)).toEqual(["m-a"]);
    expect(report.total).toMatchObject({ name: "total", requests: 2, cost_micro_usd: 1000 });
    expect((await client.usage({ groupBy: "key", from: "12h" })).data[0]).toMatchObject({ name: "budget", requests: 2 });
    await expect(client.usage({ groupBy: "week" as "day" })).rejects.toMatchObject({ status: 400, param: "group_by" });
    await expect(client.usage({ from: "last tuesday" })).rejects.toMatchObject({ status: 400, param: "from" });
    // A range that holds nothing is a mistake to name, not an empty report.
    await expect(client.usage({ from: "2026-06-15", to: "2026-06-14" })).rejects.toMatchObject({ status: 400, param: "from" });
  });

  it("authorises a batch line (the runner's env, never a header) as the batch's key: its scope, and its revocation", async () => {
    const { key } = await keys.create({ name: "batcher", models: ["ghost"] });
    const line = (model: string) =>
      app.request(
        "/v1/chat/completions",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
        },
        { moestroBatch: { batchId: "batch_x", keyId: key.id } },
      );
    // An allowed model passes the key checks (not served here: the route answers 404).
    expect(await errorBody(await line("ghost"))).toMatchObject({ code: "model_not_found" });
    const refused = await line("m-b");
    expect(refused.status).toBe(403);
    expect(await errorBody(refused)).toMatchObject({ code: "model_not_allowed" });
    await keys.revoke(key.id);
    expect(await errorBody(await line("ghost"))).toMatchObject({ code: "api_key_revoked" });
    // Without the env, the same request needs a credential.
    expect((await app.request("/v1/chat/completions", { method: "POST", body: "{}", headers: { "x-moestro-batch": key.id } })).status).toBe(
      401,
    );
  });
});

describe("the admin API with key checks off", () => {
  it("shows usage but refuses key management (403), since such keys would be open to anyone", async () => {
    const target = await createTestStoreTarget("sqlite");
    const store = await openStore({ home: target.home });
    try {
      const keys = createKeyService({ keys: store.apiKeys });
      const app = createApp({ models: createStaticModelRegistry([]), logger, admin: { keys, usage: store.usage, canManageKeys: false } });
      expect((await app.request("/v1/moestro/usage")).status).toBe(200);
      const response = await app.request("/v1/moestro/keys", { method: "POST", body: JSON.stringify({ name: "x" }) });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain("--admin-key");
    } finally {
      await store.dispose();
      await target.cleanup();
    }
  });
});
