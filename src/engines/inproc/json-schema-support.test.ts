import { describe, expect, it } from "vitest";
import { MoestroError } from "../../errors/index.js";
import { prepareSchemaForGrammar } from "./json-schema-support.js";

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

  it("refuses keywords the grammar cannot enforce, naming their path (C20)", () => {
    const schema = { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]+$" } } };
    expect(() => prepareSchemaForGrammar(schema, "response_format")).toThrow(MoestroError);
    expect(() => prepareSchemaForGrammar(schema, "response_format")).toThrow("#/properties/code/pattern");
    expect(() => prepareSchemaForGrammar({ type: "integer", minimum: 0 }, "p")).toThrow("minimum");
    expect(() => prepareSchemaForGrammar({ type: "string", format: "email" }, "p")).toThrow("email");
  });
});
