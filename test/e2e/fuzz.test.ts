import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { dialectFuzzBodies } from "../helpers/dialect-fuzz-bodies.js";
import { ollamaFuzzBodies } from "../helpers/ollama-fuzz-bodies.js";
import { answerBreaksProperty } from "../helpers/fuzz-answer-check.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * A property-based fuzz test over every JSON route of the real server (two tiny GGUF models, key checks on, the admin
 * key on most requests): valid bodies, the same bodies mutated (fields dropped, values replaced by random JSON, types
 * changed, values nested thousands deep), random JSON, and bytes that are not JSON, on OpenAI's, Anthropic's, Ollama's
 * and the Responses API's routes. The property: no answer is a 5xx, a JSON answer is well-formed (an error in the shape of
 * the route's API), and no stream ends with a server error event or without its last event. After each
 * batch the server must answer `GET /health` within 2 s.
 *
 * The seed is random for each batch; fast-check prints the seed of a failure, and `MOESTRO_FUZZ_SEED=<seed>` runs every
 * batch with it, which replays the failure (server state aside).
 * Each of the six batches sends groups of 1 to 3 concurrent requests for `MOESTRO_FUZZ_BATCH_MS` (default 4000 ms, so
 * about 25 s in all; 150 to 450 groups a batch on the 2-core test machine, depending on its load), or until
 * `MOESTRO_FUZZ_RUNS` groups (default 2000). `MOESTRO_FUZZ_STATS=1` prints how many answers each route gave, by status and error code (to
 * see that the bodies reach the models, not only the validators).
 */

const adminKey = "fuzz-admin-key-0123456789abcdef";
const models = ["stories260K", "tiny-qwen3moe"] as const;
const batches = 6;
const runsPerBatch = Number(process.env.MOESTRO_FUZZ_RUNS ?? 2000);
const batchMs = Number(process.env.MOESTRO_FUZZ_BATCH_MS ?? 4000);
const seed = process.env.MOESTRO_FUZZ_SEED === undefined ? undefined : Number(process.env.MOESTRO_FUZZ_SEED);

/** One request the fuzzer sends. `body` is sent as JSON, `rawBody` as it is (not JSON, or nested too deep to stringify). */
interface FuzzRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  rawBody?: string;
  /** Which credential: the admin key (most requests), none, or a key that does not exist. */
  credential: "admin" | "none" | "wrong";
}

// Values that often break parsers and validators.
const nastyValue = fc.constantFrom<unknown>(
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 63),
  1e308,
  "",
  " ",
  "\u0000",
  "%zz",
  "🦄",
  "a".repeat(300),
  [],
  {},
  [[[]]],
  { __proto__: null },
  true,
);
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nastyValue);
const smallTokens = fc.integer({ min: 1, max: 6 });
const modelName = fc.oneof(fc.constantFrom(...models), fc.constantFrom("nope", "", "stories260K/../x", "%zz"), fc.string());

/** A JSON schema: mostly ones the grammar can enforce, sometimes ones Ajv or the grammar must refuse. */
const schemaArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    { type: "object", properties: { a: { type: "string", maxLength: 4 } }, required: ["a"] },
    { type: "object", properties: { n: { type: "integer" }, ok: { type: "boolean" } }, required: ["n", "ok"] },
    { type: "object", properties: { c: { enum: ["red", "green"] } }, required: ["c"] },
    { type: "array", items: { type: "string", maxLength: 3 }, maxItems: 2 },
    { type: "object", properties: { a: { $ref: "#/nowhere" } } },
    { type: "object", properties: null },
    { type: "object", required: "a" },
    { type: "objekt" },
    { type: "string", pattern: "^[a-z]+$" },
    { $ref: "#" },
    { $id: "x", type: "object" },
    // Ajv compiles these, but structured output cannot satisfy them: refused before generation (docs/api.md).
    { type: "object", properties: { a: { type: "string" } }, required: ["a", "b"] },
    { type: "string", minLength: 3, maxLength: 1 },
    { type: "string", enum: ["a", 1] },
    { type: "integer", anyOf: [{ const: 1 }, { const: "x" }] },
    { oneOf: [{ type: "number" }, { type: "integer" }] },
    { type: "array", prefixItems: [{ type: "integer" }], items: { type: "string", maxLength: 2 }, maxItems: 3 },
  ),
  anyValue,
);

