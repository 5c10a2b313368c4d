import { MoestroError } from "../../errors/index.js";

/**
 * JSON-schema keywords that node-llama-cpp 3.21.1's grammar converter enforces (its `GbnfJsonSchema` type), plus
 * annotations that need no enforcement. `required` is accepted because the converter generates every listed property.
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
  "$ref",
]);
const annotationKeywords = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment", "strict", "name"]);
const supportedFormats = new Set(["date-time", "time", "date"]);

/**
 * Checks that every keyword of `schema` can be enforced by the decoding grammar, and rewrites `anyOf` to `oneOf` (the
 * converter's spelling; for generation the two mean the same: one branch is produced). Keywords the grammar cannot
 * enforce (`pattern`, `minimum`, `maximum`, `multipleOf`, `not`, `allOf`, `if`…) are refused rather than silently
 * ignored (case C20: a schema that cannot be compiled must not fail open).
 *
 * @param param the request field to name in errors (`response_format`, `tools[0].function.parameters`).
 * @returns a copy of the schema, ready for `llama.createGrammarForJsonSchema`.
 * @throws {MoestroError} `unsupported_parameter` (400) whose message names the keyword and its path in the schema.
 */
export function prepareSchemaForGrammar(schema: unknown, param: string): Record<string, unknown> {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new MoestroError("invalid_request", `The JSON schema at '${param}' must be an object.`, { param });
  }
  return rewrite(schema as Record<string, unknown>, "#", param);
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
    const outKey = key === "anyOf" ? "oneOf" : key;
    if ((key === "properties" || key === "$defs") && isObject(value)) {
      result[outKey] = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, isObject(child) ? rewrite(child, `${path}/${key}/${name}`, param) : child]),
      );
    } else if ((key === "oneOf" || key === "anyOf" || key === "prefixItems") && Array.isArray(value)) {
      result[outKey] = value.map((child, index) => (isObject(child) ? rewrite(child, `${path}/${key}/${index}`, param) : child));
    } else if ((key === "items" || key === "additionalProperties") && isObject(value)) {
      result[outKey] = rewrite(value, `${path}/${key}`, param);
    } else {
      result[outKey] = value;
    }
  }
  // The converter treats a missing additionalProperties as false, which is what strict structured outputs want.
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
