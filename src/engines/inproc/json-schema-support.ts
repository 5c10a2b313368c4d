import { MoestroError } from "../../errors/index.js";
import { integerRange, integerRangeGrammar } from "./integer-range-grammar.js";
import { patternGrammar, UnsupportedPatternError } from "./pattern-grammar.js";
import { stringFormats } from "./string-formats.js";

/**
 * JSON-schema keywords the decoding grammar enforces: node-llama-cpp 3.21.1's converter (its `GbnfJsonSchema` type)
 * for the structure, and moestro's own GBNF for what it lacks ({@link leafGrammarMarker}: integer ranges, `pattern`,
 * string formats). `required` is accepted because the converter generates every listed property. `definitions`
 * (draft 7's name of `$defs`) is accepted and renamed `$defs`. Number bounds on a non-integer are enforced in part
 * (see `numberGrammar`) and checked after decoding; a `pattern` outside the convertible subset is only checked.
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
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "$defs",
  "definitions",
  "$ref",
]);

/**
 * Keywords no grammar here enforces but the API layer's output check (Ajv) validates after decoding: a finished answer
 * that breaks one is a 500 `invalid_model_output`. They only narrow values of the shape the grammar writes, so an
 * answer often meets them; keywords that change the shape itself (`not`, `allOf`, `if`, `patternProperties`…) stay
 * refused.
 */
export const checkedOnlyKeywords: ReadonlySet<string> = new Set(["multipleOf", "uniqueItems", "propertyNames"]);

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
  string: ["minLength", "maxLength", "format", "pattern"],
  integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
  number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
};
const jsonTypes = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
/** What a schema without `type` allows: any JSON value (JSON Schema; `integer` is within `number`). */
const anyType = ["object", "array", "string", "number", "boolean", "null"];

/**
 * Checks that every keyword of `schema` can be enforced by the decoding grammar or checked after it, and rewrites
 * `anyOf` to `oneOf` (the converter's spelling; for generation the two mean the same: one branch is produced) and
 * `definitions` to `$defs` (with the `$ref`s into it). Keywords neither the grammar nor the output check can hold
 * (`not`, `allOf`, `if`, `patternProperties`…, a `format` moestro does not know) are refused rather than silently
 * ignored (a schema that cannot be compiled must not fail open), and so is a `$ref` other than `#/$defs/NAME` (or
 * `#/definitions/NAME`), which the converter would read as any JSON value. {@link checkedOnlyKeywords} are dropped
 * from the grammar (the output check validates them).
 *
 * What node-llama-cpp's converter lacks becomes a leaf of moestro's own GBNF (a `const` holding a
 * {@link leafGrammarMarker}, replaced in the converted grammar by `substituteLeafGrammars`): an integer with bounds
 * (`integerRangeGrammar`, exact), a number with bounds (in part), a string with a `pattern` in the convertible subset
 * (`patternGrammar`) or a `format` moestro's grammar writes (`stringFormats`). A `pattern` wins over a `format` (it is
 * the more specific: zod 4 sends both for `z.string().email()`), and either wins over `minLength`/`maxLength`, which
 * the output check then holds.
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
    if (annotationKeywords.has(key) || checkedOnlyKeywords.has(key)) continue;
    if (!enforcedKeywords.has(key)) {
      throw new MoestroError(
        "unsupported_parameter",
        `The JSON schema keyword '${key}' at ${path}/${key} can neither be enforced while decoding nor checked after it; remove it (supported: ${[...enforcedKeywords, ...checkedOnlyKeywords].join(", ")}).`,
        { param },
      );
    }
    if ((key === "const" || key === "enum") && [value].flat().some((literal) => String(literal).startsWith(leafGrammarMarker))) {
      throw new MoestroError(
        "unsupported_parameter",
        `The JSON schema at ${path}/${key} holds a string starting '${leafGrammarMarker}', which moestro reserves for its own grammar.`,
        { param },
      );
    }
    if (key === "format" && !stringFormats.has(String(value))) {
      throw new MoestroError(
        "unsupported_parameter",
        `The string format '${String(value)}' at ${path}/format can neither be enforced nor checked (supported: ${[...stringFormats.keys()].join(", ")}).`,
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
  const split = splitTypes(result, path, param);
  if (Array.isArray(split.oneOf) && !Array.isArray(result.oneOf)) {
    return { ...split, oneOf: split.oneOf.map((branch) => withLeafGrammar(branch as Record<string, unknown>)) };
  }
  return withLeafGrammar(split);
}

/**
 * The prefix of a `const` string that stands for a leaf of moestro's own GBNF in the schema handed to node-llama-cpp's
 * converter: the rest is the GBNF expression in base64url. The converter writes the `const` as a literal
 * (`"\"moestro-gbnf:…\""`), which `substituteLeafGrammars` replaces by the expression. A `const` or `enum` string of
 * a client's schema that starts with it is refused, so that no client text reaches llama.cpp's GBNF parser as
 * grammar.
 */
export const leafGrammarMarker = "moestro-gbnf:";

/** The `const` that stands for the GBNF expression `grammar` (see {@link leafGrammarMarker}). */
function leaf(grammar: string, defs: unknown): Record<string, unknown> {
  const marker = { const: `${leafGrammarMarker}${Buffer.from(grammar).toString("base64url")}` };
  return defs === undefined ? marker : { ...marker, $defs: defs };
}

