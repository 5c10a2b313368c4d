import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { createStaticModelRegistry } from "../../engines/model-registry.js";
import type { GenerateRequest, GenerationStream, ModelBackend, ModelRegistry, StreamPart, UsageEvent } from "../../spec/index.js";
import { createApp } from "../app.js";
import { schemaLimits } from "./schema-validator.js";

const logger = pino({ level: "silent" });

/** A model-free backend that answers every request with `script`'s parts and records the requests it admitted. */
function scriptedBackend(script: (request: GenerateRequest) => StreamPart[]) {
  const requests: GenerateRequest[] = [];
  const backend = {
    info: { id: "fake", path: "/nowhere/fake.gguf", createdAtSeconds: 0, contextTokens: 256, parallelSequences: 1 },
    engine: () => ({ kind: "inproc", placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 } }),
    async generate(request: GenerateRequest): Promise<GenerationStream> {
      requests.push(request);
      const parts = script(request);
      return {
        promptTokens: 3,
        close: async () => undefined,
        async *[Symbol.asyncIterator]() {
          yield* parts;
        },
      };
    },
    stats: () => ({ sequencesInUse: 0, queuedRequests: 0, activeGenerations: 0, generatedTokensTotal: 0 }),
    embed: async () => ({ embeddings: [], promptTokens: 0 }),
    dispose: async () => undefined,
  } as unknown as ModelBackend;
  return { backend, requests };
}

const finish = (completionTokens: number): StreamPart => ({
  type: "finish",
  finishReason: "stop",
  usage: { promptTokens: 3, completionTokens },
});

/** An app on `backend` that counts model acquisitions and keeps every usage event. */
function createTestApp(backend: ModelBackend) {
  const registry = createStaticModelRegistry([backend]);
  let acquired = 0;
  const models: ModelRegistry = {
    ...registry,
    acquire: (id, options) => {
      acquired++;
      return registry.acquire(id, options);
    },
  };
  const events: UsageEvent[] = [];
  const app = createApp({ models, logger, usageSinks: [{ record: async (event) => void events.push(event) }] });
  const post = (body: object) =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "fake", messages: [{ role: "user", content: "Hi" }], ...body }).replace(
        `"${deepMarker}"`,
        deepSchemaText,
      ),
    });
  return { app, post, events, acquisitions: () => acquired };
}

/** A schema nested `levels` deep through `properties`. */
function nestedSchema(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = { type: "object" };
  let current = root;
  for (let level = 0; level < levels; level++) {
    const child: Record<string, unknown> = { type: "object" };
    current.properties = { a: child };
    current = child;
  }
  return root;
}

/** Stands for a schema nested 5,000 levels deep, which `JSON.stringify` cannot write (it recurses): it is spliced in as text. */
const deepMarker = "<schema nested 5,000 levels deep>";
const deepSchemaText = `${'{"type":"object","properties":{"a":'.repeat(5000)}{"type":"object"}${"}}".repeat(5000)}`;

const tool = (name: string, parameters: unknown) => ({ type: "function", function: { name, parameters } });

