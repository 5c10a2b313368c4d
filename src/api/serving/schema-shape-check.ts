import { MoestroError } from "../../errors/index.js";
import { integerRange } from "../../engines/inproc/integer-range-grammar.js";
import { annotationKeywords } from "../../engines/inproc/json-schema-support.js";

/**
 * Tells whether `value` matches `schema`: `undefined` when it does (or when `schema` cannot be compiled on its own, as
 * when it holds a `$ref` into the whole schema), else the first violation as Ajv words it ("must NOT have more than 2
 * characters").
 */
export type SchemaMatcher = (schema: Record<string, unknown>, value: unknown) => string | undefined;

/** Annotations: keywords that constrain nothing, allowed anywhere (the engine's own list, so that both agree). */
const annotations = annotationKeywords;
/** Keywords that only hold definitions for `$ref`. */
const definitionKeywords = new Set(["$defs", "definitions"]);

/**
 * Refuses a JSON schema that Ajv compiles but structured output cannot satisfy: decoding under its grammar could only
 * produce answers that break it, which would end in 500 `invalid_model_output` after the whole generation. Checked for
 * every engine, so that a schema is accepted or refused the same way whatever serves the model (docs/api.md, "JSON
 * schemas"). Each of these, at any level of the schema, is refused:
 *
 * - `required` naming a property that `properties` does not list (structured output generates exactly the listed
 *   properties, as OpenAI's strict mode asks);
 * - a `false` schema where a value must be generated: a listed property, a `prefixItems` entry, an `anyOf`/`oneOf`
 *   branch, or `items` when the array may hold more than its `prefixItems`;
 * - `minLength`, `minItems` or `minProperties` above its `max…`; `maxProperties` below the number of listed properties;
 *   `minProperties` above it when no other property may be generated; `maxItems` below the number of `prefixItems`;
 * - number bounds that no value meets: `minimum` above `maximum` (or equal with an exclusive bound) for a number, no
 *   integer of at most 16 digits (all the grammar writes) between the bounds for `{"type": "integer"}` (`minimum: 1.2,
 *   maximum: 1.8`, or `minimum: 1e20`);
 * - constraint keywords beside `$ref`, `anyOf` or `oneOf` (the grammar follows the reference or the branches alone;
 *   annotations and `$defs` are fine);
 * - an `enum` member or a `const` that breaks the keywords beside it (`{"type": "string", "enum": ["a", 1]}`): the
 *   grammar may write any member.
 *
 * It walks the places the grammar generates from (`properties`, `additionalProperties`, `items`, `prefixItems`,
 * `anyOf`, `oneOf`, `$defs`); keywords the grammar cannot enforce at all (`not`, `allOf`, `if`…) are the engine's to
 * refuse. The schema is bounded in depth and size before this runs (`schemaLimits`).
 *
 * @param schema a schema Ajv compiled.
 * @param param the request field to name in the error.
 * @param matches checks an `enum` member or a `const` against the keywords beside it.
 * @throws {MoestroError} `invalid_request` (400) whose `param` is `param` and whose message names the keyword, its path
 *   in the schema (`#/properties/a/required`) and why no answer could satisfy it.
 */
export function checkSchemaShape(schema: Record<string, unknown>, param: string, matches: SchemaMatcher): void {
  const pending: Array<{ schema: unknown; path: string }> = [{ schema, path: "#" }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (!isObject(next.schema)) continue;
    const reason = findContradiction(next.schema, next.path, matches);
    if (reason !== undefined) {
      throw new MoestroError("invalid_request", `The JSON schema in '${param}' cannot be satisfied by structured output: ${reason}.`, {
        param,
      });
    }
    pending.push(...generatedSubschemas(next.schema, next.path));
  }
}

