import type { Llama, LlamaGrammar } from "node-llama-cpp";
import { MoestroError } from "../../errors/index.js";
import type { ToolDefinition } from "../../spec/index.js";
import { leafGrammarMarker, prepareSchemaForGrammar, substituteLeafGrammars } from "./json-schema-support.js";
import { createToolCallXmlGrammar, integerRuleBody, numberRuleBody } from "./tool-call-grammar.js";

/**
 * The grammars of one model's requests (structured output, tool calls), built with node-llama-cpp and kept in a small
 * cache keyed by their source, so that a request repeating a schema does not compile its grammar again.
 */
export class RequestGrammars {
  readonly #llama: Llama;
  readonly #toolCallFormat: "json" | "xml";
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();

  /**
   * @param llama the binding the grammars are created with (the model's).
   * @param toolCallFormat the form of tool calls the model's template teaches: JSON (Qwen3) or XML (Qwen3-Coder, Qwen3.5).
   */
  constructor(llama: Llama, toolCallFormat: "json" | "xml") {
    this.#llama = llama;
    this.#toolCallFormat = toolCallFormat;
  }

  /** The grammar of `response_format: {type: "json_object"}`: llama.cpp's JSON grammar. */
  async jsonObject(): Promise<LlamaGrammar> {
    return await this.#cachedGrammar("json", () => this.#llama.getGrammarFor("json"));
  }

  /**
   * The grammar of a tool call's body, in the form the model's template teaches: JSON, `{"name": …, "arguments": {…}}`,
   * or Qwen3.5's XML form; one branch per callable tool so that the arguments follow that tool's schema.
   */
  async toolCall(tools: readonly ToolDefinition[]): Promise<LlamaGrammar> {
    const parameters = tools.map((tool, index) => prepareSchemaForGrammar(argumentsSchema(tool), `tools[${index}].function.parameters`));
    // A tool's name becomes a `const` of the call's schema: it must not pass for one of moestro's grammar leaves.
    const reserved = tools.findIndex((tool) => tool.name.startsWith(leafGrammarMarker));
    if (reserved >= 0) {
      throw new MoestroError(
        "unsupported_parameter",
        `The tool name '${tools[reserved]!.name}' starts '${leafGrammarMarker}', which moestro reserves.`,
        {
          param: "tools",
        },
      );
    }
    if (this.#toolCallFormat === "xml") {
      const grammar = createToolCallXmlGrammar(tools);
      return await this.#cachedGrammar(grammar, async () => await this.#llama.createGrammar({ grammar }));
    }
    const branches = tools.map((tool, index) => ({
      type: "object",
      properties: {
        name: { const: tool.name },
        arguments: parameters[index],
      },
    }));
    const schema = branches.length === 1 ? branches[0]! : { oneOf: branches };
    return await this.schema(schema, "tools", true);
  }

  /**
   * The grammar of a JSON schema (`response_format`'s, or a tool call's).
   *
   * @param param the request field to name in errors.
   * @param prepared whether `schema` already went through `prepareSchemaForGrammar`. Defaults to false.
   * @throws {MoestroError} `unsupported_parameter` or `invalid_request` (400) naming `param`, for a schema the grammar
   *   cannot enforce (see `prepareSchemaForGrammar`) or that node-llama-cpp cannot convert.
   */
  async schema(schema: Record<string, unknown>, param: string, prepared = false): Promise<LlamaGrammar> {
    const grammarSchema = prepared ? schema : prepareSchemaForGrammar(schema, param);
    return await this.#cachedGrammar(JSON.stringify(grammarSchema), async () => {
      try {
        const converted = await this.#llama.createGrammarForJsonSchema(grammarSchema as never);
        // moestro's own rules where the converter has none (integer ranges, patterns, formats), then bounded numbers.
        const grammar = countStringLengthsAlike(boundNumberRules(substituteLeafGrammars(converted.grammar)));
        if (grammar === converted.grammar) return converted;
        const { stopGenerationTriggers, trimWhitespaceSuffix } = converted;
        return await this.#llama.createGrammar({ grammar, stopGenerationTriggers, trimWhitespaceSuffix });
      } catch (error) {
        throw new MoestroError(
          "unsupported_parameter",
          `The JSON schema in '${param}' cannot be turned into a grammar: ${(error as Error).message}`,
          { param, cause: error },
        );
      }
    });
  }

  async #cachedGrammar(key: string, create: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    let grammar = this.#grammars.get(key);
    if (grammar === undefined) {
      grammar = create();
      this.#grammars.set(key, grammar);
      grammar.catch(() => this.#grammars.delete(key));
      if (this.#grammars.size > 64) this.#grammars.delete(this.#grammars.keys().next().value!);
    }
    return await grammar;
  }
}

/**
 * node-llama-cpp 3.21.1's number rules, bounded as the XML tool-call grammar bounds them (`integerRuleBody`,
 * `numberRuleBody`): its integer rule allows an exponent, so `{"type": "integer"}` could be written `-28e-7` (found by
 * the fuzz test, at temperature 0), and its number rule allows 16 exponent digits, so a number could be written
 * `1e400`, which parses as Infinity. An integer gets no exponent; a number at most two exponent digits (every such
 * number is finite).
 */
const boundedNumberRules = new Map([
  ["integer-number-rule", integerRuleBody],
  ["fractional-number-rule", numberRuleBody],
]);

/** `grammar` (GBNF from node-llama-cpp's JSON-schema converter) with its number rules replaced by {@link boundedNumberRules}. */
export function boundNumberRules(grammar: string): string {
  return grammar.replace(
    /^(integer-number-rule|fractional-number-rule) ::= .*$/gm,
    (_line, name: string) => `${name} ::= ${boundedNumberRules.get(name)}`,
  );
}

/**
 * A string character that counts as one in every way a string's length is counted: one code point (JSON Schema,
 * Ajv), one UTF-16 unit (JavaScript's `length`, so zod's `.max()`): a character of the Basic Multilingual Plane, or a
 * `\uXXXX` escape of one that is no surrogate.
 */
const bmpStringCharRule =
  'bmp-string-char-rule ::= [^"\\\\\\x7F\\x00-\\x1F\\U00010000-\\U0010FFFF] | "\\\\" ["\\\\/bfnrt] | "\\\\u" ([0-9a-cA-CefEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})';

/**
 * `grammar` (GBNF from node-llama-cpp's JSON-schema converter) with the characters of length-bounded strings
 * (`minLength`, `maxLength`: `( string-char-rule ){2,5}`) limited to {@link bmpStringCharRule}: the converter's
 * grammar counts code points, so a string of `maxLength: 4` could hold 4 emoji, 8 UTF-16 units, which a client's
 * zod `.max(4)` refused (found by `structured-output-clients.test.ts` at temperature 1). Unbounded strings keep every
 * character.
 */
export function countStringLengthsAlike(grammar: string): string {
  const bounded = grammar.replace(/\( string-char-rule \)\{/g, "( bmp-string-char-rule ){");
  // First: llama.cpp's parser counts a repeated reference to a rule not yet defined as more rules than one defined
  // before it, and refused `( rule ){0,1000}` with the rule after it ("exceeds sane defaults"), but not before it.
  return bounded === grammar ? grammar : `${bmpStringCharRule}\n${bounded}`;
}

/** A tool's parameters schema as its arguments' schema: arguments are an object, also when the schema does not say so. */
function argumentsSchema(tool: ToolDefinition): Record<string, unknown> {
  const parameters = tool.parameters ?? { type: "object", properties: {} };
  return parameters.type === undefined ? { ...parameters, type: "object" } : parameters;
}