describe("the serving layer's schema checks (createApp, fake backend)", () => {
  const badSchemas: Array<[string, unknown]> = [
    ["a $ref to nowhere", { type: "object", properties: { a: { $ref: "#/nowhere" } } }],
    ["properties: null", { type: "object", properties: null }],
    ['required: "a"', { type: "object", required: "a" }],
    ["an unknown type", { type: "objekt" }],
    ["a remote $ref", { $ref: "https://example.com/schema.json" }],
    ["5,000 levels deep", deepMarker],
    ["an object as $id", { $id: { a: 1 }, type: "object" }],
    // Compiles, but structured output cannot satisfy it (schema-validator.test.ts has the rest of these).
    ["required naming an unlisted property", { type: "object", properties: { a: { type: "string" } }, required: ["a", "b"] }],
  ];

  it.each(badSchemas)("refuses %s in response_format with 400 before holding the model", async (_name, schema) => {
    const { backend, requests } = scriptedBackend(() => [finish(1)]);
    const test = createTestApp(backend);
    const response = await test.post({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { type: string; param: string; code: string } };
    expect(error).toMatchObject({ type: "invalid_request_error", param: "response_format.json_schema.schema", code: "invalid_request" });
    expect(test.acquisitions()).toBe(0);
    expect(requests).toHaveLength(0);
  });

  it.each(badSchemas)("refuses %s in a tool's parameters with 400 naming that tool", async (_name, schema) => {
    const { backend } = scriptedBackend(() => [finish(1)]);
    const test = createTestApp(backend);
    const tools = [tool("a", { type: "object" }), tool("b", { type: "object" }), tool("c", schema)];
    const response = await test.post({ tools });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe("tools[2].function.parameters");
    expect(test.acquisitions()).toBe(0);
  });

  it(`allows a schema nested ${schemaLimits.maxDepth - 1} levels deep and refuses one ${schemaLimits.maxDepth + 1} deep`, async () => {
    const { backend } = scriptedBackend(() => [{ type: "text-delta", text: "{}" }, finish(1)]);
    const test = createTestApp(backend);
    // nestedSchema(k) nests 2k + 1 objects (each level adds `properties` and the child schema).
    const atLimit = await test.post({ tools: [tool("deep", nestedSchema((schemaLimits.maxDepth - 2) / 2))] });
    expect(atLimit.status).toBe(200);
    const overLimit = await test.post({ tools: [tool("deep", nestedSchema(schemaLimits.maxDepth / 2))] });
    expect(overLimit.status).toBe(400);
    expect(((await overLimit.json()) as { error: { message: string } }).error.message).toContain(`more than ${schemaLimits.maxDepth}`);
  });

  it("refuses schemas that hold too many values together, naming the largest", async () => {
    const { backend } = scriptedBackend(() => [finish(1)]);
    const test = createTestApp(backend);
    const wide = (count: number) => ({
      type: "object",
      properties: Object.fromEntries(Array.from({ length: count }, (_, index) => [`p${index}`, { type: "string" }])),
    });
    const response = await test.post({ tools: [tool("small", wide(10)), tool("big", wide(schemaLimits.maxValues / 2))] });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe("tools[1].function.parameters");
    expect(error.message).toContain(String(schemaLimits.maxValues));
    expect(test.acquisitions()).toBe(0);
  });

  it("accepts a schema that declares draft 2020-12, and $defs references", async () => {
    const { backend } = scriptedBackend(() => [{ type: "text-delta", text: '{"a":"x"}' }, finish(3)]);
    const test = createTestApp(backend);
    const schema = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { a: { $ref: "#/$defs/text" } },
      $defs: { text: { type: "string" } },
    };
    const response = await test.post({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } });
    expect(response.status).toBe(200);
  });
});

describe("the serving layer's output check (createApp, fake backend)", () => {
  const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
  const responseFormat = { type: "json_schema", json_schema: { name: "x", schema } };

  it("answers an answer that breaks its schema with 500 invalid_model_output, recorded as an error with its usage", async () => {
    const { backend } = scriptedBackend(() => [{ type: "text-delta", text: '{"a": "not a number"}' }, finish(7)]);
    const test = createTestApp(backend);
    const response = await test.post({ response_format: responseFormat });
    expect(response.status).toBe(500);
    const { error } = (await response.json()) as { error: { code: string; type: string; message: string } };
    expect(error).toMatchObject({ code: "invalid_model_output", type: "server_error" });
    expect(error.message).toContain("/a");
    expect(test.events).toHaveLength(1);
    expect(test.events[0]).toMatchObject({ status: "error", errorCode: "invalid_model_output", completionTokens: 7 });
  });

  it("ends a stream whose answer breaks its schema with an error event, no [DONE], recorded as an error", async () => {
    const { backend } = scriptedBackend(() => [{ type: "text-delta", text: "{" }, { type: "text-delta", text: "oops" }, finish(2)]);
    const test = createTestApp(backend);
    const response = await test.post({ response_format: { type: "json_object" }, stream: true });
    expect(response.status).toBe(200);
    const events = (await response.text()).split("\n\n").filter((block) => block.startsWith("data: "));
    expect(events.at(-1)).not.toBe("data: [DONE]");
    const last = JSON.parse(events.at(-1)!.slice(6)) as { error: { code: string } };
    expect(last.error.code).toBe("invalid_model_output");
    expect(test.events[0]).toMatchObject({ status: "error", errorCode: "invalid_model_output", completionTokens: 2 });
  });

  it("checks a tool call's arguments against its tool's parameters", async () => {
    const { backend } = scriptedBackend(() => [
      { type: "tool-call", toolCall: { id: "call_1", name: "f", arguments: '{"a": 1.5}' } },
      { type: "finish", finishReason: "tool_calls", usage: { promptTokens: 3, completionTokens: 5 } },
    ]);
    const test = createTestApp(backend);
    const response = await test.post({ tools: [tool("f", schema)] });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_model_output");
    expect(test.events[0]).toMatchObject({ status: "error" });
  });

  it("leaves a cut answer (finish_reason length) unchecked, and passes a valid one", async () => {
    let text = '{"a": ';
    const { backend } = scriptedBackend(() => [
      { type: "text-delta", text },
      { type: "finish", finishReason: text.endsWith("}") ? "stop" : "length", usage: { promptTokens: 3, completionTokens: 2 } },
    ]);
    const test = createTestApp(backend);
    expect((await test.post({ response_format: responseFormat })).status).toBe(200);
    text = '{"a": 4}';
    const valid = await test.post({ response_format: responseFormat });
    expect(valid.status).toBe(200);
    expect(test.events.map((event) => event.status)).toEqual(["ok", "ok"]);
  });
});