const message = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ role: fc.constantFrom("user", "system", "developer", "assistant"), content: fc.string({ maxLength: 40 }) }),
  },
  fc.record({
    role: fc.constant("user"),
    content: fc.array(fc.record({ type: fc.constant("text"), text: fc.string({ maxLength: 20 }) }), { maxLength: 2 }),
  }),
  fc.record({ role: fc.constant("tool"), tool_call_id: fc.constantFrom("call_1", ""), content: fc.string({ maxLength: 20 }) }),
);

const tool = fc.record({
  type: fc.constant("function"),
  function: fc.record({ name: fc.constantFrom("get_weather", "f", "bad name!"), parameters: schemaArbitrary }, { requiredKeys: ["name"] }),
});

/** A model the server has (most bodies), or one it has not. */
const servedModel = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...models) }, { weight: 1, arbitrary: modelName });

/** `base` with up to `maxFeatures` optional features merged in: mostly valid bodies, some with options that clash. */
const withFeatures = (base: fc.Arbitrary<object>, features: Array<fc.Arbitrary<object>>, maxFeatures: number) =>
  fc
    .tuple(base, fc.array(fc.oneof(...features), { maxLength: maxFeatures }))
    .map(([body, extras]) => Object.assign({}, body, ...extras) as object);

const chatBody = withFeatures(
  fc.record({ model: servedModel, messages: fc.array(message, { minLength: 1, maxLength: 3 }), max_tokens: smallTokens }),
  [
    fc.record({ temperature: fc.constantFrom(0, 0.7, 1), top_p: fc.constantFrom(0.5, 1), top_k: fc.constantFrom(0, 5) }),
    fc.record({ seed: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ stop: fc.oneof(fc.string({ maxLength: 4 }), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 })) }),
    fc.record({ n: fc.integer({ min: 1, max: 2 }) }),
    fc.record({ stream: fc.constant(true), stream_options: fc.record({ include_usage: fc.boolean() }) }),
    fc.record({ logprobs: fc.constant(true), top_logprobs: fc.integer({ min: 0, max: 3 }) }),
    fc.record(
      {
        tools: fc.array(tool, { minLength: 1, maxLength: 3 }),
        tool_choice: fc.oneof(fc.constantFrom("auto", "none", "required"), fc.constant({ type: "function", function: { name: "f" } })),
        parallel_tool_calls: fc.boolean(),
      },
      { requiredKeys: ["tools"] },
    ),
    fc.record({
      response_format: fc.oneof(
        fc.constant({ type: "json_object" }),
        fc.constant({ type: "text" }),
        fc.record({ type: fc.constant("json_schema"), json_schema: fc.record({ name: fc.constant("x"), schema: schemaArbitrary }) }),
      ),
    }),
    fc.record({ enable_thinking: fc.boolean(), thinking_budget: fc.integer({ min: 0, max: 4 }) }, { requiredKeys: [] }),
    fc.record({ reasoning_effort: fc.constantFrom("none", "low", "high") }),
    fc.record({ keep_alive: fc.constantFrom(-1, "5m", "1h", 600) }),
  ],
  3,
);

/**
 * Structured output (a JSON schema, JSON mode or tools) with log-probabilities and stop sequences, sent unmutated: the
 * grammar must hold on the logprobs path, and a stop sequence must not cut the JSON (issue 14 item 3).
 */
const structuredChat: fc.Arbitrary<FuzzRequest> = fc
  .record({
    model: fc.constantFrom(...models),
    messages: fc.array(message, { minLength: 1, maxLength: 2 }),
    max_tokens: fc.integer({ min: 1, max: 24 }),
    temperature: fc.constantFrom(0, 1),
    constraint: fc.oneof(
      fc.record({ response_format: fc.constant({ type: "json_object" }) }),
      fc.record({
        response_format: fc.record({
          type: fc.constant("json_schema"),
          json_schema: fc.record({ name: fc.constant("x"), schema: schemaArbitrary }),
        }),
      }),
      fc.record({ tools: fc.array(tool, { minLength: 1, maxLength: 2 }), tool_choice: fc.constantFrom("auto", "required") }),
    ),
    logprobs: fc.record({ logprobs: fc.constant(true), top_logprobs: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: [] }),
    stop: fc.record(
      { stop: fc.array(fc.constantFrom("{", "}", '"', ":", ",", "\n", "a", " "), { minLength: 1, maxLength: 4 }) },
      { requiredKeys: [] },
    ),
    stream: fc.boolean(),
  })
  .map(({ constraint, logprobs, stop, ...body }) => ({
    method: "POST" as const,
    path: "/v1/chat/completions",
    body: { ...body, ...constraint, ...logprobs, ...stop },
    credential: "admin" as const,
  }));

