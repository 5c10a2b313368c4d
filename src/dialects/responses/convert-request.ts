import { MoestroError } from "../../errors/index.js";
import type { ChatMessage, GenerateRequest, ResponseFormat, ToolCall, ToolChoice, ToolDefinition } from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import { parseWith } from "../openai/convert-request.js";
import { type InputItem, reasoningEfforts, type ResponseRequest, responseRequestSchema } from "./schemas.js";

/**
 * Validates a `POST /v1/responses` body and refuses what moestro cannot serve without changing the answer's meaning:
 * `background: true` (no background mode yet), `conversation` (the Conversations API is not served) and `prompt`
 * (prompt templates stored at OpenAI).
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field (`param`); `unsupported_parameter`
 *   (400) for `background: true`, `conversation` and `prompt`.
 */
export function parseResponseRequest(body: unknown): ResponseRequest {
  const request = parseWith(responseRequestSchema, body);
  if (request.background === true)
    unsupported("background", "background mode is not supported: send the request without background (stream it to see progress).");
  if (request.conversation !== undefined && request.conversation !== null)
    unsupported("conversation", "conversation (the Conversations API) is not supported: continue a response with previous_response_id.");
  if (request.prompt !== undefined && request.prompt !== null)
    unsupported("prompt", "prompt (a prompt template stored at OpenAI) is not supported: send the instructions and input themselves.");
  return request;
}

/**
 * The kinds of tool the Responses API offers that moestro cannot serve: they are run by OpenAI's platform (hosted
 * tools) or need a client-side protocol of their own. Listed for the docs and the error messages; every tool whose
 * `type` is not `function` is dropped by the same rule (see {@link toResponseGenerateRequest}).
 */
export const unservedToolKinds = [
  "web_search",
  "web_search_preview",
  "file_search",
  "computer_use_preview",
  "code_interpreter",
  "image_generation",
  "local_shell",
  "shell",
  "apply_patch",
  "mcp",
  "custom",
] as const;

/** The JSON-schema names of a Responses request, for the serving layer's errors (`param`). */
export interface ResponseSchemaParams {
  responseFormat: string;
  toolParameters(index: number): string;
}

/**
 * The input items of a request as a list: a string `input` is one user message. Items get an `id` when they have none
 * (`msg_…`, `fc_…`, `fco_…`), as `GET /v1/responses/{id}/input_items` lists them.
 *
 * @throws {MoestroError} `invalid_request` (400) when there is no input and no `previous_response_id`.
 */
export function inputItemsOf(request: ResponseRequest): InputItem[] {
  const { input } = request;
  if (input === undefined || (Array.isArray(input) && input.length === 0)) {
    if (request.previous_response_id) return [];
    throw new MoestroError("invalid_request", "Invalid 'input': is required; expected a string or an array of input items.", {
      param: "input",
    });
  }
  const items: InputItem[] = typeof input === "string" ? [{ type: "message", role: "user", content: input }] : input;
  return items.map((item) => {
    if (item.id) return item;
    const type = item.type ?? "message";
    const prefix = type === "message" ? "msg_" : type === "function_call" ? "fc_" : type === "function_call_output" ? "fco_" : "item_";
    return { ...item, type, id: createRandomId(prefix) };
  });
}

/**
 * Replaces each `item_reference` item (`{type: "item_reference", id}`) by the item it names, looked up among `known`
 * (the items of the response that `previous_response_id` continues, and those the route found in the store) and then
 * among the request's own items.
 *
 * @throws {MoestroError} `invalid_request` (400) naming `input[i].id` when no such item is known.
 */
export function resolveItemReferences(items: readonly InputItem[], known: readonly InputItem[]): InputItem[] {
  const byId = new Map<string, InputItem>();
  for (const item of [...known, ...items]) if (item.id && item.type !== "item_reference") byId.set(item.id, item);
  return items.map((item, index) => {
    if (item.type !== "item_reference") return item;
    const found = item.id ? byId.get(item.id) : undefined;
    if (found === undefined) {
      throw new MoestroError(
        "invalid_request",
        `input[${index}] references item '${item.id ?? ""}', which is not an item of this conversation nor of a stored response of yours (it may have expired, or been sent with store: false).`,
        { param: `input[${index}].id` },
      );
    }
    return found;
  });
}

