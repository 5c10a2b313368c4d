/** The Playground's options and the `POST /v1/chat/completions` body built from them. */

import { type NumberRange, readNumber } from "../../read-number.js";

/** The Playground's options; text fields stay text until the request is built. */
export interface Settings {
  system: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  topK: string;
  minP: string;
  seed: string;
  stop: string;
  thinking: "default" | "on" | "off";
  thinkingBudget: string;
  isToolsOn: boolean;
  tools: string;
  toolChoice: "auto" | "none" | "required";
  responseFormat: "text" | "json_object" | "json_schema";
  jsonSchema: string;
}

/** The options a new Playground starts with. */
export const initialSettings: Settings = {
  system: "",
  maxTokens: "256",
  temperature: "0.7",
  topP: "",
  topK: "",
  minP: "",
  seed: "",
  stop: "",
  thinking: "default",
  thinkingBudget: "",
  isToolsOn: false,
  tools: JSON.stringify(
    [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The current weather in a city.",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ],
    null,
    2,
  ),
  toolChoice: "auto",
  responseFormat: "text",
  jsonSchema: JSON.stringify(
    { type: "object", properties: { answer: { type: "string" }, confidence: { type: "number" } }, required: ["answer", "confidence"] },
    null,
    2,
  ),
};

function readJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The request body for the conversation and settings.
 *
 * @throws {Error} with a message for people when a field is out of range or a JSON field does not parse.
 */
export function buildBody(model: string, settings: Settings, messages: Array<Record<string, unknown>>): Record<string, unknown> {
  const body: Record<string, unknown> = { model, messages, stream: true, stream_options: { include_usage: true } };
  const maxTokens = readNumber(settings.maxTokens, "Max tokens", { min: 1, isInteger: true });
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  const numbers: Array<[keyof Settings, string, string, NumberRange]> = [
    ["temperature", "temperature", "Temperature", { min: 0, max: 2 }],
    ["topP", "top_p", "Top p", { min: 0, max: 1 }],
    ["topK", "top_k", "Top k", { min: 0, isInteger: true }],
    ["minP", "min_p", "Min p", { min: 0, max: 1 }],
    ["seed", "seed", "Seed", { isInteger: true }],
  ];
  for (const [field, wireName, label, range] of numbers) {
    const value = readNumber(settings[field] as string, label, range);
    if (value !== undefined) body[wireName] = value;
  }
  const stops = settings.stop
    .split("\n")
    .map((line) => line.replace(/\\n/g, "\n"))
    .filter((line) => line !== "");
  if (stops.length > 0) body.stop = stops;
  if (settings.thinking !== "default") {
    body.enable_thinking = settings.thinking === "on";
    const budget = readNumber(settings.thinkingBudget, "Thinking budget", { min: 0, isInteger: true });
    if (settings.thinking === "on" && budget !== undefined) body.thinking_budget = budget;
  }
  if (settings.isToolsOn) {
    const tools = readJson(settings.tools, "Tools");
    if (!Array.isArray(tools))
      throw new Error('Tools must be a JSON array of {type: "function", function: {name, description, parameters}}.');
    body.tools = tools;
    body.tool_choice = settings.toolChoice;
  }
  if (settings.responseFormat === "json_object") body.response_format = { type: "json_object" };
  if (settings.responseFormat === "json_schema") {
    body.response_format = {
      type: "json_schema",
      json_schema: { name: "answer", schema: readJson(settings.jsonSchema, "JSON schema"), strict: true },
    };
  }
  return body;
}
