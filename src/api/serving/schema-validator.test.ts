import { Ajv2020 } from "ajv/dist/2020.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest } from "../../spec/index.js";
import { SchemaValidator } from "./schema-validator.js";

const params = {
  responseFormat: "response_format.json_schema.schema",
  toolParameters: (index: number) => `tools[${index}].function.parameters`,
};

/** A request whose structured-output schema is `schema`. */
const withSchema = (schema: unknown) =>
  ({ responseFormat: { type: "json_schema", schema }, messages: [], sampling: {} }) as unknown as GenerateRequest;

/** The error `checkRequest` throws for `schema`, or `undefined` when it accepts it. */
function refusal(schema: unknown): MoestroError | undefined {
  try {
    new SchemaValidator().checkRequest(withSchema(schema), params);
    return undefined;
  } catch (error) {
    if (!(error instanceof MoestroError)) throw error;
    return error;
  }
}

const integer = { type: "integer" };

describe("SchemaValidator.checkRequest: schemas structured output cannot satisfy (issue 14 item 3)", () => {
  // Each compiles with Ajv, and each made the grammar write an answer that broke it: 500 invalid_model_output.
  const unsatisfiable: Array<[string, unknown, string]> = [
    [
      "required names an unlisted property",
      { type: "object", properties: { a: integer }, required: ["a", "b"] },
      "'required' at # names 'b'",
    ],
    ["required without properties", { type: "object", required: ["b"] }, "'required' at # names 'b'"],
    [
      "required names an unlisted property, other properties allowed",
      { type: "object", properties: { a: integer }, required: ["b", "c"], additionalProperties: true },
      "names 'b', 'c', which 'properties' does not list",
    ],
    [
      "required in a nested object",
      { type: "object", properties: { o: { type: "object", properties: { a: integer }, required: ["z"] } } },
      "'required' at #/properties/o names 'z'",
    ],
    ["required in a $defs entry", { $ref: "#/$defs/x", $defs: { x: { type: "object", required: ["q"] } } }, "at #/$defs/x names 'q'"],
    ["minLength above maxLength", { type: "string", minLength: 3, maxLength: 1 }, "'minLength' (3) at # is above 'maxLength' (1)"],
    ["minItems above maxItems", { type: "array", items: integer, minItems: 3, maxItems: 1 }, "'minItems' (3)"],
    [
      "minProperties above maxProperties",
      { type: "object", additionalProperties: true, minProperties: 3, maxProperties: 1 },
      "'minProperties' (3)",
    ],
    [
      "maxProperties below the listed properties",
      { type: "object", properties: { a: integer, b: integer }, maxProperties: 1 },
      "below the 2 listed",
    ],
    [
      "minProperties above the listed properties, no others allowed",
      { type: "object", properties: { a: integer }, minProperties: 3 },
      "above the 1 listed",
    ],
    ["minProperties with additionalProperties false", { type: "object", additionalProperties: false, minProperties: 1 }, "is false"],
    [
      "maxItems below the prefixItems",
      { type: "array", prefixItems: [integer, integer], maxItems: 1 },
      "below the 2 entries of 'prefixItems'",
    ],
    ["items false past the prefix", { type: "array", prefixItems: [integer], items: false }, "'maxItems' is 1"],
    ["items false with minItems", { type: "array", items: false, minItems: 1 }, "'items' at # is false"],
    [
      "a property that is the schema false",
      { type: "object", properties: { a: false } },
      "the property 'a' at #/properties is the schema false",
    ],
    [
      "a prefixItems entry that is false",
      { type: "array", prefixItems: [integer, false], maxItems: 2 },
      "#/prefixItems/1 is the schema false",
    ],
    ["an anyOf branch that is false", { anyOf: [integer, false] }, "#/anyOf/1 is the schema false"],
    ["constraints beside anyOf", { type: "string", anyOf: [{ maxLength: 3 }, { minLength: 10 }] }, "'anyOf' at # has 'type' beside it"],
    ["constraints beside oneOf", { type: "object", properties: { a: integer }, oneOf: [{ required: ["a"] }] }, "'type', 'properties'"],
    ["constraints beside $ref", { $ref: "#/$defs/x", type: "string", $defs: { x: integer } }, "'$ref' at # has 'type' beside it"],
    ["a const of another type", { type: "string", const: 5 }, "the 'const' 5 at #/const breaks the keywords beside it (must be string)"],
    ["an enum member of another type", { type: "string", enum: ["a", 1] }, "'enum' member 1 at #/enum/1"],
    ["an enum member too long", { type: "string", enum: ["ab", "abcdef"], maxLength: 2 }, "'enum' member \"abcdef\" at #/enum/1"],
    [
      "an enum member outside a property's type",
      { type: "object", properties: { "a/b": { type: "boolean", enum: [true, "x"] } } },
      "#/properties/a~1b/enum/1",
    ],
  ];

  it.each(unsatisfiable)("refuses %s with a 400 naming the param and the keyword's path", (_name, schema, fragment) => {
    const error = refusal(schema);
    expect(error).toBeDefined();
    expect(error!.code).toBe("invalid_request");
    expect(error!.status).toBe(400);
    expect(error!.param).toBe("response_format.json_schema.schema");
    expect(error!.message).toContain("cannot be satisfied by structured output");
    expect(error!.message).toContain(fragment);
  });

  it("names the tool whose parameters cannot be satisfied", () => {
    const request = {
      messages: [],
      sampling: {},
      tools: {
        definitions: [
          { name: "f", parameters: { type: "object" } },
          { name: "g", parameters: { type: "object", required: ["x"] } },
        ],
      },
    } as unknown as GenerateRequest;
    expect(() => new SchemaValidator().checkRequest(request, params)).toThrow(
      expect.objectContaining({ param: "tools[1].function.parameters", message: expect.stringContaining("names 'x'") }),
    );
  });

  // What generators write (pydantic, zod), and limits the grammar keeps.
  const satisfiable: Array<[string, unknown]> = [
    ["required naming listed properties", { type: "object", properties: { a: integer, b: integer }, required: ["a"] }],
    [
      "an optional field as pydantic writes it",
      { type: "object", properties: { a: { anyOf: [integer, { type: "null" }], default: null, title: "A" } } },
    ],
    ["a $ref with a description", { type: "object", properties: { a: { $ref: "#/$defs/x", description: "d" } }, $defs: { x: integer } }],
    ["a tuple closed by maxItems", { type: "array", prefixItems: [integer, { type: "string" }], items: false, minItems: 2, maxItems: 2 }],
    ["enum members of the declared types", { type: ["string", "null"], enum: ["a", null] }],
    ["required on a schema that is not an object", { type: "string", required: ["a"] }],
    [
      "minProperties with other properties allowed",
      { type: "object", properties: { a: integer }, additionalProperties: integer, minProperties: 2 },
    ],
    ["an untyped schema with minProperties", { minProperties: 1 }],
    ["a property named oneOf", { type: "object", properties: { oneOf: integer }, required: ["oneOf"] }],
    ["a property named __proto__", JSON.parse('{"type":"object","properties":{"__proto__":{"type":"integer"}},"required":["__proto__"]}')],
  ];

  it.each(satisfiable)("accepts %s", (_name, schema) => {
    expect(refusal(schema)).toBeUndefined();
  });

  it("reads a draft-07 tuple (items as a list) as invalid: JSON Schema 2020-12, the grammar's draft", () => {
    const error = refusal({ type: "array", items: [integer, { type: "string" }] });
    expect(error?.message).toContain("is invalid: schema is invalid: data/items must be object,boolean.");
  });
});