describe("the request's abort signal", () => {
  it("reaches the engine with the request, set by the serving layer", async () => {
    const { backend, requests } = scriptedBackend(() => [{ type: "text-delta", text: "hi" }, finish(1)]);
    const test = createTestApp(backend);
    expect((await test.post({})).status).toBe(200);
    expect(requests[0]!.signal).toBeInstanceOf(AbortSignal);
  });
});

describe("a backend that sends requests elsewhere (admissionBound: an upstream pool)", () => {
  /** An app whose one sink takes starts (as the ledger), refusing every start when `refuse`; it logs what it hears. */
  function appWithStartingSink(backend: ModelBackend, refuse: boolean) {
    const log: string[] = [];
    const app = createApp({
      models: createStaticModelRegistry([backend]),
      logger,
      usageSinks: [
        {
          async start(start) {
            log.push(`start ${start.maxPromptTokens}+${start.maxCompletionTokens} ${start.upstream ?? "-"}`);
            if (refuse) throw new MoestroError("insufficient_quota", "over budget");
            return {
              checkpoint: async () => undefined,
              finish: async (event) => void log.push(`finish ${event.status} ${event.upstream} ${event.attempts}`),
              cancel: async () => void log.push("cancel"),
            };
          },
          record: async (event) => void log.push(`record ${event.status}`),
        },
      ],
    });
    const post = (body: object) =>
      app.request("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "fake", messages: [{ role: "user", content: "Hi" }], ...body }),
      });
    return { post, log };
  }

  /** {@link scriptedBackend} as an upstream pool: a bound of 40 prompt tokens and a 1000-token window, served by `u1`. */
  function upstreamBackend() {
    const scripted = scriptedBackend(() => [{ type: "text-delta", text: "hi" }, finish(1)]);
    const generate = scripted.backend.generate.bind(scripted.backend);
    const backend = {
      ...scripted.backend,
      admissionBound: async () => ({ promptTokens: 40, exact: false, contextTokens: 1000 }),
      generate: async (request: GenerateRequest) => ({ ...(await generate(request)), servedBy: { upstream: "u1", attempts: 2 } }),
    } as ModelBackend;
    return { backend, requests: scripted.requests };
  }

  it("reserves the bound plus n × max_tokens (or n × the window) before generating, and names the upstream at the end", async () => {
    const { backend, requests } = upstreamBackend();
    const test = appWithStartingSink(backend, false);
    expect((await test.post({ max_tokens: 7, n: 2 })).status).toBe(200);
    expect((await test.post({})).status).toBe(200);
    expect(requests).toHaveLength(3);
    expect(test.log).toEqual(["start 40+14 -", "finish ok u1 2", "start 40+1000 -", "finish ok u1 2"]);
  });

  it("never generates a request its budget refuses", async () => {
    const { backend, requests } = upstreamBackend();
    const test = appWithStartingSink(backend, true);
    const response = await test.post({ max_tokens: 7 });
    expect(response.status).toBe(429);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("insufficient_quota");
    expect(requests).toHaveLength(0);
  });

  it("releases the reservation (no row) when generating fails before the first byte", async () => {
    const { backend } = upstreamBackend();
    const failing = {
      ...backend,
      generate: async () => {
        throw new MoestroError("upstream_failed", "every upstream failed");
      },
    } as ModelBackend;
    const test = appWithStartingSink(failing, false);
    expect((await test.post({ max_tokens: 7 })).status).toBe(502);
    expect(test.log).toEqual(["start 40+7 -", "cancel"]);
  });
});
