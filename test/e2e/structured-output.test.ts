import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ajv } from "ajv";
import OpenAI, { type APIError } from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

const eventSchema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    date: { type: "string", format: "date" },
    participants: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 3 },
  },
  required: ["name", "date", "participants"],
  additionalProperties: false,
};

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)("structured output, logprobs and embeddings (%s engine)", (engine) => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer(
      {
        models: [{ path: testModelPath("tiny-qwen3moe.gguf") }, { path: testModelPath("tiny-qwen35moe.gguf") }],
        engine: { contextTokens: 1024, batchSize: 64, parallel: 2 },
      },
      { engine },
    );
  });
  afterAll(async () => {
    await test?.close();
  });

  it("C20: json_schema is enforced while decoding: 10 runs at temperature 1 parse and validate (Ajv)", async () => {
    const validate = new Ajv({ strict: true, validateFormats: false }).compile(eventSchema);
    for (let run = 0; run < 10; run++) {
      const completion = await test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        temperature: 1,
        max_tokens: 200,
        messages: [{ role: "user", content: "Ann and Bo go to a science fair on Friday. Extract the event." }],
        response_format: { type: "json_schema", json_schema: { name: "event", strict: true, schema: eventSchema } },
      });
      const content = completion.choices[0]!.message.content!;
      expect(content).not.toMatch(/<\/?think>/);
      expect(validate(JSON.parse(content))).toBe(true);
      expect(completion.choices[0]!.finish_reason).toBe("stop");
    }
  });

  it("C20: a schema keyword that can neither be enforced nor checked is a 400 naming response_format, never a 200", async () => {
    const schema = { ...eventSchema, properties: { ...eventSchema.properties, code: { type: "string", not: { const: "ABC" } } } };
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen3moe",
      messages: [{ role: "user", content: "Extract." }],
      response_format: { type: "json_schema", json_schema: { name: "event", strict: true, schema } },
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe("response_format");
    expect(error.message).toContain("properties/code/not");
  });

  it("issue 18: a pattern in the grammar's subset is enforced while decoding (it was a 400)", async () => {
    const schema = { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]{3}-\\d{2}$" } }, required: ["code"] };
    for (const seed of [1, 2]) {
      const completion = await test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        temperature: 1,
        seed,
        max_tokens: 40,
        messages: [{ role: "user", content: "A code." }],
        response_format: { type: "json_schema", json_schema: { name: "code", schema } },
      });
      expect(JSON.parse(completion.choices[0]!.message.content!).code).toMatch(/^[A-Z]{3}-\d{2}$/);
    }
  });

  it("C20: a schema Ajv cannot compile, or nested 5,000 deep, is a 400 naming its param before anything is generated", async () => {
    const deep = `${'{"type":"object","properties":{"a":'.repeat(5000)}{}${"}}".repeat(5000)}`;
    const schemas = [
      JSON.stringify({ type: "object", properties: { a: { $ref: "#/nowhere" } } }),
      JSON.stringify({ type: "object", properties: null }),
      JSON.stringify({ type: "object", required: "a" }),
      deep,
    ];
    const base = { model: "tiny-qwen3moe", max_tokens: 200, messages: [{ role: "user", content: "Extract." }] };
    for (const schema of schemas) {
      const bodies: Array<[string, string]> = [
        [
          "response_format.json_schema.schema",
          JSON.stringify({ ...base, response_format: { type: "json_schema", json_schema: { name: "x", schema: "<schema>" } } }),
        ],
        [
          "tools[2].function.parameters",
          JSON.stringify({
            ...base,
            tools: ["a", "b", "c"].map((name) => ({ type: "function", function: { name, parameters: name === "c" ? "<schema>" : {} } })),
          }),
        ],
      ];
      for (const [param, body] of bodies) {
        const startedAt = performance.now();
        const response = await fetch(`${test.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: body.replace('"<schema>"', schema),
        });
        expect(response.status, `${param}: ${schema.slice(0, 60)}`).toBe(400);
        const { error } = (await response.json()) as { error: { param: string; type: string } };
        expect(error).toMatchObject({ param, type: "invalid_request_error" });
        expect(performance.now() - startedAt).toBeLessThan(1000);
      }
    }
  });

  it("issue 14 item 3: a schema Ajv compiles but structured output cannot satisfy is a 400 naming its param, never a 500", async () => {
    // Each of these was a 500 invalid_model_output after the generation ran: the grammar could only write answers
    // that broke it. `not` is the engine's refusal (a keyword the grammar cannot enforce).
    const schemas: Array<[unknown, string]> = [
      [{ type: "object", properties: { a: { type: "integer" } }, required: ["a", "b"] }, "'required' at # names 'b'"],
      [{ type: "string", minLength: 3, maxLength: 1 }, "'minLength' (3)"],
      [{ type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, maxProperties: 1 }, "'maxProperties' (1)"],
      [{ type: "string", enum: ["ab", "abcdef"], maxLength: 2 }, "#/enum/1"],
      [{ type: "string", anyOf: [{ maxLength: 3 }, { minLength: 10 }] }, "'anyOf' at # has 'type' beside it"],
      [{ type: "array", prefixItems: [{ type: "integer" }], items: false }, "'items' at # is false"],
      [{ type: "object", properties: { a: { type: "integer" } }, not: { required: ["a"] } }, "'not' at #/not"],
    ];
    for (const [schema, fragment] of schemas) {
      for (const [param, body] of [
        ["response_format.json_schema.schema", { response_format: { type: "json_schema", json_schema: { name: "x", schema } } }],
        [
          "tools[0].function.parameters",
          { tools: [{ type: "function", function: { name: "f", parameters: schema } }], tool_choice: "required" },
        ],
      ] as const) {
        const response = await postJson(`${test.url}/v1/chat/completions`, {
          model: "tiny-qwen3moe",
          max_tokens: 40,
          messages: [{ role: "user", content: "x" }],
          ...body,
        });
        expect(response.status, `${param}: ${JSON.stringify(schema)}`).toBe(400);
        const { error } = (await response.json()) as { error: { param: string; message: string } };
        // The engine names the field it was given (`response_format`); the API layer the schema itself.
        expect(param.startsWith(error.param), error.param).toBe(true);
        expect(error.message).toContain(fragment);
      }
    }
  });

  it("issue 14 item 3: oneOf is checked as anyOf, so branches that overlap give a 200 (5 runs at temperature 1)", async () => {
    const schema = { oneOf: [{ type: "number" }, { type: "integer" }] };
    for (let run = 0; run < 5; run++) {
      const completion = await test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        temperature: 1,
        max_tokens: 20,
        messages: [{ role: "user", content: "A number." }],
        response_format: { type: "json_schema", json_schema: { name: "x", schema } },
      });
      if (completion.choices[0]!.finish_reason === "stop")
        expect(typeof JSON.parse(completion.choices[0]!.message.content!)).toBe("number");
    }
  });

  it("an integer is written without an exponent (the fuzz test found -28e-7 for an integer at temperature 0)", async () => {
    const schema = { type: "array", prefixItems: [{ type: "integer" }], items: { type: "string", maxLength: 2 }, maxItems: 3 };
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen3moe",
      messages: [
        { role: "developer", content: "6^" },
        { role: "user", content: "+/\\4#g_UL" },
      ],
      max_tokens: 10,
      temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "x", schema } },
    });
    expect(response.status).toBe(200);
    const { choices } = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    expect(choices[0]!.message.content).toMatch(/^\[\s*-?\d+\s*[,\]]/);
  });

  it("annotations the API allows (deprecated, readOnly, writeOnly, $anchor) and definitions are enforced, not refused", async () => {
    const schema = {
      $anchor: "event",
      type: "object",
      properties: {
        name: { $ref: "#/definitions/short", deprecated: true },
        id: { type: "string", maxLength: 4, readOnly: true },
        note: { type: "string", maxLength: 6, writeOnly: true },
      },
      required: ["name", "id", "note"],
      additionalProperties: false,
      definitions: { short: { type: "string", maxLength: 8 } },
    };
    const validate = new Ajv({ strict: false }).compile(schema);
    const completion = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      temperature: 0,
      max_tokens: 100,
      messages: [{ role: "user", content: "Describe an event." }],
      response_format: { type: "json_schema", json_schema: { name: "event", schema } },
    });
    expect(validate(JSON.parse(completion.choices[0]!.message.content!))).toBe(true);
  });

  it("json_object gives a JSON object", async () => {
    const completion = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      temperature: 0,
      max_tokens: 64,
      messages: [{ role: "user", content: "Reply in JSON." }],
      response_format: { type: "json_object" },
    });
    if (completion.choices[0]!.finish_reason === "stop") expect(typeof JSON.parse(completion.choices[0]!.message.content!)).toBe("object");
    else expect(completion.choices[0]!.message.content!.trimStart().startsWith("{")).toBe(true);
  });

  it("the client's chat.completions.parse with a zod schema returns a parsed object", async () => {
    const Answer = z.object({ colour: z.enum(["red", "green", "blue"]), ok: z.boolean() });
    const completion = await test.client.chat.completions.parse({
      model: "tiny-qwen3moe",
      temperature: 1,
      messages: [{ role: "user", content: "Pick a colour." }],
      response_format: zodResponseFormat(Answer, "answer"),
    });
    const parsed = completion.choices[0]!.message.parsed!;
    expect(["red", "green", "blue"]).toContain(parsed.colour);
    expect(typeof parsed.ok).toBe("boolean");
  });

  it("Qwen3.5 with thinking on: the grammar applies after the thought, and the JSON lands whole in content", async () => {
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen35moe",
      temperature: 0,
      max_tokens: 64,
      enable_thinking: true,
      thinking_budget: 4,
      messages: [{ role: "user", content: "Pick a colour." }],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "answer",
          schema: {
            type: "object",
            properties: { colour: { enum: ["red", "green"] }, ok: { type: "boolean" } },
            required: ["colour", "ok"],
          },
        },
      },
    });
    const body = (await response.json()) as { choices: Array<{ message: { content: string; reasoning_content?: string } }> };
    const message = body.choices[0]!.message;
    expect(message.reasoning_content!.length).toBeGreaterThan(0);
    expect(JSON.parse(message.content)).toMatchObject({ ok: expect.any(Boolean) });
  });

  const numberSchema = { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false };
  const chatWithSchema = async (schema: Record<string, unknown>, extra: Record<string, unknown>) => {
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen3moe",
      max_tokens: 60,
      messages: [{ role: "user", content: "Give a." }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema } },
      ...extra,
    });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      choices: Array<{ message: { content: string }; finish_reason: string }>;
      usage: { completion_tokens: number };
    };
  };

  it("issue 14 item 3: the grammar applies with logprobs, and temperature 0 gives one output with or without logprobs", async () => {
    const validate = new Ajv({ strict: true }).compile(numberSchema);
    const contents = new Set<string>();
    for (const logprobs of [false, true, false, true]) {
      const body = await chatWithSchema(numberSchema, { temperature: 0, logprobs });
      const content = body.choices[0]!.message.content;
      expect(validate(JSON.parse(content))).toBe(true);
      contents.add(content);
    }
    expect(contents.size).toBe(1);
    // At temperature 1 too, with logprobs, whatever the seed.
    for (const seed of [1, 2, 3]) {
      const body = await chatWithSchema(numberSchema, { temperature: 1, seed, logprobs: true, top_logprobs: 2 });
      expect(validate(JSON.parse(body.choices[0]!.message.content))).toBe(true);
    }
  });

  it("issue 14 item 3: stop sequences do not apply inside a grammar-constrained answer", async () => {
    const object = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen3moe",
      temperature: 0,
      max_tokens: 60,
      stop: ["{"],
      messages: [{ role: "user", content: "Reply in JSON." }],
      response_format: { type: "json_object" },
    });
    expect(object.status).toBe(200);
    const objectBody = (await object.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }> };
    if (objectBody.choices[0]!.finish_reason === "stop") expect(typeof JSON.parse(objectBody.choices[0]!.message.content)).toBe("object");
    else expect(objectBody.choices[0]!.message.content.startsWith("{")).toBe(true);
    const schema = await chatWithSchema(numberSchema, { temperature: 0, stop: ['"', ":", "a"] });
    expect(JSON.parse(schema.choices[0]!.message.content)).toEqual({ a: expect.any(Number) });
  });

  it("issue 14 item 3: a schema without a top-level type allows any JSON value, and the answer ends after it", async () => {
    // Every type's values are bounded here, so that a random-weight model cannot write one forever (numbers are).
    const schemas = [
      { maxLength: 3, maxItems: 0, maxProperties: 0 },
      { properties: { a: { type: "boolean" } }, required: ["a"], maxLength: 4, items: { type: "null" }, maxItems: 2 },
    ];
    for (const schema of schemas) {
      const validate = new Ajv({ strict: false }).compile(schema);
      for (const extra of [
        { temperature: 0 },
        { temperature: 0, logprobs: true },
        { temperature: 1, seed: 1 },
        { temperature: 1, seed: 2 },
      ]) {
        const body = await chatWithSchema(schema, { ...extra, max_tokens: 100 });
        const content = body.choices[0]!.message.content;
        expect(body.choices[0]!.finish_reason).toBe("stop");
        expect(content).toBe(content.trim());
        expect(validate(JSON.parse(content))).toBe(true);
      }
    }
  });

  it("issue 14 item 2: a schema nested 5,000 deep is a 400 naming its param, in response_format and in tools", async () => {
    // Written as text: JSON.stringify itself overflows the stack at this depth.
    const deep = '{"type":"object","properties":{"a":'.repeat(5000) + '{"type":"string"}' + "}}".repeat(5000);
    const bodies = [
      `"response_format":{"type":"json_schema","json_schema":{"name":"deep","schema":${deep}}}`,
      `"tools":[{"type":"function","function":{"name":"f","parameters":${deep}}}]`,
    ];
    for (const body of bodies) {
      const response = await fetch(`${test.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"model":"tiny-qwen3moe","max_tokens":4,"messages":[{"role":"user","content":"Hi"}],${body}}`,
      });
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { param: string; type: string } };
      expect(error.type).toBe("invalid_request_error");
      expect(error.param).toBe(body.startsWith('"tools"') ? "tools[0].function.parameters" : "response_format.json_schema.schema");
    }
  });

  it("C18: logprobs without top_logprobs: one entry per completion token, empty top_logprobs", async () => {
    const completion = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      max_tokens: 5,
      logprobs: true,
      messages: [{ role: "user", content: "Hi!" }],
      ...({ enable_thinking: false } as {}),
    });
    const entries = completion.choices[0]!.logprobs!.content!;
    expect(entries).toHaveLength(completion.usage!.completion_tokens);
    for (const entry of entries) {
      expect(typeof entry.token).toBe("string");
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(Number.isFinite(entry.logprob)).toBe(true);
      expect(entry.bytes!.every((byte) => Number.isInteger(byte) && byte >= 0 && byte < 256)).toBe(true);
      expect(entry.top_logprobs).toEqual([]);
    }
    expect(Buffer.from(entries.flatMap((entry) => entry.bytes!)).toString("utf8")).toBe(completion.choices[0]!.message.content);
  });

  it("C18: top_logprobs 2 gives two alternatives sorted by logprob; top_p 0.3 stays finite; absent logprobs is null", async () => {
    for (const extra of [{}, { top_p: 0.3 }]) {
      const completion = await test.client.chat.completions.create({
        model: "tiny-qwen3moe",
        max_tokens: 5,
        logprobs: true,
        top_logprobs: 2,
        messages: [{ role: "user", content: "Hi!" }],
        ...extra,
        ...({ enable_thinking: false } as {}),
      });
      for (const entry of completion.choices[0]!.logprobs!.content!) {
        expect(entry.top_logprobs).toHaveLength(2);
        expect(entry.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(entry.top_logprobs[1]!.logprob);
        for (const alternative of entry.top_logprobs) expect(Number.isFinite(alternative.logprob)).toBe(true);
      }
    }
    const plain = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      max_tokens: 2,
      messages: [{ role: "user", content: "Hi!" }],
    });
    expect(plain.choices[0]!.logprobs).toBeNull();
    const error = (await test.client.chat.completions
      .create({ model: "tiny-qwen3moe", max_tokens: 2, logprobs: true, top_logprobs: 21, messages: [{ role: "user", content: "Hi!" }] })
      .catch((caught: unknown) => caught)) as APIError;
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("top_logprobs");
  });

  it("C18: logprobs stream with the content chunks", async () => {
    const stream = await test.client.chat.completions.create({
      model: "tiny-qwen3moe",
      max_tokens: 6,
      logprobs: true,
      top_logprobs: 1,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Hi!" }],
      ...({ enable_thinking: false } as {}),
    });
    let entries = 0;
    let completionTokens = 0;
    for await (const chunk of stream) {
      entries += chunk.choices[0]?.logprobs?.content?.length ?? 0;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    expect(entries).toBe(completionTokens);
  });

  it("C32: embeddings accept a string, strings, token ids and token-id lists, in order, float or base64", async () => {
    const dimensions = 64;
    const tokenLists = await test.client.embeddings.create({
      model: "tiny-qwen3moe",
      input: [[15339, 1917]],
      encoding_format: "base64" as "float",
    });
    expect(tokenLists.usage.prompt_tokens).toBe(2);
    const raw = (await (
      await postJson(`${test.url}/v1/embeddings`, { model: "tiny-qwen3moe", input: [[15339, 1917]], encoding_format: "base64" })
    ).json()) as { data: Array<{ embedding: string; index: number }> };
    expect(Buffer.from(raw.data[0]!.embedding, "base64").length).toBe(4 * dimensions);
    const forms: Array<[string | string[] | number[], number]> = [
      ["hello world", 1],
      [["a", "b", "c"], 3],
      [[15339, 1917], 1],
    ];
    for (const [input, count] of forms) {
      const response = await test.client.embeddings.create({ model: "tiny-qwen3moe", input, encoding_format: "float" });
      expect(response.data).toHaveLength(count);
      response.data.forEach((item, index) => {
        expect(item.index).toBe(index);
        expect(item.embedding).toHaveLength(dimensions);
      });
    }
    // The SDK asks for base64 by default and decodes it: the vectors must match the float ones.
    const viaBase64 = await test.client.embeddings.create({ model: "tiny-qwen3moe", input: "hello world" });
    const viaFloat = await test.client.embeddings.create({ model: "tiny-qwen3moe", input: "hello world", encoding_format: "float" });
    expect(viaBase64.data[0]!.embedding).toEqual(viaFloat.data[0]!.embedding.map((value) => Math.fround(value)));
  });

  it("a large embeddings response (written in slices) holds the same vectors as small ones, float and base64", async () => {
    // 1,100 vectors of 64 floats: above the 65,536 floats from which the response is serialised a slice at a time.
    const input = Array.from({ length: 1100 }, (_, index) => `item ${index % 3}`);
    for (const encoding_format of ["float", "base64"] as const) {
      const large = await test.client.embeddings.create({ model: "tiny-qwen3moe", input, encoding_format });
      const small = await test.client.embeddings.create({ model: "tiny-qwen3moe", input: input.slice(0, 3), encoding_format });
      expect(large.data).toHaveLength(1100);
      expect(large.data.map((item) => item.index)).toEqual(input.map((_, index) => index));
      expect(large.data[1099]!.embedding).toEqual(small.data[1099 % 3]!.embedding);
      expect(large.usage.prompt_tokens).toBeGreaterThan(1100);
    }
  });

  it("C32: empty input, an out-of-vocabulary id, an overlong input and unsupported dimensions are 400s", async () => {
    const cases: unknown[] = [
      { input: "" },
      { input: [] },
      { input: [[999999999]] },
      { input: "word ".repeat(3000) },
      { input: "hi", dimensions: 32 },
    ];
    for (const body of cases) {
      const response = await postJson(`${test.url}/v1/embeddings`, { model: "tiny-qwen3moe", ...(body as object) });
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { type: string; message: string } };
      expect(error.type).toBe("invalid_request_error");
    }
  });
});
