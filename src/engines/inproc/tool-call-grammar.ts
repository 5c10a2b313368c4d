import type { ToolDefinition } from "../../spec/index.js";
import { integerRange, integerRangeGrammar } from "./integer-range-grammar.js";

/**
 * GBNF rule bodies of a JSON integer and a JSON number, bounded: at most 16 digits (a double holds about 16), no leading
 * zeros (JSON has none), and for a number at most two exponent digits (so that it stays below 1e308, finite). An
 * unbounded run of digits lets a weak model write digits for ever. The XML tool-call grammar uses them for its values,
 * and `boundNumberRules` puts them in place of node-llama-cpp's own rules in JSON-schema grammars (`request-grammars.ts`).
 */
export const integerRuleBody = '"-"? ("0" | [1-9] [0-9]{0,15})';
/** See {@link integerRuleBody}. */
export const numberRuleBody = `${integerRuleBody} ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`;

/**
 * A GBNF grammar for one tool call in the XML form that Qwen3-Coder and Qwen3.5 templates teach the model
 * (`<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n…</function>`), written after `<tool_call>\n`. Each tool is
 * one branch; its parameters come in schema order, the required ones always, the others optionally. A value follows its
 * schema type: numbers and integers in JSON syntax (an integer's `minimum`/`maximum` enforced as in JSON-schema
 * grammars; other keywords are the output check's), booleans `true`/`false`, strings as text without `<` (the form has
 * no escaping, so `<` cannot appear in a string value; at most `maxLength` characters when the schema says so),
 * objects, arrays and untyped values as JSON. GBNF syntax: llama.cpp `grammars/README.md`.
 */
export function createToolCallXmlGrammar(tools: readonly ToolDefinition[]): string {
  const rules: string[] = [];
  const branches: string[] = [];
  tools.forEach((tool, toolIndex) => {
    const properties = (tool.parameters?.properties ?? {}) as Record<string, ValueSchema>;
    const required = new Set((tool.parameters?.required as string[] | undefined) ?? []);
    const parameterRules = Object.entries(properties).map(([name, schema], parameterIndex) => {
      const rule = `t${toolIndex}-p${parameterIndex}`;
      rules.push(`${rule} ::= "<parameter=${escapeGbnf(name)}>\\n" ${valueRule(schema)} "\\n</parameter>\\n"`);
      return required.has(name) ? rule : `${rule}?`;
    });
    const rule = `t${toolIndex}`;
    rules.push(`${rule} ::= "${escapeGbnf(tool.name)}>\\n" ${parameterRules.join(" ")} "</function>"`.replace(/ {2,}/g, " "));
    branches.push(rule);
  });
  return [
    `root ::= "<function=" (${branches.join(" | ")})`,
    ...rules,
    `string-value ::= [^<\\n] [^<]*`,
    `number-value ::= ${numberRuleBody}`,
    `integer-value ::= ${integerRuleBody}`,
    `boolean-value ::= "true" | "false"`,
    `json-value ::= json-object | json-array | json-string | number-value | boolean-value | "null"`,
    `json-object ::= "{" ws (json-string ws ":" ws json-value ws ("," ws json-string ws ":" ws json-value ws)*)? "}"`,
    `json-array ::= "[" ws (json-value ws ("," ws json-value ws)*)? "]"`,
    `json-string ::= "\\"" ([^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\/bfnrt])* "\\""`,
    `ws ::= [ \\t\\n]*`,
  ].join("\n");
}

/** The keywords of a parameter's schema the XML form reads. */
interface ValueSchema {
  type?: unknown;
  maxLength?: unknown;
  enum?: unknown;
  minimum?: unknown;
  maximum?: unknown;
  exclusiveMinimum?: unknown;
  exclusiveMaximum?: unknown;
}

function valueRule(schema: ValueSchema): string {
  if (Array.isArray(schema.enum) && schema.enum.every((value) => typeof value === "string")) {
    return `(${(schema.enum as string[]).map((value) => `"${escapeGbnf(value)}"`).join(" | ")})`;
  }
  switch (schema.type) {
    case "string":
      return typeof schema.maxLength === "number" && schema.maxLength > 0
        ? `[^<\\n] [^<]{0,${Math.max(0, schema.maxLength - 1)}}`
        : "string-value";
    case "number":
      return "number-value";
    case "integer": {
      // Bounds as in JSON-schema grammars (zod 4 bounds every int): the exact range (issue 18).
      const bounded = [schema.minimum, schema.maximum, schema.exclusiveMinimum, schema.exclusiveMaximum].some(
        (bound) => typeof bound === "number",
      );
      const range = bounded ? integerRange(schema) : undefined;
      return range === undefined ? "integer-value" : `(${integerRangeGrammar(range)})`;
    }
    case "boolean":
      return "boolean-value";
    default:
      return "json-value";
  }
}

/** Escapes text for a GBNF string literal. */
function escapeGbnf(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
