import { MoestroError } from "../../errors/index.js";

/**
 * JSON-schema keywords that node-llama-cpp 3.21.1's grammar converter enforces (its `GbnfJsonSchema` type).
 * `required` is accepted because the converter generates every listed property. `definitions` (draft 7's name of
 * `$defs`) is accepted and renamed `$defs`.
 */
const enforcedKeywords = new Set([
  "type",
  "const",
  "enum",
  "oneOf",
  "anyOf",
  "properties",
  "additionalProperties",
  "minProperties",
  "maxProperties",
  "required",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "format",
  "$defs",
  "definitions",
  "$ref",
]);

/**
 * Annotations: keywords that constrain nothing (JSON Schema 2020-12's meta-data and core vocabularies, plus OpenAI's
 * `strict` and `name`), allowed anywhere in a schema and dropped before it becomes a grammar. The API layer's schema
 * check allows the same ones (`schema-shape-check.ts`), so that a schema it lets through is not refused here.
 */
export const annotationKeywords: ReadonlySet<string> = new Set([
  "title",
  "description",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$schema",
  "$id",
  "$comment",
  "$anchor",
  "strict",
  "name",
]);
const supportedFormats = new Set(["date-time", "time", "date"]);

/**
 * The deepest JSON nesting of a schema (objects and arrays, the schema object itself at level 1) turned into a grammar.
 * A backstop: the API layer refuses schemas nested deeper than 64 levels before a model is involved (docs/api.md);
 * this bound keeps the recursive rewrite below, node-llama-cpp's recursive converter and `JSON.stringify` off the
 * stack limit (a schema nested 5,000 deep overflowed it) whoever calls the engine.
 */
export const maxSchemaNestingLevels = 128;

/** The keywords that apply to each JSON type, for splitting a schema of several types into one branch per type. */
const typeKeywords: Record<string, readonly string[]> = {
  object: ["properties", "additionalProperties", "minProperties", "maxProperties", "required"],
  array: ["items", "prefixItems", "minItems", "maxItems"],
  string: ["minLength", "maxLength", "format"],
};
const jsonTypes = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
/** What a schema without `type` allows: any JSON value (JSON Schema; `integer` is within `number`). */
const anyType = ["object", "array", "string", "number", "boolean", "null"];

/**
 * Checks that every keyword of `schema` can be enforced by the decoding grammar, and rewrites `anyOf` to `oneOf` (the
 * converter's spelling; for generation the two mean the same: one branch is produced) and `definitions` to `$defs`
 * (with the `$ref`s into it). Keywords the grammar cannot enforce (`pattern`, `minimum`, `maximum`, `multipleOf`,
 * `not`, `allOf`, `if`…) are refused rather than silently ignored (a schema that cannot be compiled must not fail
 * open), and so is a `$ref` other than `#/$defs/NAME` (or `#/definitions/NAME`), which the converter would read as
 * any JSON value.
 *
 * A schema that allows several types (a list of types, or no `type` at all, which JSON Schema reads as any value)
 * becomes a `oneOf` of one branch per type carrying that type's keywords: node-llama-cpp's converter reads a missing
 * type as `null` only, and a list of types only for its scalar types. An untyped object branch without `properties`
 * allows any object.
 *
 * @param param the request field to name in errors (`response_format`, `tools[0].function.parameters`).
 * @returns a copy of the schema, ready for `llama.createGrammarForJsonSchema`.
 * @throws {MoestroError} `unsupported_parameter` (400) whose message names the keyword and its path in the schema.
 * @throws {MoestroError} `invalid_request` (400) when the schema is not an object, or is nested deeper than
 *   {@link maxSchemaNestingLevels}; `param` names the request field.
 */
export function prepareSchemaForGrammar(schema: unknown, param: string): Record<string, unknown> {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new MoestroError("invalid_request", `The JSON schema at '${param}' must be an object.`, { param });
  }
  if (exceedsNesting(schema, maxSchemaNestingLevels)) {
    throw new MoestroError(
      "invalid_request",
      `The JSON schema at '${param}' is nested more than ${maxSchemaNestingLevels} levels deep; flatten it or use $defs and $ref.`,
      { param },
    );
  }
  return rewrite(schema as Record<string, unknown>, "#", param);
}

/** Whether `value` nests objects and arrays deeper than `levels`, measured without recursion. */
function exceedsNesting(value: object, levels: number): boolean {
  const stack: Array<{ value: object; level: number }> = [{ value, level: 1 }];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    if (entry.level > levels) return true;
    for (const child of Object.values(entry.value)) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, level: entry.level + 1 });
    }
  }
  return false;
}