const completionBody = withFeatures(
  fc.record({
    model: servedModel,
    prompt: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 2 })),
    max_tokens: smallTokens,
  }),
  [
    fc.record({ temperature: fc.constantFrom(0, 1), seed: fc.integer() }),
    fc.record({ stop: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }) }),
    fc.record({ n: fc.integer({ min: 1, max: 2 }) }),
    fc.record({ stream: fc.constant(true), stream_options: fc.record({ include_usage: fc.boolean() }) }),
    fc.record({ echo: fc.boolean(), logprobs: fc.integer({ min: 0, max: 2 }) }, { requiredKeys: [] }),
  ],
  2,
);

const embeddingBody = fc.record(
  {
    model: servedModel,
    input: fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
      fc.array(fc.integer({ min: -2, max: 200_000 }), { maxLength: 4 }),
      fc.array(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 3 }), { maxLength: 2 }),
    ),
    encoding_format: fc.constantFrom("float", "base64"),
    dimensions: fc.constantFrom(64, 32),
  },
  { requiredKeys: ["model", "input"] },
);

const modelBody = fc.record({ model: modelName, keep_alive: fc.constantFrom(0, -1, "5m", "bad", 1) }, { requiredKeys: ["model"] });

const { ollamaChatBody, ollamaGenerateBody, ollamaEmbedBody } = ollamaFuzzBodies({
  servedModel,
  smallTokens,
  schemaArbitrary,
  tool,
  withFeatures,
});
const { anthropicMessagesBody, responsesBody } = dialectFuzzBodies({ servedModel, smallTokens, schemaArbitrary, tool, withFeatures });
const keyBody = fc.record(
  {
    name: fc.string({ maxLength: 20 }),
    models: fc.array(modelName, { maxLength: 2 }),
    requests_per_minute: fc.integer({ min: -1, max: 100 }),
    tokens_per_minute: fc.integer({ min: 0, max: 10_000 }),
    budget_micro_usd: fc.integer({ min: 0, max: 1_000_000 }),
    budget_period: fc.constantFrom("day", "month", "year"),
    expires_in_ms: fc.constantFrom(-1, 0, 60_000, 1e300),
  },
  { requiredKeys: ["name"] },
);

/** One mutation of a JSON value: drop a key, replace a value, wrap it, or add a field. */
type Mutation = { kind: "drop" | "replace" | "wrap" | "add"; at: number; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("drop", "replace", "wrap", "add"),
  at: fc.nat(),
  value: anyValue,
});

/** Every container (object or array) in `value`, with the value itself first. */
function containers(value: unknown): Array<Record<string, unknown> | unknown[]> {
  const found: Array<Record<string, unknown> | unknown[]> = [];
  const pending = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== "object" || next === null) continue;
    found.push(next as Record<string, unknown> | unknown[]);
    pending.push(...Object.values(next));
  }
  return found;
}

/** Applies the mutations to a copy of `body`. */
function mutate(body: unknown, mutations: readonly Mutation[]): unknown {
  const copy = structuredClone(body);
  for (const { kind, at, value: shared } of mutations) {
    // A copy: the constants of `nastyValue` are shared objects, and a later mutation could make one contain itself.
    const value = structuredClone(shared);
    const targets = containers(copy);
    if (targets.length === 0) return value;
    const target = targets[at % targets.length]!;
    const keys = Object.keys(target);
    const key = keys.length === 0 ? "extra" : keys[at % keys.length]!;
    const slot = target as Record<string, unknown>;
    if (kind === "drop") delete slot[key];
    else if (kind === "replace") slot[key] = value;
    else if (kind === "wrap") slot[key] = at % 2 === 0 ? [slot[key]] : { value: slot[key] };
    else slot[`x_${at % 7}`] = value;
  }
  return copy;
}

