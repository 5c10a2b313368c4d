import type { ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { stringFormats } from "../../engines/inproc/string-formats.js";
import { MoestroError } from "../../errors/index.js";
import type { GenerateRequest, ToolCall } from "../../spec/index.js";
import { checkSchemaShape } from "./schema-shape-check.js";

/**
 * Bounds on the JSON schemas of one request (`response_format` and every tool's parameters), checked before a model is
 * held (docs/api.md, "JSON schemas"):
 * - `maxDepth`: objects and arrays nested inside each other, counting the schema itself as 1. Ajv compiles a schema
 *   recursively, so a deeper one would overflow the stack.
 * - `maxValues`: every JSON value (object, array, string, number, boolean, null) of all the request's schemas together.
 *   Ajv's compile time grows faster than linearly with a schema's size, and it blocks the event loop (the figures are in
 *   docs/api.md); a compiled schema is cached, so only its first request pays.
 */
export const schemaLimits = { maxDepth: 64, maxValues: 8192 } as const;

/**
 * How a dialect names the schemas of a request in its errors (`param`): OpenAI's chat completions say
 * `response_format.json_schema.schema` and `tools[2].function.parameters`.
 */
export interface SchemaParamNames {
  /** The structured-output schema. */
  responseFormat: string;
  /** The parameters schema of the tool at `index` (the index in the request as sent). */
  toolParameters(index: number): string;
}

/** The checks on one request's output: each throws `invalid_model_output` (500) when the output breaks its schema. */
export interface OutputCheck {
  /** Whether {@link OutputCheck.answer} checks anything (the request asked for structured output). */
  readonly checksAnswer: boolean;
  /** Checks a finished answer against the structured-output format; does nothing for free text. */
  answer(text: string): void;
  /** Checks a tool call's arguments against its tool's parameters; does nothing for a tool without a schema. */
  toolCall(toolCall: ToolCall): void;
}

/** A schema Ajv compiled, as it was compiled (its `oneOf` read as `anyOf`), and its validator. */
interface CompiledSchema {
  schema: Record<string, unknown>;
  validate: ValidateFunction;
}

/** A request's schema in the cache: compiled, its size known, and whether its shape check passed. */
interface CheckedSchema extends CompiledSchema {
  /** Its JSON values (see `schemaLimits.maxValues`). */
  values: number;
  /** Whether `checkSchemaShape` accepted it (a refused schema stays compiled, and is checked again when sent again). */
  shapeChecked: boolean;
}

/** Request schemas kept compiled, the most recently used. */
const maxCachedSchemas = 256;
/** Subschemas the shape check compiled (the keywords beside an `enum` or a `const`), the most recently used. */
const maxCachedLiteralSchemas = 64;

/**
 * The one JSON-schema validator of the serving layer, shared by every route and dialect (Ajv, JSON Schema draft 2020-12
 * semantics, the draft the grammar's keywords come from: `prefixItems`, `$defs`; the string formats of
 * `stringFormats` checked, others ignored, which the engine refuses). The engine constrains decoding with a grammar;
 * this validator does the rest:
 *
 * 1. before a model is held, {@link checkRequest} compiles each schema of a request, so that a schema Ajv cannot compile
 *    (a `$ref` to nowhere, `properties: null`, `required: "a"`), one past {@link schemaLimits}, or one structured output
 *    cannot satisfy (`checkSchemaShape`) is a 400 naming its param, never a failure after the generation ran;
 * 2. after decoding, the {@link OutputCheck} it returns validates each finished answer and tool call once. `oneOf` is
 *    checked as `anyOf` (the answer matches at least one branch): a grammar writes one branch, and cannot keep the
 *    answer from also matching another. This is where the keywords no grammar holds are enforced (number bounds on
 *    non-integers, `multipleOf`, `uniqueItems`, a `pattern` outside the grammar's subset, the formats only checked:
 *    docs/api.md, "Structured output").
 *
 * Ajv counts string lengths in code points, as JSON Schema requires, which node-llama-cpp's own `grammar.parse` does not
 * (it counts UTF-16 units). Each distinct schema is measured, compiled and shape-checked once: the 256 most recently
 * used stay cached, keyed by their JSON text (the subschemas the shape check compiles have a cache of their own, so that
 * they never push a request's schema out).
 */
export class SchemaValidator {
  // allErrors: the code Ajv generates checks properties one after another instead of nesting a block per property, which
  // overflowed V8's parser on wide schemas; optimize: false compiles large schemas faster (docs/api.md#json-schemas).
  // logger: false, so that a format Ajv does not know (which the engine refuses) does not print a warning.
  readonly #ajv = new Ajv2020({
    strict: false,
    allErrors: true,
    addUsedSchema: false,
    logger: false,
    formats: Object.fromEntries([...stringFormats].map(([name, format]) => [name, { type: "string", validate: format.check }])),
    code: { optimize: false },
  });
  readonly #schemas = new Map<string, CheckedSchema>();
  readonly #literalSchemas = new Map<string, CompiledSchema>();
  /** The refs Ajv knows by itself (its meta-schemas). */
  readonly #baseRefs = new Set(Object.keys(this.#ajv.refs));

  /**
   * Checks and compiles the request's schemas (the `json_schema` response format and the parameters of every tool), and
   * returns the checks on its output: `json_schema` answers must match their schema, `json_object` answers must be JSON
   * objects, tool-call arguments must match their tool's parameters.
   *
   * @throws {MoestroError} `invalid_request` (400) whose `param` names the schema (through `params`) when it is not an
   *   object, nests deeper than {@link schemaLimits}.maxDepth, cannot be compiled, or cannot be satisfied by structured
   *   output (`checkSchemaShape`); naming the request's largest schema when all of them hold more than
   *   {@link schemaLimits}.maxValues values.
   */
  checkRequest(request: GenerateRequest, params: SchemaParamNames): OutputCheck {
    const format = request.responseFormat;
    const tools = request.tools?.definitions ?? [];
    const sent: Array<{ schema: Record<string, unknown>; param: string; key: string; values: number }> = [];
    let totalValues = 0;
    let largest: { values: number; param: string } | undefined;
    const measure = (value: unknown, param: string) => {
      const schema = asSchemaObject(value, param);
      const key = schemaKey(schema, param);
      // A cached schema was measured when it was first sent.
      const values = this.#schemas.get(key)?.values ?? measureSchema(schema, param);
      sent.push({ schema, param, key, values });
      totalValues += values;
      if (largest === undefined || values > largest.values) largest = { values, param };
    };
    if (format?.type === "json_schema") measure(format.schema, params.responseFormat);
    for (const [index, tool] of tools.entries()) if (tool.parameters !== undefined) measure(tool.parameters, params.toolParameters(index));
    if (largest !== undefined && totalValues > schemaLimits.maxValues) {
      throw new MoestroError(
        "invalid_request",
        `The JSON schemas of this request hold ${totalValues} JSON values together; at most ${schemaLimits.maxValues} are allowed (the largest is '${largest.param}', ${largest.values}).`,
        { param: largest.param },
      );
    }
    const validators = sent.map(({ schema, param, key, values }) => this.#checked(schema, param, key, values));

    let next = 0;
    const answer = format?.type === "json_schema" ? validators[next++] : format?.type === "json_object" ? this.#anyObject() : undefined;
    const toolValidators = new Map(
      tools.map((tool) => [tool.name, tool.parameters === undefined ? this.#anyObject() : validators[next++]!]),
    );
    return {
      checksAnswer: answer !== undefined,
      answer: (text) => {
        if (answer !== undefined) assertJson(text, answer, "answer");
      },
      toolCall: (toolCall) => {
        const validate = toolValidators.get(toolCall.name);
        if (validate !== undefined) assertJson(toolCall.arguments, validate, `arguments for '${toolCall.name}'`);
      },
    };
  }

  /**
   * The validator of a request's schema of `values` JSON values: from the cache, or compiled and cached. Its shape is
   * checked until it passes once.
   */
  #checked(schema: Record<string, unknown>, param: string, key: string, values: number): ValidateFunction {
    let entry = recall(this.#schemas, key);
    if (entry === undefined) {
      entry = { ...this.#compile(schema, param), values, shapeChecked: false };
      this.#remember(this.#schemas, maxCachedSchemas, key, entry);
    }
    if (!entry.shapeChecked) {
      checkSchemaShape(schema, param, (beside, value) => this.#firstViolation(beside, value));
      entry.shapeChecked = true;
    }
    return entry.validate;
  }

  /** The validator of `{"type": "object"}`: a JSON-mode answer, or the arguments of a tool without parameters. */
  #anyObject(): ValidateFunction {
    const schema = { type: "object" };
    return this.#checked(schema, "", JSON.stringify(schema), 2);
  }

  /** The first way `value` breaks `schema`, in Ajv's words; `undefined` when it matches or `schema` does not compile alone. */
  #firstViolation(schema: Record<string, unknown>, value: unknown): string | undefined {
    const key = JSON.stringify(schema);
    let entry = recall(this.#literalSchemas, key);
    if (entry === undefined) {
      try {
        entry = this.#compile(schema, "enum");
      } catch {
        return undefined;
      }
      this.#remember(this.#literalSchemas, maxCachedLiteralSchemas, key, entry);
    }
    const { validate } = entry;
    if (validate(value)) return undefined;
    const first = validate.errors?.[0];
    return `${first?.instancePath ? `${first.instancePath} ` : ""}${first?.message ?? "is invalid"}`;
  }

  /** Adds `entry` to `cache` as its most recently used, dropping the least recently used past `maxEntries`. */
  #remember<Entry extends CompiledSchema>(cache: Map<string, Entry>, maxEntries: number, key: string, entry: Entry): void {
    if (cache.size >= maxEntries) {
      const [oldestKey, oldest] = cache.entries().next().value!;
      cache.delete(oldestKey);
      this.#forget(oldest.schema);
    }
    cache.set(key, entry);
  }

  /** Drops a schema from Ajv's own cache, which holds every schema it compiled (or failed to), keyed by the object. */
  #forget(schema: Record<string, unknown>): void {
    try {
      this.#ajv.removeSchema(schema);
    } catch {
      // Ajv drops the cache entry first, then reads `$id`, which throws when `$id` is not a string: nothing is left over.
    }
  }

  /**
   * Compiles `schema` (its `$schema` ignored, its `oneOf` read as `anyOf`).
   *
   * @throws {MoestroError} `invalid_request` (400) naming `param` when Ajv cannot compile it.
   */
  #compile(schema: Record<string, unknown>, param: string): CompiledSchema {
    // `$schema` is an annotation here, as in the engine: a draft-07 declaration must not make Ajv look it up.
    const { $schema: _declared, ...rest } = schema;
    const compilable = oneOfAsAnyOf(rest) as Record<string, unknown>;
    try {
      return { schema: compilable, validate: this.#ajv.compile(compilable) };
    } catch (error) {
      this.#forget(compilable);
      // Ajv repeats a meta-schema violation once per branch of its meta-schema that failed: each reason once.
      const [, lead = "", reasons = ""] = /^(schema is invalid: )?(.*)$/s.exec((error as Error).message) ?? [];
      const message = lead + [...new Set(reasons.split(", "))].join(", ");
      // A RangeError is Ajv's recursion overflowing; a TypeError, Ajv tripping over a malformed keyword (`$id: {}`).
      const reason =
        error instanceof RangeError
          ? "it is too complex to compile"
          : error instanceof TypeError
            ? `it is malformed (${message})`
            : message;
      throw new MoestroError("invalid_request", `The JSON schema in '${param}' is invalid: ${reason}.`, { param, cause: error });
    } finally {
      // Ajv records every `$id` found inside a schema in an instance-wide table that nothing else trims: without this, each
      // distinct `$id` a client sends would stay in memory for the life of the server.
      for (const id of Object.keys(this.#ajv.refs)) if (!this.#baseRefs.has(id)) delete this.#ajv.refs[id];
    }
  }
}

/** The entry of `cache` under `key`, made its most recently used; `undefined` when there is none. */
function recall<Entry>(cache: Map<string, Entry>, key: string): Entry | undefined {
  const entry = cache.get(key);
  if (entry !== undefined) {
    // Most recently used last, so that eviction drops the least recently used.
    cache.delete(key);
    cache.set(key, entry);
  }
  return entry;
}

/** Checks that `text` parses as JSON and matches `validate`'s schema; throws `invalid_model_output` (500) naming the first violation. */
function assertJson(text: string, validate: ValidateFunction, what: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MoestroError("invalid_model_output", `The model's ${what} is not valid JSON.`);
  }
  if (!validate(value)) {
    const first = validate.errors?.[0];
    throw new MoestroError(
      "invalid_model_output",
      `The model's ${what} does not match its JSON schema: ${first?.instancePath || "/"} ${first?.message ?? "is invalid"}.`,
    );
  }
}

/**
 * `schema` as an object schema.
 *
 * @throws {MoestroError} `invalid_request` (400) naming `param` when it is not a JSON object.
 */
function asSchemaObject(schema: unknown, param: string): Record<string, unknown> {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new MoestroError("invalid_request", `The JSON schema in '${param}' must be an object.`, { param });
  }
  return schema as Record<string, unknown>;
}

/**
 * The cache key of a schema: its JSON text.
 *
 * @throws {MoestroError} `invalid_request` (400) naming `param` when the schema nests too deep to be written as text
 *   (`JSON.stringify` recurses): the depth limit's error.
 */
function schemaKey(schema: Record<string, unknown>, param: string): string {
  try {
    return JSON.stringify(schema);
  } catch (error) {
    measureSchema(schema, param);
    throw new MoestroError("invalid_request", `The JSON schema in '${param}' cannot be read: it is too complex.`, { param, cause: error });
  }
}

/** Keywords whose value is one subschema, a map of subschemas, or a list of subschemas (JSON Schema 2020-12). */
const subschemaKeywords = {
  one: new Set([
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
  ]),
  map: new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]),
  list: new Set(["prefixItems", "anyOf", "oneOf", "allOf"]),
};