function rewrite(schema: Record<string, unknown>, path: string, param: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (annotationKeywords.has(key)) continue;
    if (!enforcedKeywords.has(key)) {
      throw new MoestroError(
        "unsupported_parameter",
        `The JSON schema keyword '${key}' at ${path}/${key} cannot be enforced while decoding; remove it (supported: ${[...enforcedKeywords].join(", ")}).`,
        { param },
      );
    }
    if (key === "format" && !supportedFormats.has(String(value))) {
      throw new MoestroError(
        "unsupported_parameter",
        `The string format '${String(value)}' at ${path}/format cannot be enforced (supported: ${[...supportedFormats].join(", ")}).`,
        { param },
      );
    }
    const outKey = key === "anyOf" ? "oneOf" : key === "definitions" ? "$defs" : key;
    if ((key === "properties" || key === "$defs" || key === "definitions") && isObject(value)) {
      const rewritten = Object.entries(value).map(([name, child]) => {
        if (key !== "properties" && result.$defs !== undefined && Object.hasOwn(result.$defs as object, name)) {
          throw new MoestroError(
            "unsupported_parameter",
            `The JSON schema at ${path} defines '${name}' in both $defs and definitions; keep one.`,
            { param },
          );
        }
        return [name, isObject(child) ? rewrite(child, `${path}/${key}/${name}`, param) : child];
      });
      result[outKey] = { ...(result[outKey] as object | undefined), ...Object.fromEntries(rewritten) };
    } else if (key === "$ref") {
      result.$ref = definitionReference(value, path, param);
    } else if ((key === "oneOf" || key === "anyOf" || key === "prefixItems") && Array.isArray(value)) {
      result[outKey] = value.map((child, index) => (isObject(child) ? rewrite(child, `${path}/${key}/${index}`, param) : child));
    } else if ((key === "items" || key === "additionalProperties") && isObject(value)) {
      result[outKey] = rewrite(value, `${path}/${key}`, param);
    } else {
      result[outKey] = value;
    }
  }
  // The converter treats a missing additionalProperties as false, which is what strict structured outputs want.
  return splitTypes(result, path, param);
}

/**
 * A `$ref` as the converter reads it: `#/$defs/NAME`, the name looked up in the `$defs` of the schema and of the
 * schemas around it (`#/definitions/NAME` is renamed so).
 *
 * @throws {MoestroError} `unsupported_parameter` (400) for any other reference (`#`, `#/properties/a`, an anchor, a
 *   URL), which the converter would replace by any JSON value.
 */
function definitionReference(value: unknown, path: string, param: string): string {
  const match = typeof value === "string" ? /^#\/(?:\$defs|definitions)\/([^/]+)$/.exec(value) : null;
  if (match === null) {
    throw new MoestroError(
      "unsupported_parameter",
      `The JSON schema reference ${JSON.stringify(value)} at ${path}/$ref cannot be enforced while decoding; refer to a definition as '#/$defs/NAME'.`,
      { param },
    );
  }
  return `#/$defs/${match[1]}`;
}

/** A schema of several types (a list, or none: any value) as a `oneOf` of one branch per type; others unchanged. */
function splitTypes(schema: Record<string, unknown>, path: string, param: string): Record<string, unknown> {
  const { type, $defs, ...rest } = schema;
  if (typeof type === "string" || "const" in schema || "enum" in schema || "oneOf" in schema || "$ref" in schema) return schema;
  const types = type === undefined ? anyType : Array.isArray(type) ? type : [type];
  for (const entry of types) {
    if (typeof entry !== "string" || !jsonTypes.has(entry)) {
      throw new MoestroError("invalid_request", `The type ${JSON.stringify(entry)} at ${path}/type is not a JSON Schema type.`, { param });
    }
  }
  const branches = (types as string[]).map((branchType) => {
    const branch: Record<string, unknown> = { type: branchType };
    for (const keyword of typeKeywords[branchType] ?? []) {
      if (rest[keyword] !== undefined) branch[keyword] = rest[keyword];
    }
    if (type === undefined && branchType === "object" && branch.properties === undefined && branch.additionalProperties === undefined) {
      branch.additionalProperties = true;
    }
    return branch;
  });
  const split: Record<string, unknown> = branches.length === 1 ? branches[0]! : { oneOf: branches };
  if ($defs !== undefined) split.$defs = $defs;
  return split;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