/** The subschemas the grammar generates from, with their paths, each once. */
function generatedSubschemas(schema: Record<string, unknown>, path: string): Array<{ schema: unknown; path: string }> {
  const found: Array<{ schema: unknown; path: string }> = [];
  for (const key of ["properties", "$defs", "definitions"]) {
    const map = schema[key];
    if (isObject(map))
      for (const [name, child] of Object.entries(map)) found.push({ schema: child, path: `${path}/${key}/${pointer(name)}` });
  }
  for (const key of ["prefixItems", "anyOf", "oneOf"]) {
    const list = schema[key];
    if (Array.isArray(list)) for (const [index, child] of list.entries()) found.push({ schema: child, path: `${path}/${key}/${index}` });
  }
  for (const key of ["items", "additionalProperties"]) found.push({ schema: schema[key], path: `${path}/${key}` });
  return found;
}

/** Why no answer generated for `schema` (one level, not its subschemas) could match it, or `undefined`. */
function findContradiction(schema: Record<string, unknown>, path: string, matches: SchemaMatcher): string | undefined {
  return (
    findConstraintsBesideBranches(schema, path) ??
    findFalseBranch(schema, path) ??
    findBoundsAbove(schema, path, "minLength", "maxLength") ??
    findBoundsAbove(schema, path, "minItems", "maxItems") ??
    findBoundsAbove(schema, path, "minProperties", "maxProperties") ??
    findEmptyNumberRange(schema, path) ??
    (allowsType(schema, "object") ? findObjectContradiction(schema, path) : undefined) ??
    (allowsType(schema, "array") ? findArrayContradiction(schema, path) : undefined) ??
    findLiteralOutsideSchema(schema, path, matches)
  );
}

function findConstraintsBesideBranches(schema: Record<string, unknown>, path: string): string | undefined {
  const followed = ["$ref", "anyOf", "oneOf"].find((key) => key in schema);
  if (followed === undefined) return undefined;
  const beside = Object.keys(schema).filter((key) => key !== followed && !annotations.has(key) && !definitionKeywords.has(key));
  if (beside.length === 0) return undefined;
  return `'${followed}' at ${path} has ${list(beside)} beside it, which the grammar ignores (it follows the ${followed === "$ref" ? "reference" : "branches"} alone); move ${beside.length === 1 ? "it" : "them"} into ${followed === "$ref" ? "the referenced schema" : "each branch"}`;
}

function findFalseBranch(schema: Record<string, unknown>, path: string): string | undefined {
  for (const key of ["anyOf", "oneOf"]) {
    const branches = schema[key];
    const index = Array.isArray(branches) ? branches.indexOf(false) : -1;
    if (index >= 0) return `${path}/${key}/${index} is the schema false, which no value matches, and the grammar may take that branch`;
  }
  return undefined;
}

function findBoundsAbove(schema: Record<string, unknown>, path: string, minKey: string, maxKey: string): string | undefined {
  const min = schema[minKey];
  const max = schema[maxKey];
  if (typeof min === "number" && typeof max === "number" && min > max) {
    return `'${minKey}' (${min}) at ${path} is above '${maxKey}' (${max}), so no value matches`;
  }
  return undefined;
}

