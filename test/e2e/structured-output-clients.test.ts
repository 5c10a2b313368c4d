import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, Output } from "ai";
import { Ajv2020 } from "ajv/dist/2020.js";
import { zodResponseFormat } from "openai/helpers/zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";

// What zod 4 writes for these: `z.number().int()` carries the safe-integer bounds (minimum -9007199254740991, maximum
// 9007199254740991), `z.string().email()` a `format` and a `pattern` with lookaheads, `z.uuid()` and `z.iso.*` a
// `format` and a `pattern`. Before issue 18 each was a 400 ("The JSON schema keyword 'minimum' ... cannot be
// enforced while decoding"). Every string is bounded so that a random-weight model cannot write one for ever.
const Person = z.object({
  name: z.string().min(2).max(5),
  age: z.number().int(),
  rating: z.number().int().min(1).max(5),
  score: z.number().min(0).max(1),
  email: z.string().email(),
  id: z.uuid(),
  born: z.iso.date(),
  role: z.enum(["admin", "user", "guest"]),
  tags: z.array(z.string().max(4)).min(1).max(3),
  address: z.object({ city: z.string().max(8), zip: z.string().regex(/^\d{5}$/) }),
  nickname: z.string().max(6).nullable().optional(),
});

describe.skipIf(!hasTestModels).each(testEngines)(
  "structured output from the official clients' zod schemas (issue 18, %s engine)",
  (engine) => {
    let test: TestServer;

    beforeAll(async () => {
      test = await startTestServer(
        { models: [{ path: testModelPath("tiny-qwen3moe.gguf") }], engine: { contextTokens: 2048, batchSize: 64, parallel: 1 } },
        { engine },
      );
    });
    afterAll(async () => {
      await test?.close();
    });

    it("openai chat.completions.parse with zodResponseFormat (zod/v4: int, email, min/max, arrays, enums, nesting, optional) parses, 2 runs", async () => {
      for (let run = 0; run < 2; run++) {
        const completion = await test.client.chat.completions.parse({
          model: "tiny-qwen3moe",
          temperature: 1,
          seed: run,
          max_tokens: 400,
          messages: [{ role: "user", content: "Describe a person." }],
          response_format: zodResponseFormat(Person, "person"),
        });
        // parse() has run zod's own parse on the content: email, uuid, date, regex, bounds and lengths all hold.
        const person = completion.choices[0]!.message.parsed!;
        expect(Person.parse(person)).toEqual(person);
        expect(Number.isSafeInteger(person.age)).toBe(true);
        expect(person.rating).toBeGreaterThanOrEqual(1);
        expect(person.rating).toBeLessThanOrEqual(5);
      }
    });

    it("the Vercel ai SDK's generateText with Output.object and generateObject, through @ai-sdk/openai .chat, return the object", async () => {
      const provider = createOpenAI({ baseURL: `${test.url}/v1`, apiKey: "unused" });
      const model = provider.chat("tiny-qwen3moe");
      const Order = z.object({
        item: z.string().min(1).max(6),
        quantity: z.number().int().positive(),
        contact: z.string().email(),
        express: z.boolean().optional(),
      });
      const { output } = await generateText({
        model,
        temperature: 1,
        seed: 1,
        maxOutputTokens: 300,
        maxRetries: 0,
        output: Output.object({ schema: Order }),
        prompt: "Order something.",
      });
      expect(Order.parse(output)).toEqual(output);
      expect(output.quantity).toBeGreaterThan(0);
      const { object } = await generateObject({
        model,
        temperature: 1,
        seed: 2,
        maxOutputTokens: 300,
        maxRetries: 0,
        schema: Order,
        prompt: "Order something.",
      });
      expect(Order.parse(object)).toEqual(object);
    });

    it("tool parameters from zod/v4 (int bounds, email, uuid) are enforced the same as response_format", async () => {
      const parameters = z.toJSONSchema(z.object({ count: z.number().int().min(10).max(20), to: z.string().email(), ref: z.uuid() }));
      const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(parameters);
      for (let run = 0; run < 3; run++) {
        const completion = await test.client.chat.completions.create({
          model: "tiny-qwen3moe",
          temperature: 1,
          seed: run,
          max_tokens: 200,
          messages: [{ role: "user", content: "Send it." }],
          tools: [{ type: "function", function: { name: "send", parameters } }],
          tool_choice: "required",
        });
        const call = completion.choices[0]!.message.tool_calls![0]!;
        const args = JSON.parse((call as { function: { arguments: string } }).function.arguments);
        expect(validate(args), JSON.stringify(args)).toBe(true);
        expect(args.count).toBeGreaterThanOrEqual(10);
        expect(args.count).toBeLessThanOrEqual(20);
      }
    });

    it("keywords that can neither be enforced nor checked are still a 400 naming the keyword and its path", async () => {
      const cases: Array<[unknown, string]> = [
        [{ type: "object", properties: { a: { type: "string", format: "color" } }, required: ["a"] }, "'color' at #/properties/a/format"],
        [{ type: "object", properties: { a: { type: "integer", not: { const: 3 } } }, required: ["a"] }, "'not' at #/properties/a/not"],
        [{ type: "object", properties: { a: { type: "integer", minimum: 5, maximum: 4 } }, required: ["a"] }, "no integer"],
      ];
      for (const [schema, fragment] of cases) {
        const response = await postJson(`${test.url}/v1/chat/completions`, {
          model: "tiny-qwen3moe",
          max_tokens: 20,
          messages: [{ role: "user", content: "x" }],
          response_format: { type: "json_schema", json_schema: { name: "x", schema } },
        });
        expect(response.status, JSON.stringify(schema)).toBe(400);
        const { error } = (await response.json()) as { error: { param: string; message: string } };
        expect(error.param.startsWith("response_format")).toBe(true);
        expect(error.message).toContain(fragment);
      }
    });
  },
);
