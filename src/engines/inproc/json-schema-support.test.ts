import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gbnfExpressionToRegExp } from "../../../test/helpers/gbnf-regexp.js";
import { SchemaValidator } from "../../api/serving/schema-validator.js";
import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest } from "../../spec/index.js";
import {
  annotationKeywords,
  leafGrammarMarker,
  maxSchemaNestingLevels,
  prepareSchemaForGrammar,
  substituteLeafGrammars,
} from "./json-schema-support.js";

// Case ids in test names (C20…) are the compatibility cases listed in docs/compat-cases.md.
describe("prepareSchemaForGrammar", () => {
  it("keeps enforceable keywords, drops annotations, and spells anyOf as oneOf", () => {
    const schema = {
      $schema: "x",
      title: "T",
      type: "object",
      properties: { a: { anyOf: [{ type: "string", maxLength: 3, description: "d" }, { type: "null" }] } },
      required: ["a"],
    };
    expect(prepareSchemaForGrammar(schema, "response_format")).toEqual({
      type: "object",
      properties: { a: { oneOf: [{ type: "string", maxLength: 3 }, { type: "null" }] } },
      required: ["a"],
    });
  });

  it("refuses keywords that can neither be enforced nor checked, naming the keyword and its path (C20, issue 18)", () => {
    const schema = { type: "object", properties: { code: { type: "string", not: { const: "x" } } } };
    expect(() => prepareSchemaForGrammar(schema, "response_format")).toThrow(MoestroError);
    expect(() => prepareSchemaForGrammar(schema, "response_format")).toThrow(
      "The JSON schema keyword 'not' at #/properties/code/not can neither be enforced while decoding nor checked after it",
    );
    for (const keyword of ["allOf", "if", "patternProperties", "dependentSchemas", "contains"]) {
      expect(() => prepareSchemaForGrammar({ type: "object", [keyword]: {} }, "p")).toThrow(`'${keyword}' at #/${keyword}`);
    }
    expect(() => prepareSchemaForGrammar({ type: "string", format: "color" }, "p")).toThrow(
      "The string format 'color' at #/format can neither be enforced nor checked (supported: date, time, date-time",
    );
  });

  it("issue 18: integer bounds, patterns and formats become moestro's GBNF leaves; checked-only keywords are dropped", () => {
    const leafOf = (schema: Record<string, unknown>) => {
      const prepared = prepareSchemaForGrammar(schema, "p");
      const marker = String(prepared.const);
      expect(marker.startsWith(leafGrammarMarker)).toBe(true);
      return Buffer.from(marker.slice(leafGrammarMarker.length), "base64url").toString();
    };
    expect(leafOf({ type: "integer", minimum: 1, maximum: 5 })).toBe("[1-5]");
    expect(leafOf({ type: "integer", exclusiveMinimum: 0, maximum: 20 })).toBe('[1-9] | ([1] [0-9] | [2] ("0"))');
    expect(leafOf({ type: "string", pattern: "^a+$" })).toBe('"\\"" (("a")+) "\\""');
    expect(leafOf({ type: "string", format: "date" })).toContain('"02-"');
    // zod's email pattern has lookaheads: the email format's grammar stands in, and the output check holds the pattern.
    expect(leafOf({ type: "string", format: "email", pattern: "^(?!\\.)[a-z]+@[a-z]+\\.[a-z]{2,}$" })).toContain('"@"');
    expect(prepareSchemaForGrammar({ type: "number", multipleOf: 0.5 }, "p")).toEqual({ type: "number" });
    expect(prepareSchemaForGrammar({ type: "array", items: { type: "string" }, uniqueItems: true }, "p")).toEqual({
      type: "array",
      items: { type: "string" },
    });
    expect(prepareSchemaForGrammar({ type: "string", format: "uri", maxLength: 9 }, "p")).toEqual({ type: "string", maxLength: 9 });
    expect(prepareSchemaForGrammar({ type: "number", maximum: 3 }, "p")).toEqual({ type: "number" });
    // A list of types: each branch gets its type's keywords, and its leaf.
    const split = prepareSchemaForGrammar({ type: ["integer", "null"], minimum: 0, maximum: 9 }, "p");
    expect((split.oneOf as Array<Record<string, unknown>>)[1]).toEqual({ type: "null" });
    expect(String((split.oneOf as Array<Record<string, unknown>>)[0]!.const).startsWith(leafGrammarMarker)).toBe(true);
  });

  it("issue 18: every number the bounded-number grammars admit meets its bounds (property: zod's number helpers)", () => {
    const ajv = new Ajv2020({ strict: false });
    for (const bounds of [
      { minimum: 0, maximum: 1 },
      { minimum: 3, maximum: 250 },
      { exclusiveMinimum: 0 },
      { exclusiveMaximum: 0 },
      { maximum: 0 },
      { minimum: 0 },
    ]) {
      const schema = { type: "number", ...bounds };
      const prepared = prepareSchemaForGrammar(schema, "p");
      const grammar = Buffer.from(String(prepared.const).slice(leafGrammarMarker.length), "base64url").toString();
      const validate = ajv.compile(schema);
      fc.assert(
        fc.property(fc.stringMatching(gbnfExpressionToRegExp(grammar)), (text) => {
          expect(validate(JSON.parse(text)), `${text} against ${JSON.stringify(bounds)}`).toBe(true);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("issue 18: substituteLeafGrammars puts each leaf's GBNF where node-llama-cpp's converter wrote its literal", () => {
    const prepared = prepareSchemaForGrammar({ type: "integer", minimum: 1, maximum: 5 }, "p");
    const converted = `root ::= val0\nval0 ::= "\\"${String(prepared.const)}\\""`;
    expect(substituteLeafGrammars(converted)).toBe("root ::= val0\nval0 ::= ([1-5])");
    expect(() => prepareSchemaForGrammar({ enum: ["a", `${leafGrammarMarker}Wy0n`] }, "p")).toThrow("reserves for its own grammar");
    expect(substituteLeafGrammars('root ::= "\\"x\\""')).toBe('root ::= "\\"x\\""');
  });

  it("reads a schema without type as any JSON value, and a list of types as one branch per type with its keywords", () => {
    expect(prepareSchemaForGrammar({ description: "anything" }, "p")).toEqual({
      oneOf: [
        { type: "object", additionalProperties: true },
        { type: "array" },
        { type: "string" },
        { type: "number" },
        { type: "boolean" },
        { type: "null" },
      ],
    });
    const split = prepareSchemaForGrammar({ properties: { a: {} }, maxLength: 2, $defs: { d: { type: "string" } } }, "p");
    expect(split.$defs).toEqual({ d: { type: "string" } });
    expect((split.oneOf as unknown[])[0]).toEqual({ type: "object", properties: { a: prepareSchemaForGrammar({}, "p") } });
    expect((split.oneOf as unknown[])[2]).toEqual({ type: "string", maxLength: 2 });
    expect(prepareSchemaForGrammar({ type: ["object", "null"], properties: {} }, "p")).toEqual({
      oneOf: [{ type: "object", properties: {} }, { type: "null" }],
    });
    expect(prepareSchemaForGrammar({ type: ["integer"] }, "p")).toEqual({ type: "integer" });
    expect(() => prepareSchemaForGrammar({ type: ["text"] }, "p")).toThrow("'text'".replaceAll("'", '"'));
  });

  it("refuses a schema nested deeper than the bound with a 400 naming the param, without overflowing the stack", () => {
    let deep: Record<string, unknown> = { type: "string" };
    for (let level = 0; level < 5000; level++) deep = { type: "object", properties: { a: deep } };
    const error = (() => {
      try {
        prepareSchemaForGrammar(deep, "tools[0].function.parameters");
      } catch (caught) {
        return caught as MoestroError;
      }
    })();
    expect(error).toBeInstanceOf(MoestroError);
    expect(error).toMatchObject({ code: "invalid_request", status: 400, param: "tools[0].function.parameters" });
    // Each level of properties is two levels of JSON: exactly at the bound passes, one level more is refused.
    let fine: Record<string, unknown> = { type: "object", properties: {} };
    for (let level = 0; level < (maxSchemaNestingLevels - 2) / 2; level++) fine = { type: "object", properties: { a: fine } };
    expect(() => prepareSchemaForGrammar(fine, "p")).not.toThrow();
    expect(() => prepareSchemaForGrammar({ type: "array", items: fine }, "p")).toThrow(MoestroError);
  });

  it("accepts what the API layer lets through: each annotation anywhere, and definitions as $defs", () => {
    const params = { responseFormat: "response_format", toolParameters: (index: number) => `tools[${index}]` };
    const check = (schema: Record<string, unknown>) => {
      new SchemaValidator().checkRequest({ responseFormat: { type: "json_schema", schema } } as unknown as GenerateRequest, params);
      return prepareSchemaForGrammar(schema, "response_format");
    };
    const values: Record<string, unknown> = { deprecated: true, readOnly: true, writeOnly: false, $anchor: "here" };
    for (const keyword of ["deprecated", "readOnly", "writeOnly", "$anchor"]) {
      expect(annotationKeywords.has(keyword)).toBe(true);
      const schema = { type: "object", properties: { a: { type: "string", [keyword]: values[keyword] } }, required: ["a"] };
      expect(check({ ...schema, [keyword]: values[keyword] })).toEqual({
        type: "object",
        properties: { a: { type: "string" } },
        required: ["a"],
      });
    }
    const withDefinitions = {
      type: "object",
      properties: { a: { $ref: "#/definitions/word" }, b: { $ref: "#/$defs/flag" } },
      required: ["a", "b"],
      definitions: { word: { type: "string", maxLength: 5 } },
      $defs: { flag: { type: "boolean" } },
    };
    expect(check(withDefinitions)).toEqual({
      type: "object",
      properties: { a: { $ref: "#/$defs/word" }, b: { $ref: "#/$defs/flag" } },
      required: ["a", "b"],
      $defs: { word: { type: "string", maxLength: 5 }, flag: { type: "boolean" } },
    });
  });

  it("refuses a $ref the grammar would read as any value, and a name defined in both $defs and definitions", () => {
    for (const ref of ["#", "#/properties/a", "#here", "#/$defs/a/properties/b", "https://example.com/s.json"]) {
      const schema = { type: "object", properties: { a: { type: "string" }, b: { $ref: ref } }, $defs: { a: { type: "string" } } };
      expect(() => prepareSchemaForGrammar(schema, "p")).toThrow(`at #/properties/b/$ref cannot be enforced`);
    }
    const twice = { $ref: "#/$defs/a", $defs: { a: { type: "string" } }, definitions: { a: { type: "integer" } } };
    expect(() => prepareSchemaForGrammar(twice, "p")).toThrow("defines 'a' in both $defs and definitions");
  });
});