/**
 * Translates the conversation (`items`: those carried over by `previous_response_id`, then the request's) to chat
 * messages for the model's template:
 * - `instructions`, then every `system` and `developer` message in order, are merged into one leading system message
 *   (joined by a blank line), as chat completions does, because Qwen templates need the system message first;
 * - `user` and `assistant` messages keep their order; content is a string or parts of type `input_text`,
 *   `output_text`, `text` or `refusal`, joined;
 * - `function_call` items join the assistant turn before them (or open one), and `function_call_output` items become
 *   tool messages;
 * - `reasoning` items are dropped: moestro keeps no encrypted reasoning, and Qwen's templates drop earlier turns'
 *   thoughts anyway.
 *
 * @param paramOf the `param` of item `index` in errors (`input[2]`); items carried over have none of their own.
 * @throws {MoestroError} `unsupported_parameter` (400) naming the part (`input[1].content[0]`) for an image, file or
 *   audio part, and naming the item for an item type moestro cannot serve; `invalid_request` (400) for a bad role or
 *   a call without `call_id`.
 */
export function toChatMessages(
  instructions: string | null | undefined,
  items: readonly InputItem[],
  paramOf: (index: number) => string,
): ChatMessage[] {
  const systemTexts: string[] = instructions ? [instructions] : [];
  const conversation: ChatMessage[] = [];
  for (const [index, item] of items.entries()) {
    const param = paramOf(index);
    const type = item.type ?? "message";
    switch (type) {
      case "message": {
        const text = contentText(item.content, `${param}.content`);
        switch (item.role) {
          case "system":
          case "developer":
            systemTexts.push(text);
            break;
          case "user":
            conversation.push({ role: "user", text });
            break;
          case "assistant":
            conversation.push({ role: "assistant", text });
            break;
          default:
            throw new MoestroError(
              "invalid_request",
              `Invalid '${param}.role': expected 'user', 'assistant', 'system' or 'developer', got ${JSON.stringify(item.role ?? null)}.`,
              { param: `${param}.role` },
            );
        }
        break;
      }
      case "function_call": {
        const call: ToolCall = {
          id: requiredString(item.call_id, `${param}.call_id`),
          name: requiredString(item.name, `${param}.name`),
          arguments: typeof item.arguments === "string" ? item.arguments : JSON.stringify(item.arguments ?? {}),
        };
        const last = conversation.at(-1);
        if (last?.role === "assistant") (last.toolCalls ??= []).push(call);
        else conversation.push({ role: "assistant", text: "", toolCalls: [call] });
        break;
      }
      case "function_call_output":
        conversation.push({
          role: "tool",
          toolCallId: requiredString(item.call_id, `${param}.call_id`),
          text: outputText(item.output, `${param}.output`),
        });
        break;
      case "reasoning":
        break;
      default:
        unsupported(
          param,
          `${param} is an item of type '${type}', which moestro cannot serve: send messages, function_call, function_call_output, reasoning or item_reference items.`,
        );
    }
  }
  const system = systemTexts.filter((text) => text.length > 0);
  return system.length > 0 ? [{ role: "system", text: system.join("\n\n") }, ...conversation] : conversation;
}

/** The text of a message's `content`: a string, or parts joined. */
function contentText(content: unknown, param: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content))
    throw new MoestroError("invalid_request", `Invalid '${param}': expected a string or an array of content parts.`, { param });
  return content.map((part: unknown, index) => partText(part, `${param}[${index}]`)).join("");
}

