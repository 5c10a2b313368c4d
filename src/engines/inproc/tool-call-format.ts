import type { ToolDefinition } from "../../spec/index.js";

/** A parsed tool call: the function's name and its arguments object. */
export interface ParsedToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * Parses the body of one `<tool_call>…</tool_call>` block (the text between the tags), in either form Qwen models write:
 * - the JSON form of Qwen2.5 and Qwen3 (Hermes style): `{"name": "get_weather", "arguments": {"location": "Paris"}}`;
 * - the XML form of Qwen3-Coder and Qwen3.5:
 *   `<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n</function>`. Parameter values are text; each is
 *   converted to the type its tool schema declares (number, integer, boolean, object, array, null; JSON when it parses,
 *   else the text), as the templates' own parsers do (vLLM `qwen3coder_tool_parser.py`).
 *
 * @returns the call, or `undefined` when the text is neither form.
 */
export function parseToolCallBody(body: string, tools: readonly ToolDefinition[]): ParsedToolCall | undefined {
  const text = body.trim();
  if (text.startsWith("{")) return parseJsonForm(text);
  if (text.startsWith("<function=")) return parseXmlForm(text, tools);
  return undefined;
}

function parseJsonForm(text: string): ParsedToolCall | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { name, arguments: args, parameters } = value as { name?: unknown; arguments?: unknown; parameters?: unknown };
  if (typeof name !== "string" || name.length === 0) return undefined;
  let argumentsValue: unknown = args ?? parameters ?? {};
  if (typeof argumentsValue === "string") {
    try {
      argumentsValue = JSON.parse(argumentsValue) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof argumentsValue !== "object" || argumentsValue === null || Array.isArray(argumentsValue)) return undefined;
  return { name, arguments: argumentsValue as Record<string, unknown> };
}

function parseXmlForm(text: string, tools: readonly ToolDefinition[]): ParsedToolCall | undefined {
  const functionMatch = /^<function=([^>\n]+)>([\s\S]*?)(?:<\/function>\s*)?$/.exec(text);
  if (!functionMatch) return undefined;
  const name = functionMatch[1]!.trim();
  const properties = (tools.find((tool) => tool.name === name)?.parameters?.properties ?? {}) as Record<string, { type?: unknown }>;
  const args: Record<string, unknown> = {};
  const parameterPattern = /<parameter=([^>\n]+)>\n?([\s\S]*?)\n?<\/parameter>/g;
  for (const match of functionMatch[2]!.matchAll(parameterPattern)) {
    const key = match[1]!.trim();
    args[key] = convertParameter(match[2]!, properties[key]?.type);
  }
  return { name, arguments: args };
}

/** Converts an XML parameter's text to the type its schema declares. */
function convertParameter(raw: string, type: unknown): unknown {
  const types = Array.isArray(type) ? type : [type];
  const text = raw.trim();
  if (types.includes("string") && !types.some((candidate) => candidate !== "string" && candidate !== "null")) return raw;
  if (types.includes("null") && text.toLowerCase() === "null") return null;
  if (
    (types.includes("integer") || types.includes("number")) &&
    /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) &&
    Number.isFinite(Number(text))
  )
    return Number(text);
  if (types.includes("boolean") && /^(true|false)$/i.test(text)) return text.toLowerCase() === "true";
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return raw;
  }
}

/**
 * Tracks whether streamed text has completed one JSON value: a scanner aware of strings and escapes. Used to end a
 * grammar-constrained tool call or structured answer as soon as its value is complete. An object, an array, a string
 * or a literal (`true`, `false`, `null`) is complete at its last character; a number at the first character after it
 * (node-llama-cpp's JSON-schema grammars follow the value with newlines).
 */
export class JsonCompletionTracker {
  #depth = 0;
  #inString = false;
  #escaped = false;
  #inNumber = false;
  /** Characters left of a literal being read at the top level. */
  #literalLeft = 0;
  #complete = false;

  /** Feeds more text; returns whether the first value has completed. Text after completion is ignored. */
  push(text: string): boolean {
    this.valueEnd(text);
    return this.#complete;
  }

  /**
   * Feeds more text; returns where the value ends in it (the index after its last character, 0 when it ended right
   * before `text`), or -1 when it does not end in it. Text after completion is ignored (-1).
   */
  valueEnd(text: string): number {
    if (this.#complete) return -1;
    for (let index = 0; index < text.length; index++) {
      const char = text[index]!;
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (char === "\\") this.#escaped = true;
        else if (char === '"') {
          this.#inString = false;
          if (this.#depth === 0) return this.#end(index + 1);
        }
        continue;
      }
      if (this.#depth === 0) {
        if (this.#inNumber) {
          if (isNumberCharacter(char)) continue;
          return this.#end(index);
        }
        if (this.#literalLeft > 0) {
          if (--this.#literalLeft === 0) return this.#end(index + 1);
          continue;
        }
        if (char === "t" || char === "n") this.#literalLeft = 3;
        else if (char === "f") this.#literalLeft = 4;
        else if (char === "-" || (char >= "0" && char <= "9")) this.#inNumber = true;
      }
      if (char === '"') this.#inString = true;
      else if (char === "{" || char === "[") this.#depth++;
      else if ((char === "}" || char === "]") && this.#depth > 0) {
        if (--this.#depth === 0) return this.#end(index + 1);
      }
    }
    return -1;
  }

  #end(index: number): number {
    this.#complete = true;
    return index;
  }
}

function isNumberCharacter(char: string): boolean {
  return (char >= "0" && char <= "9") || char === "." || char === "e" || char === "E" || char === "+" || char === "-";
}