describe("SchemaValidator.checkRequest: the output check it returns", () => {
  const check = (schema: unknown) => new SchemaValidator().checkRequest(withSchema(schema), params);

  it("checks oneOf as anyOf: an answer that matches two branches passes, one that matches none does not", () => {
    const output = check({ oneOf: [{ type: "number" }, { type: "integer" }] });
    expect(() => output.answer("3")).not.toThrow();
    expect(() => output.answer('"x"')).toThrow(expect.objectContaining({ code: "invalid_model_output" }));
  });

  it("reads prefixItems and items as JSON Schema 2020-12 does: items after the prefix", () => {
    const output = check({ type: "array", prefixItems: [{ type: "string" }], items: { type: "integer" } });
    expect(() => output.answer('["x", 1, 2]')).not.toThrow();
    expect(() => output.answer('["x", "y"]')).toThrow(expect.objectContaining({ message: expect.stringContaining("/1 must be integer") }));
  });
});

describe("SchemaValidator: what issue 18 checks after decoding, and the number ranges it refuses", () => {
  const check = (schema: unknown) => new SchemaValidator().checkRequest(withSchema(schema), params);
  const invalid = (fragment: string) =>
    expect.objectContaining({ code: "invalid_model_output", message: expect.stringContaining(fragment) });

  it("checks number bounds, multipleOf, uniqueItems, patterns and formats on the finished answer", () => {
    expect(() => check({ type: "number", minimum: 0, maximum: 1 }).answer("0.5")).not.toThrow();
    expect(() => check({ type: "number", minimum: 0, maximum: 1 }).answer("1.5")).toThrow(invalid("must be <= 1"));
    expect(() => check({ type: "number", multipleOf: 0.5 }).answer("0.7")).toThrow(invalid("multiple of 0.5"));
    expect(() => check({ type: "array", uniqueItems: true }).answer("[1, 1]")).toThrow(invalid("duplicate items"));
    expect(() => check({ type: "string", pattern: "^(?!x)[a-z]+$" }).answer('"xa"')).toThrow(invalid("must match pattern"));
    expect(() => check({ type: "string", format: "email" }).answer('"a@b.io"')).not.toThrow();
    expect(() => check({ type: "string", format: "email" }).answer('"nope"')).toThrow(invalid('must match format "email"'));
    expect(() => check({ type: "string", format: "date" }).answer('"2023-02-29"')).toThrow(invalid('format "date"'));
    expect(() => check({ type: "string", format: "uri" }).answer('"https://a.io"')).not.toThrow();
  });

  it("refuses number bounds that no value meets, naming them and their path", () => {
    expect(refusal({ type: "object", properties: { a: { type: "integer", minimum: 1.2, maximum: 1.8 } } })?.message).toBe(
      "The JSON schema in 'response_format.json_schema.schema' cannot be satisfied by structured output: no integer of at most 16 digits meets 'minimum' (1.2), 'maximum' (1.8) at #/properties/a.",
    );
    expect(refusal({ type: "number", exclusiveMinimum: 2, maximum: 2 })?.message).toContain(
      "no number meets 'exclusiveMinimum' (2), 'maximum' (2) at #",
    );
    expect(refusal({ type: "number", minimum: 3, maximum: 2 })?.param).toBe("response_format.json_schema.schema");
    // zod 4's z.number().int() and .positive(): fine.
    expect(refusal({ type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 })).toBeUndefined();
    expect(refusal({ type: "integer", exclusiveMinimum: 0, maximum: 9007199254740991 })).toBeUndefined();
  });
});

