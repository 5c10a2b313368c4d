import type { ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
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

/**
 * The one JSON-schema validator of the serving layer, shared by every route and dialect (Ajv, JSON Schema draft 2020-12
 * semantics, the draft the grammar's keywords come from: `prefixItems`, `$defs`; formats unchecked). The engine
 * constrains decoding with a grammar; this validator does the rest:
 *
 * 1. before a model is held, {@link checkRequest} compiles each schema of a request, so that a schema Ajv cannot compile
 *    (a `$ref` to nowhere, `properties: null`, `required: "a"`), one past {@link schemaLimits}, or one structured output
 *    cannot satisfy (`checkSchemaShape`) is a 400 naming its param, never a failure after the generation ran;
 * 2. after decoding, the {@link OutputCheck} of the request validates each finished answer and tool call once. `oneOf`
 *    is checked as `anyOf` (the answer matches at least one branch): a grammar writes one branch, and cannot keep the
 *    answer from also matching another.
 *
 * Ajv counts string lengths in code points, as JSON Schema requires, which node-llama-cpp's own `grammar.parse` does not
 * (it counts UTF-16 units). Each distinct schema is compiled once; the 256 most recent stay cached.
 */
export class SchemaValidator {
  // allErrors: the code Ajv generates checks properties one after another instead of nesting a block per property, which
  // overflowed V8's parser on wide schemas; optimize: false compiles large schemas faster (docs/api.md#json-schemas).
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false, addUsedSchema: false, code: { optimize: false } });
  readonly #compiled = new Map<string, { schema: Record<string, unknown>; validate: ValidateFunction }>();
  /** The refs Ajv knows by itself (its meta-schemas). */
  readonly #baseRefs = new Set(Object.keys(this.#ajv.refs));

  /** Drops a schema from Ajv's own cache, which holds every schema it compiled (or failed to), keyed by the object. */
  #forget(schema: Record<string, unknown>): void {
    try {
      this.#ajv.removeSchema(schema);
    } catch {
      // Ajv drops the cache entry first, then reads `$id`, which throws when `$id` is not a string: nothing is left over.
    }
  }

  /**
   * Compiles the request's schemas: the `json_schema` response format and the parameters of every tool.
   *
   * @throws {MoestroError} `invalid_request` (400) whose `param` names the schema (through `params`) when it is not an
   *   object, nests deeper than {@link schemaLimits}.maxDepth, cannot be compiled, or cannot be satisfied by structured
   *   output (`checkSchemaShape`); naming the request's largest schema when all of them hold more than
   *   {@link schemaLimits}.maxValues values.
   */
  checkRequest(request: GenerateRequest, params: SchemaParamNames): void {
    const schemas: Array<{ schema: unknown; param: string }> = [];
    if (request.responseFormat?.type === "json_schema")
      schemas.push({ schema: request.responseFormat.schema, param: params.responseFormat });
    for (const [index, tool] of (request.tools?.definitions ?? []).entries()) {
      if (tool.parameters !== undefined) schemas.push({ schema: tool.parameters, param: params.toolParameters(index) });
    }
    let totalValues = 0;
    let largest: { values: number; param: string } | undefined;
    for (const { schema, param } of schemas) {
      const values = measureSchema(schema, param);
      totalValues += values;
      if (largest === undefined || values > largest.values) largest = { values, param };
    }
    if (largest !== undefined && totalValues > schemaLimits.maxValues) {
      throw new MoestroError(
        "invalid_request",
        `The JSON schemas of this request hold ${totalValues} JSON values together; at most ${schemaLimits.maxValues} are allowed (the largest is '${largest.param}', ${largest.values}).`,
        { param: largest.param },
      );
    }
    for (const { schema, param } of schemas) {
      this.#compile(schema as Record<string, unknown>, param);
      checkSchemaShape(schema as Record<string, unknown>, param, (beside, value) => this.#firstViolation(beside, value));
    }
  }

  /** The first way `value` breaks `schema`, in Ajv's words; `undefined` when it matches or `schema` does not compile alone. */
  #firstViolation(schema: Record<string, unknown>, value: unknown): string | undefined {
    let validate: ValidateFunction;
    try {
      validate = this.#compile(schema, "enum");
    } catch {
      return undefined;
    }
    if (validate(value)) return undefined;
    const first = validate.errors?.[0];
    return `${first?.instancePath ? `${first.instancePath} ` : ""}${first?.message ?? "is invalid"}`;
  }

  /**
   * The output checks of a request whose schemas passed {@link checkRequest}: `json_schema` answers must match their
   * schema, `json_object` answers must be JSON objects, tool-call arguments must match their tool's parameters.
   */
  outputCheck(request: GenerateRequest): OutputCheck {
    const format = request.responseFormat;
    const answerSchema = format?.type === "json_schema" ? format.schema : format?.type === "json_object" ? { type: "object" } : undefined;
    const toolSchemas = new Map((request.tools?.definitions ?? []).map((tool) => [tool.name, tool.parameters ?? { type: "object" }]));
    return {
      checksAnswer: answerSchema !== undefined,
      answer: (text) => {
        if (answerSchema !== undefined) this.#assertJson(text, answerSchema, "answer");
      },
      toolCall: (toolCall) => {
        const schema = toolSchemas.get(toolCall.name);
        if (schema !== undefined) this.#assertJson(toolCall.arguments, schema, `arguments for '${toolCall.name}'`);
      },
    };
  }

  /** Checks that `text` parses as JSON and matches `schema`; throws `invalid_model_output` (500) naming the first violation. */
  #assertJson(text: string, schema: Record<string, unknown>, what: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new MoestroError("invalid_model_output", `The model's ${what} is not valid JSON.`);
    }
    const validate = this.#compile(schema, "output");
    if (!validate(value)) {
      const first = validate.errors?.[0];
      throw new MoestroError(
        "invalid_model_output",
        `The model's ${what} does not match its JSON schema: ${first?.instancePath || "/"} ${first?.message ?? "is invalid"}.`,
      );
    }
  }

  #compile(schema: Record<string, unknown>, param: string): ValidateFunction {
    const key = JSON.stringify(schema);
    const cached = this.#compiled.get(key);
    if (cached !== undefined) {
      // Most recently used last, so that eviction drops the least recently used.
      this.#compiled.delete(key);
      this.#compiled.set(key, cached);
      return cached.validate;
    }
    // `$schema` is an annotation here, as in the engine: a draft-07 declaration must not make Ajv look it up.
    const { $schema: _declared, ...rest } = schema;
    const compilable = oneOfAsAnyOf(rest) as Record<string, unknown>;
    let validate: ValidateFunction;
    try {
      validate = this.#ajv.compile(compilable);
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
    if (this.#compiled.size >= 256) {
      const [oldestKey, oldest] = this.#compiled.entries().next().value!;
      this.#compiled.delete(oldestKey);
      this.#forget(oldest.schema);
    }
    this.#compiled.set(key, { schema: compilable, validate });
    return validate;
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
 * @throws {MoestroError} `invalid_request` (400) naming `param` when the schema is not an object or nests deeper than
 *   {@link schemaLimits}.maxDepth.
 */
function measureSchema(schema: unknown, param: string): number {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new MoestroError("invalid_request", `The JSON schema in '${param}' must be an object.`, { param });
  }
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