function findEmptyNumberRange(schema: Record<string, unknown>, path: string): string | undefined {
  const bounds = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"].filter((key) => typeof schema[key] === "number");
  if (bounds.length === 0 || !(allowsType(schema, "number") || allowsType(schema, "integer"))) return undefined;
  const described = bounds.map((key) => `'${key}' (${schema[key] as number})`).join(", ");
  if (schema.type === "integer" && integerRange(schema) === undefined) {
    return `no integer of at most 16 digits meets ${described} at ${path}`;
  }
  const lower = Math.max(numberOr(schema.minimum, -Infinity), numberOr(schema.exclusiveMinimum, -Infinity));
  const upper = Math.min(numberOr(schema.maximum, Infinity), numberOr(schema.exclusiveMaximum, Infinity));
  const exclusive = lower === schema.exclusiveMinimum || upper === schema.exclusiveMaximum;
  // A bound past the largest double (`1e400` reads as Infinity) leaves no finite number.
  if (lower > upper || (lower === upper && exclusive) || lower === Infinity || upper === -Infinity) {
    return `no number meets ${described} at ${path}`;
  }
  return undefined;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

function findObjectContradiction(schema: Record<string, unknown>, path: string): string | undefined {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const listed = Object.keys(properties);
  const excluded = listed.find((name) => properties[name] === false);
  if (excluded !== undefined) {
    return `the property '${excluded}' at ${path}/properties is the schema false, which no value matches, and every listed property is generated; leave it out of 'properties'`;
  }
  if (Array.isArray(schema.required)) {
    const missing = schema.required.filter((name) => typeof name === "string" && !listed.includes(name)) as string[];
    if (missing.length > 0) {
      return `'required' at ${path} names ${list(missing)}, which 'properties' does not list; structured output generates exactly the listed properties, so the answer could never hold ${missing.length === 1 ? "it" : "them"}: add ${missing.length === 1 ? "it" : "them"} to 'properties'`;
    }
  }
  const { minProperties, maxProperties } = schema;
  if (typeof maxProperties === "number" && maxProperties < listed.length) {
    return `'maxProperties' (${maxProperties}) at ${path} is below the ${listed.length} listed properties, each of which is generated`;
  }
  // An untyped schema without `properties` reads as any object (the engine's reading too, docs/api.md).
  const othersAllowed = schema.additionalProperties ?? (schema.type === undefined && schema.properties === undefined);
  if (typeof minProperties === "number" && minProperties > listed.length && othersAllowed === false) {
    return `'minProperties' (${minProperties}) at ${path} is above the ${listed.length} listed properties, and 'additionalProperties' ${schema.additionalProperties === false ? "is false" : "is absent (read as false)"}, so no other property is generated`;
  }
  return undefined;
}

function findArrayContradiction(schema: Record<string, unknown>, path: string): string | undefined {
  const prefixItems = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
  const { maxItems } = schema;
  const excluded = prefixItems.indexOf(false);
  if (excluded >= 0)
    return `${path}/prefixItems/${excluded} is the schema false, which no value matches, and every entry of 'prefixItems' is generated`;
  if (typeof maxItems === "number" && maxItems < prefixItems.length) {
    return `'maxItems' (${maxItems}) at ${path} is below the ${prefixItems.length} entries of 'prefixItems', each of which is generated`;
  }
  if (schema.items === false && (typeof maxItems !== "number" || maxItems > prefixItems.length)) {
    return `'items' at ${path} is false (no item beyond the ${prefixItems.length} of 'prefixItems'), which the grammar keeps only when 'maxItems' is ${prefixItems.length}; set it`;
  }
  return undefined;
}

function findLiteralOutsideSchema(schema: Record<string, unknown>, path: string, matches: SchemaMatcher): string | undefined {
  // The grammar writes the `const` when there is one, else one of the `enum` members, and reads nothing beside them.
  const literals: Array<{ value: unknown; at: string; keyword: string }> =
    "const" in schema
      ? [{ value: schema.const, at: `${path}/const`, keyword: "const" }]
      : Array.isArray(schema.enum)
        ? schema.enum.map((value, index) => ({ value, at: `${path}/enum/${index}`, keyword: "enum" }))
        : [];
  if (literals.length === 0) return undefined;
  const keyword = literals[0]!.keyword;
  const beside = Object.fromEntries(
    Object.entries(schema).filter(([key]) => key !== keyword && !annotations.has(key) && !definitionKeywords.has(key)),
  );
  if (Object.keys(beside).length === 0) return undefined;
  for (const { value, at } of literals) {
    const violation = matches(beside, value);
    if (violation !== undefined) {
      return `the ${keyword === "const" ? "'const'" : "'enum' member"} ${abbreviate(value)} at ${at} breaks the keywords beside it (${violation}), and the grammar may write it`;
    }
  }
  return undefined;
}

/** Whether a value of JSON type `type` may match `schema`, going by its `type` alone (absent: any type). */
function allowsType(schema: Record<string, unknown>, type: string): boolean {
  const declared = schema.type;
  return declared === undefined || declared === type || (Array.isArray(declared) && declared.includes(type));
}

/** A JSON-pointer token (RFC 6901): `~` and `/` escaped. */
function pointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

function list(names: readonly string[]): string {
  return names.map((name) => `'${name}'`).join(", ");
}

function abbreviate(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