/**
 * `grammar` (GBNF from node-llama-cpp's converter, given a schema from `prepareSchemaForGrammar`) with every leaf
 * marker replaced by its GBNF expression in parentheses; unchanged when it holds none.
 */
export function substituteLeafGrammars(grammar: string): string {
  return grammar.replace(
    /"\\"moestro-gbnf:([A-Za-z0-9_-]*)\\""/g,
    (_literal, encoded: string) => `(${Buffer.from(encoded, "base64url").toString()})`,
  );
}

/** A schema of one type as a leaf of moestro's GBNF where its keywords need one; otherwise unchanged. */
function withLeafGrammar(schema: Record<string, unknown>): Record<string, unknown> {
  if ("const" in schema || "enum" in schema || "oneOf" in schema || "$ref" in schema) return schema;
  switch (schema.type) {
    // llama.cpp's parser refuses some repetitions past 1,000 ("exceeds sane defaults"; a string's of exactly 2,000, an
    // array's from about 1,000 to 2,001, depending on what surrounds it) and reads one above 2,000 as no bound; an
    // array's larger `maxItems` is left to the output check, a string's `maxLength: 2000` narrowed to 1,999.
    case "array":
      return typeof schema.maxItems === "number" && schema.maxItems > 1000 ? without(schema, ["maxItems"]) : schema;
    case "integer": {
      // An empty range is refused by the API layer (`checkSchemaShape`); here it can only come from a caller that
      // bypassed it, and the plain integer rule keeps the grammar valid.
      const range = hasBounds(schema) ? integerRange(schema) : undefined;
      return range === undefined ? without(schema, boundKeywords) : leaf(integerRangeGrammar(range), schema.$defs);
    }
    case "number": {
      const grammar = hasBounds(schema) ? numberGrammar(schema) : undefined;
      return grammar === undefined ? without(schema, boundKeywords) : leaf(grammar, schema.$defs);
    }
    case "string": {
      const contents = stringContentsGrammar(schema);
      // The converter knows no pattern and only some formats: what reaches it is a plain string with its lengths.
      if (contents === undefined && schema.maxLength === 2000) return { ...without(schema, ["pattern", "format"]), maxLength: 1999 };
      return contents === undefined ? without(schema, ["pattern", "format"]) : leaf(`"\\"" ${contents} "\\""`, schema.$defs);
    }
    default:
      return schema;
  }
}

const boundKeywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

function hasBounds(schema: Record<string, unknown>): boolean {
  return boundKeywords.some((key) => typeof schema[key] === "number");
}

/** `schema` without `keys`. */
function without(schema: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => !keys.includes(key)));
}

/**
 * The GBNF of a bounded non-integer number, where a grammar can hold the bounds simply; `undefined` otherwise (the
 * plain number rule, the output check holding the bounds). Exact for the bounds zod's number helpers write:
 * - integer `minimum` and `maximum` with 0 ≤ `minimum` < `maximum` (`z.number().min(0).max(1)`): an integer part from
 *   `minimum` to `maximum` − 1 with an optional fraction, or `maximum` itself (no exponent);
 * - `exclusiveMinimum: 0` alone (`.positive()`): a positive number, no exponent; `exclusiveMaximum: 0` alone
 *   (`.negative()`): its negation; `maximum: 0` alone (`.nonpositive()`): 0 or a negative number;
 * - `minimum: 0` (`.nonnegative()`), and in part any other lower bound ≥ 0: no minus sign.
 */
function numberGrammar(schema: Record<string, unknown>): string | undefined {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = schema;
  const fraction = '("." [0-9]{1,16})?';
  const positive = `([1-9] [0-9]{0,15} ${fraction} | "0." [0-9]{0,15} [1-9])`;
  const only = (key: string) => boundKeywords.every((other) => (other === key) === (typeof schema[other] === "number"));
  if (
    Number.isSafeInteger(minimum) &&
    Number.isSafeInteger(maximum) &&
    exclusiveMinimum === undefined &&
    exclusiveMaximum === undefined &&
    (minimum as number) >= 0 &&
    (minimum as number) < (maximum as number)
  ) {
    const integerPart = integerRangeGrammar({ min: BigInt(minimum as number), max: BigInt(maximum as number) - 1n });
    return `(${integerPart}) ${fraction} | "${maximum as number}" ("." "0"{1,16})?`;
  }
  if (only("exclusiveMinimum") && exclusiveMinimum === 0) return positive;
  if (only("exclusiveMaximum") && exclusiveMaximum === 0) return `"-" ${positive}`;
  if (only("maximum") && maximum === 0) return `"0" | "-" ${positive}`;
  const lower = [minimum, exclusiveMinimum].filter((bound): bound is number => typeof bound === "number");
  if (lower.length > 0 && Math.max(...lower) >= 0) return `("0" | [1-9] [0-9]{0,15}) ${fraction} ([eE] [-+]? [0-9]{1,2})?`;
  return undefined;
}

/** The GBNF of a string's contents where its `pattern` or `format` needs one; `undefined` for the converter's own rule. */
function stringContentsGrammar(schema: Record<string, unknown>): string | undefined {
  if (typeof schema.pattern === "string") {
    try {
      return patternGrammar(schema.pattern);
    } catch (error) {
      // Outside the convertible subset (zod's email pattern has lookaheads): the format's grammar if there is one,
      // else any string; the output check holds the pattern.
      if (!(error instanceof UnsupportedPatternError)) throw error;
    }
  }
  return typeof schema.format === "string" ? stringFormats.get(schema.format)?.grammar : undefined;
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