/** The text of one content part; images, files and audio cannot be served by a text model. */
function partText(part: unknown, param: string): string {
  const { type, text, refusal } = (part ?? {}) as { type?: unknown; text?: unknown; refusal?: unknown };
  if (
    (type === "input_text" || type === "output_text" || type === "text" || type === "summary_text" || type === "reasoning_text") &&
    typeof text === "string"
  )
    return text;
  if (type === "refusal" && typeof refusal === "string") return refusal;
  if (type === "input_image" || type === "input_file" || type === "input_audio")
    unsupported(
      param,
      `${param} is a content part of type '${type}', which is not supported: the model takes text only (parts of type 'input_text').`,
    );
  throw new MoestroError(
    "invalid_request",
    `Invalid '${param}': expected a part of type 'input_text', 'output_text' or 'refusal' with its text, got ${JSON.stringify(type ?? null)}.`,
    { param },
  );
}

/** The text of a `function_call_output`'s `output`: a string, parts (joined), or any other JSON (serialised). */
function outputText(output: unknown, param: string): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return contentText(output, param);
  if (output === undefined || output === null) return "";
  return JSON.stringify(output);
}

function requiredString(value: unknown, param: string): string {
  if (typeof value === "string" && value.length > 0) return value;
  throw new MoestroError("invalid_request", `Invalid '${param}': is required; expected a non-empty string.`, { param });
}

/**
 * Whether a request thinks, from `reasoning.effort` (or the Chat Completions spelling `reasoning_effort`): `none` and
 * `minimal` turn thinking off, `low`, `medium`, `high` and `xhigh` on; absent, the model's default (`undefined`), as
 * chat completions does. Effort does not set a thinking budget.
 *
 * @throws {MoestroError} `invalid_request` (400) with `param: "reasoning.effort"` for any other value (case D22).
 */
export function thinkingFromEffort(request: ResponseRequest): boolean | undefined {
  const fromReasoning = request.reasoning?.effort;
  const effort = fromReasoning ?? request.reasoning_effort;
  if (effort === undefined || effort === null) return undefined;
  const param = fromReasoning !== undefined && fromReasoning !== null ? "reasoning.effort" : "reasoning_effort";
  if (!(reasoningEfforts as readonly string[]).includes(effort)) {
    throw new MoestroError(
      "invalid_request",
      `Invalid '${param}': expected one of ${reasoningEfforts.map((value) => `'${value}'`).join(", ")}, got '${effort}'.`,
      { param },
    );
  }
  return effort !== "none" && effort !== "minimal";
}

/** The function tools of a request, with their index in `tools` as sent (for error params). */
interface ServedTool {
  definition: ToolDefinition;
  index: number;
}

/**
 * Translates a Responses request, given its conversation as chat messages, to moestro's internal request (without an
 * abort signal: the serving layer adds the request's own). Returns the schema param names too: a tool's parameters are
 * named by its index in `tools` as sent.
 *
 * - Tools: `function` tools are served (flat shape: `name`, `description`, `parameters`; `strict` is implied, the
 *   arguments are always decoded under the schema's grammar). Every other kind ({@link unservedToolKinds}) is dropped,
 *   unless `tool_choice` names it, which is a 400.
 * - `tool_choice`: `auto`, `none`, `required`, `{type: "function", name}`, and `{type: "allowed_tools", mode,
 *   tools}` (the listed function tools, `auto` or `required`).
 * - `text.format`: `json_schema` and `json_object` constrain the message (not the reasoning); `text` is free text.
 * - Sampling: `temperature`, `top_p` (and the `top_k`, `min_p`, `seed` extensions); `max_output_tokens` caps the
 *   reasoning and the answer together, as OpenAI counts it.
 *
 * @throws {MoestroError} `invalid_request` (400) for an unknown effort (`reasoning.effort`), a function tool without a
 *   valid name, or a `tool_choice` that names no served function tool; `unsupported_parameter` (400) for a
 *   `tool_choice` naming a tool kind moestro cannot serve.
 */