describe("SchemaValidator's cache", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("compiles a schema sent again once, and keeps it while the shape check compiles hundreds of enum subschemas", () => {
    const compile = vi.spyOn(Ajv2020.prototype, "compile");
    const validator = new SchemaValidator();
    const kept = { type: "object", properties: { a: { type: "string" } }, required: ["a"] };
    validator.checkRequest(withSchema(kept), params);
    const compiled = compile.mock.calls.length;
    expect(compiled).toBeGreaterThan(0);
    validator.checkRequest(withSchema(kept), params);
    expect(compile.mock.calls.length).toBe(compiled);
    // 100 other schemas, each with 3 enums whose sibling keywords the shape check compiles: 400 compilations in all.
    for (let index = 0; index < 100; index++) {
      const property = (bound: number) => ({ type: "string", maxLength: index * 10 + bound, enum: ["x"] });
      validator.checkRequest(withSchema({ type: "object", properties: { b: property(1), c: property(2), d: property(3) } }), params);
    }
    const before = compile.mock.calls.length;
    expect(before).toBeGreaterThanOrEqual(compiled + 400);
    const output = validator.checkRequest(withSchema(kept), params);
    expect(compile.mock.calls.length).toBe(before);
    expect(() => output.answer('{"a": "x"}')).not.toThrow();
    expect(compile.mock.calls.length).toBe(before);
  });
});