/**
 * A copy of `schema` with every `oneOf` keyword renamed `anyOf` (a property named `oneOf` is left alone), so that the
 * output check asks what a grammar can promise: one branch matches. Recursive: the schema's depth is bounded first.
 */
function oneOfAsAnyOf(schema: unknown): unknown {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return schema;
  // Object.fromEntries defines each key, so that a member named `__proto__` stays a member.
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => {
      const outKey = key === "oneOf" && !("anyOf" in schema) ? "anyOf" : key;
      if (subschemaKeywords.one.has(key)) return [outKey, oneOfAsAnyOf(value)];
      if (subschemaKeywords.map.has(key) && typeof value === "object" && value !== null && !Array.isArray(value)) {
        return [outKey, Object.fromEntries(Object.entries(value).map(([name, child]) => [name, oneOfAsAnyOf(child)]))];
      }
      if (subschemaKeywords.list.has(key) && Array.isArray(value)) return [outKey, value.map(oneOfAsAnyOf)];
      return [outKey, value];
    }),
  );
}

/**
 * Counts the JSON values of a schema without recursion (a schema nested 5,000 deep must not overflow the stack).
 *
 * @throws {MoestroError} `invalid_request` (400) naming `param` when the schema nests deeper than
 *   {@link schemaLimits}.maxDepth.
 */
function measureSchema(schema: Record<string, unknown>, param: string): number {
  let values = 0;
  const pending: Array<{ value: unknown; depth: number }> = [{ value: schema, depth: 1 }];
  while (pending.length > 0) {
    const { value, depth } = pending.pop()!;
    values++;
    if (typeof value !== "object" || value === null) continue;
    if (depth > schemaLimits.maxDepth) {
      throw new MoestroError(
        "invalid_request",
        `The JSON schema in '${param}' nests objects and arrays more than ${schemaLimits.maxDepth} levels deep.`,
        { param },
      );
    }
    // Past the value budget the count is enough to refuse; stop walking a huge schema.
    if (values > schemaLimits.maxValues) return values;
    for (const child of Array.isArray(value) ? value : Object.values(value)) pending.push({ value: child, depth: depth + 1 });
  }
  return values;
}