/** A valid body for `route`, then mutated `mutations` times (zero: sent valid). */
const mutated = (route: string, body: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzRequest> =>
  fc
    .tuple(
      body,
      fc.array(mutation, { maxLength: 3 }),
      fc.constantFrom<FuzzRequest["credential"]>(...Array<"admin">(8).fill("admin"), "none", "wrong"),
    )
    .map(([valid, mutations, credential]) => ({ method: "POST" as const, path: route, body: mutate(valid, mutations), credential }));

/** A body whose schema or message nests `depth` levels deep, written as text (JSON.stringify recurses). */
const deeplyNested: fc.Arbitrary<FuzzRequest> = fc
  .record({
    depth: fc.constantFrom(65, 1000, 5000),
    where: fc.constantFrom("response_format", "tools", "content", "stop", "input"),
    shape: fc.constantFrom("object", "array"),
  })
  .map(({ depth, where, shape }) => {
    const [open, close] = shape === "object" ? ['{"type":"object","properties":{"a":', "}}"] : ["[", "]"];
    const deep = `${open.repeat(depth)}{}${close.repeat(depth)}`;
    const marker = '"<deep>"';
    const bodies: Record<string, [string, object]> = {
      response_format: [
        "/v1/chat/completions",
        {
          model: "tiny-qwen3moe",
          max_tokens: 2,
          messages: [{ role: "user", content: "x" }],
          response_format: { type: "json_schema", json_schema: { name: "x", schema: "<deep>" } },
        },
      ],
      tools: [
        "/v1/chat/completions",
        {
          model: "tiny-qwen3moe",
          max_tokens: 2,
          messages: [{ role: "user", content: "x" }],
          tools: [{ type: "function", function: { name: "f", parameters: "<deep>" } }],
        },
      ],
      content: ["/v1/chat/completions", { model: "stories260K", max_tokens: 2, messages: [{ role: "user", content: "<deep>" }] }],
      stop: ["/v1/completions", { model: "stories260K", max_tokens: 2, prompt: "x", stop: "<deep>" }],
      input: ["/v1/embeddings", { model: "stories260K", input: "<deep>" }],
    };
    const [path, body] = bodies[where]!;
    return { method: "POST" as const, path, rawBody: JSON.stringify(body).replace(marker, deep), credential: "admin" as const };
  });

const pathSegment = fc.oneof(
  modelName,
  fc.constantFrom("%zz", "%", "%E0%A4%A", "..%2f..", "a%2Fb", "%00", "🦄"),
  fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
);
const credential = fc.constantFrom<FuzzRequest["credential"]>("admin", "admin", "none", "wrong");
const getRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(
        "/v1/models",
        "/v1/moestro/models",
        "/v1/moestro/ps",
        "/v1/moestro/info",
        "/v1/moestro/keys",
        "/v1/moestro/usage",
        "/v1/moestro/usage/events",
        "/v1/moestro/results",
        "/metrics",
        "/api/tags",
        "/api/ps",
        "/api/version",
        "/",
      ),
      pathSegment.map((segment) => `/v1/models/${segment}`),
      pathSegment.map((segment) => `/v1/moestro/plan?model=${segment}`),
      fc
        .tuple(fc.constantFrom("group_by", "from", "to", "limit", "format", "key_id", "include_revoked"), pathSegment)
        .map(
          ([name, value]) =>
            `/v1/moestro/usage${name === "group_by" || name === "from" || name === "to" ? "" : "/events"}?${name}=${value}`,
        ),
      pathSegment.map((segment) => `/${segment}`),
    ),
    credential,
  )
  .map(([path, who]) => ({ method: "GET" as const, path, credential: who }));

const deleteKey: fc.Arbitrary<FuzzRequest> = fc
  .tuple(pathSegment, credential)
  .map(([segment, who]) => ({ method: "DELETE" as const, path: `/v1/moestro/keys/${segment}`, credential: who }));

/** Bodies that are not JSON objects at all. */
const rawBodies: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom(
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/embeddings",
      "/v1/moestro/models/load",
      "/v1/moestro/keys",
      "/v1/moestro/pull",
      "/api/chat",
      "/api/generate",
      "/api/show",
    ),
    fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.constantFrom("", "{", '{"model":', "[1,2", "null", "\u0000"),
    ),
  )
  .map(([path, rawBody]) => ({ method: "POST" as const, path, rawBody, credential: "admin" as const }));

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 6, arbitrary: mutated("/v1/chat/completions", chatBody) },
  { weight: 2, arbitrary: structuredChat },
  { weight: 3, arbitrary: mutated("/v1/completions", completionBody) },
  { weight: 2, arbitrary: mutated("/v1/embeddings", embeddingBody) },
  { weight: 1, arbitrary: mutated("/v1/moestro/models/load", modelBody) },
  { weight: 1, arbitrary: mutated("/v1/moestro/models/unload", modelBody) },
  { weight: 1, arbitrary: mutated("/v1/moestro/keys", keyBody) },
  // Pull reaches the hub, which is a closed local port here: only bodies that fail before it are interesting.
  { weight: 1, arbitrary: mutated("/v1/moestro/pull", fc.record({ model: fc.constantFrom("hf:a/b:Q8_0", "", "nope", "hf:") })) },
  { weight: 3, arbitrary: mutated("/api/chat", ollamaChatBody) },
  { weight: 2, arbitrary: mutated("/api/generate", ollamaGenerateBody) },
  { weight: 1, arbitrary: mutated("/api/embed", ollamaEmbedBody) },
  { weight: 1, arbitrary: mutated("/api/show", fc.record({ model: modelName })) },
  { weight: 3, arbitrary: mutated("/v1/messages", anthropicMessagesBody) },
  { weight: 1, arbitrary: mutated("/v1/messages/count_tokens", anthropicMessagesBody) },
  { weight: 3, arbitrary: mutated("/v1/responses", responsesBody) },
  { weight: 1, arbitrary: deeplyNested },
  { weight: 3, arbitrary: getRequest },
  { weight: 1, arbitrary: deleteKey },
  { weight: 2, arbitrary: rawBodies },
);