export function toResponseGenerateRequest(
  request: ResponseRequest,
  messages: ChatMessage[],
): { generateRequest: GenerateRequest; schemaParams: ResponseSchemaParams } {
  const served: ServedTool[] = [];
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (tool.type !== "function") continue;
    const name = tool.name;
    if (name === undefined || !/^[a-zA-Z0-9_.-]{1,64}$/.test(name)) {
      throw new MoestroError("invalid_request", `Invalid 'tools[${index}].name': must be 1 to 64 letters, digits, '_', '.' or '-'.`, {
        param: `tools[${index}].name`,
      });
    }
    served.push({
      index,
      definition: { name, description: tool.description ?? undefined, parameters: tool.parameters ?? undefined },
    });
  }
  const { choice, tools } = toToolChoice(request, served);
  const generateRequest: GenerateRequest = {
    input: { kind: "chat", messages },
    maxTokens: request.max_output_tokens ?? undefined,
    sampling: {
      temperature: request.temperature ?? undefined,
      topP: request.top_p ?? undefined,
      topK: request.top_k ?? undefined,
      minP: request.min_p ?? undefined,
      seed: request.seed ?? undefined,
    },
    stop: [],
    thinking: { enabled: thinkingFromEffort(request) },
    // A request that does not fit is named in this API's words, not Chat Completions' (max_tokens, messages).
    paramNames: { input: "input", maxTokens: "max_output_tokens" },
  };
  if (tools.length > 0) {
    generateRequest.tools = { definitions: tools.map((tool) => tool.definition), choice, parallel: request.parallel_tool_calls ?? true };
  }
  const format = toResponseFormat(request);
  if (format !== undefined) generateRequest.responseFormat = format;
  return {
    generateRequest,
    schemaParams: {
      responseFormat: "text.format.schema",
      toolParameters: (index) => `tools[${tools[index]?.index ?? index}].parameters`,
    },
  };
}

function toResponseFormat(request: ResponseRequest): ResponseFormat | undefined {
  const format = request.text?.format;
  if (format?.type === "json_object") return { type: "json_object" };
  if (format?.type === "json_schema") return { type: "json_schema", name: format.name, schema: format.schema };
  return undefined;
}

/** The internal tool choice and the tools it leaves callable. */
function toToolChoice(request: ResponseRequest, served: ServedTool[]): { choice: ToolChoice; tools: ServedTool[] } {
  const choice = request.tool_choice;
  if (choice === undefined || choice === null || choice === "auto") return { choice: { type: "auto" }, tools: served };
  if (choice === "none") return { choice: { type: "none" }, tools: served };
  if (choice === "required") {
    if (served.length === 0) throw noFunctionTools("tool_choice", "tool_choice 'required' needs at least one function tool");
    return { choice: { type: "required" }, tools: served };
  }
  if (choice.type === "function") {
    const name = choice.name;
    if (!served.some((tool) => tool.definition.name === name)) {
      throw new MoestroError(
        "invalid_request",
        `tool_choice names the function '${name ?? ""}', which is not among the function tools of this request.`,
        { param: "tool_choice.name" },
      );
    }
    return { choice: { type: "function", name: name! }, tools: served };
  }
  if (choice.type === "allowed_tools") {
    const listed = Array.isArray(choice.tools) ? (choice.tools as Array<{ type?: unknown; name?: unknown }>) : [];
    const names = new Set(listed.filter((tool) => tool?.type === "function").map((tool) => tool.name));
    const tools = served.filter((tool) => names.has(tool.definition.name));
    const mode = choice.mode ?? "auto";
    if (mode === "required") {
      if (tools.length === 0)
        throw noFunctionTools("tool_choice.tools", "tool_choice allowed_tools in mode 'required' lists no function tool of this request");
      return { choice: { type: "required" }, tools };
    }
    if (mode !== "auto")
      throw new MoestroError("invalid_request", `Invalid 'tool_choice.mode': expected 'auto' or 'required'.`, {
        param: "tool_choice.mode",
      });
    return { choice: { type: "auto" }, tools };
  }
  return unsupported(
    "tool_choice",
    `tool_choice names a tool of type '${choice.type}', which moestro cannot serve: only function tools run here (tools of other kinds are dropped).`,
  );
}

function noFunctionTools(param: string, what: string): MoestroError {
  return new MoestroError("invalid_request", `${what} (tools of kinds other than function are dropped: moestro cannot serve them).`, {
    param,
  });
}

function unsupported(param: string, message: string): never {
  throw new MoestroError("unsupported_parameter", message, { param });
}