describe.skipIf(!hasTestModels)("fuzz: random and mutated requests on every JSON route never get a 5xx", () => {
  let test: TestServer;
  const stats = new Map<string, number>();

  // The server runs in this process: a warning such as TimeoutOverflowWarning (a timer given a delay Node cannot hold,
  // which then fires after 1 ms) is a bug the status codes would not show.
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);

  beforeAll(async () => {
    process.on("warning", onWarning);
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("tiny-qwen3moe.gguf") }],
      engine: { contextTokens: 512, batchSize: 64, parallel: 2 },
      adminKey,
      hub: { endpoint: "http://127.0.0.1:9" },
    });
  });
  afterAll(async () => {
    if (process.env.MOESTRO_FUZZ_STATS)
      console.log(
        [...stats]
          .sort()
          .map(([key, count]) => `${count}\t${key}`)
          .join("\n"),
      );
    await test?.close();
    process.off("warning", onWarning);
  });

  /** Sends one request and returns why its answer breaks the property, or `undefined` when it holds. */
  async function check(request: FuzzRequest): Promise<string | undefined> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (request.credential === "admin") headers.authorization = `Bearer ${adminKey}`;
    if (request.credential === "wrong") headers.authorization = "Bearer mst-not-a-key-0000000000";
    const body = request.method === "POST" ? (request.rawBody ?? JSON.stringify(request.body)) : undefined;
    const response = await fetch(`${test.url}${request.path}`, { method: request.method, headers, body });
    const text = await response.text();
    if (process.env.MOESTRO_FUZZ_STATS) {
      const code = `${/"code":"([a-z_]+)"/.exec(text)?.[1] ?? ""} ${/"(?:message|error)":"(.{0,50})/.exec(text)?.[1] ?? ""}`;
      const key = `${request.method} ${request.path.split("?")[0]!.replace(/^\/v1\/models\/.*/, "/v1/models/X")} ${response.status} ${code}`;
      stats.set(key, (stats.get(key) ?? 0) + 1);
    }
    return answerBreaksProperty(request.path, response.status, response.headers.get("content-type") ?? "", text);
  }

  it(`${batches} batches of ${batchMs} ms of groups of 1 to 3 concurrent requests, /health answering after each`, {
    timeout: 60_000 + batches * batchMs * 2,
  }, async () => {
    let groups = 0;
    for (let batch = 0; batch < batches; batch++) {
      const details = await fc.check(
        // One to three requests at once: the server must hold up under concurrent bad input too.
        fc.asyncProperty(fc.array(fuzzRequest, { minLength: 1, maxLength: 3 }), async (requests) => {
          const failures = await Promise.all(requests.map(async (request) => ({ request, failure: await check(request) })));
          for (const { request, failure } of failures) {
            if (failure !== undefined) throw new Error(`${request.method} ${request.path}: ${failure}`);
          }
        }),
        // A time budget rather than a count: the machine's load decides how many groups fit, the test's length stays put.
        { numRuns: runsPerBatch, interruptAfterTimeLimit: batchMs, markInterruptAsFailure: false, seed, endOnFailure: true },
      );
      // A batch whose time ran out in its first group (a loaded machine) has no counterexample: only one fails the test.
      if (details.failed && details.counterexample !== null) throw new Error(fc.defaultReportMessage(details));
      groups += details.numRuns;
      const health = await fetch(`${test.url}/health`, { signal: AbortSignal.timeout(2000) });
      expect(health.status).toBe(200);
      expect(warnings).toEqual([]);
    }
    expect(groups).toBeGreaterThan(0);
  });
});
