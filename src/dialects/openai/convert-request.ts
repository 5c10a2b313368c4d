import { checkCacheBreakpointCount, isCacheMarked } from "../cache-control.js";
import type { z } from "zod";
import { MoestroError } from "../../errors/index.js";
import { maxTimerDelayMs, parseDurationMs } from "../../util/duration.js";
import type { ChatMessage, GenerateRequest, SamplingOptions, ToolChoice } from "../../spec/index.js";
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
  type ChatCompletionRequest,
  type ChatMessageInput,
  type CompletionRequest,
  type EmbeddingRequest,
} from "./schemas.js";

/**
 * Validates a chat completion body.
 *
 * @throws {MoestroError} `invalid_request` (400) whose `param` names the first invalid field, in OpenAI's spelling
 *   (`max_tokens`, `messages[1].role`).
 */
export function parseChatCompletionRequest(body: unknown): ChatCompletionRequest {
  return parseWith(chatCompletionRequestSchema, body);
}

/**
 * Validates a completion body.
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field.
 */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  return parseWith(completionRequestSchema, body);
}

/**
 * The top-level fields of a request `body` that `schema` does not know, and `user`: what an upstream gets as the
 * client sent it (`GenerateRequest.passthrough`); `undefined` when there are none.
 */
export function passthroughFields(body: unknown, schema: z.AnyZodObject): Record<string, unknown> | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const known = schema.shape as Record<string, unknown>;
  let fields: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(body)) {
    if ((name in known && name !== "user") || value === undefined || value === null) continue;
    (fields ??= {})[name] = value;
  }
  return fields;
}

/**
 * Validates an embeddings body.
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field.
 */
export function parseEmbeddingRequest(body: unknown): EmbeddingRequest {
  return parseWith(embeddingRequestSchema, body);
}

/**
 * Validates a JSON request body (a JSON object) with `schema`, for any route: the dialect's and the admin endpoints'.
 *
 * @throws {MoestroError} `invalid_request` (400) when the body is not a JSON object, or naming the first invalid field
 *   (`param`, in the body's spelling: `messages[1].role`) and what was expected; an issue with the body as a whole (an
 *   unknown field of a strict schema) has no `param`.
 */
export function parseWith<Schema extends z.ZodTypeAny>(schema: Schema, body: unknown): z.infer<Schema> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MoestroError("invalid_request", "The request body must be a JSON object.");
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = formatParam(issue.path);
  const description = describeIssue(issue, valueAt(body, issue.path));
  if (param === "") throw new MoestroError("invalid_request", `Invalid request body: ${description}.`);
  throw new MoestroError("invalid_request", `Invalid '${param}': ${description}.`, { param });
}

/**
 * What a zod issue says, in words that name what was expected: `is required; expected a string`, `expected an
 * integer, got a string`, or the schema's own message (`expected a string or an array of one string`).
 */
function describeIssue(issue: z.ZodIssue, value: unknown): string {
  if (issue.code === "invalid_type") {
    const expected = describeType(issue.expected);
    if (issue.received === "undefined") return `is required; expected ${expected}`;
    return `expected ${expected}, got ${describeType(issue.received)}`;
  }
  if (value === undefined && (issue.code === "invalid_union" || issue.code === "custom")) return `is required; ${issue.message}`;
  return issue.message;
}

/** zod's type names (`string`, `integer`, `array`, `'a' | 'b'`) in words (`a string`, `an integer`, `one of 'a', 'b'`). */
function describeType(type: string): string {
  if (type.includes(" | ")) return `one of ${type.split(" | ").join(", ")}`;
  if (type === "null" || type === "undefined" || type === "nan" || type === "unknown" || type.startsWith("'")) return type;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The value at a zod issue's path in the body, or `undefined`. */
function valueAt(body: unknown, path: ReadonlyArray<string | number>): unknown {
  let value = body;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** `["messages", 0, "content"]` → `messages[0].content`. */
function formatParam(path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part), "");
}

/**
 * How OpenAI's requests name their JSON schemas in errors (`param`), for the serving layer's schema checks: the
 * structured-output schema and each tool's parameters, by the tool's index in `tools`.
 */
export const openAiSchemaParams = {
  responseFormat: "response_format.json_schema.schema",
  toolParameters: (index: number): string => `tools[${index}].function.parameters`,
} as const;

/**
 * Translates a chat completion request to moestro's internal request (without an abort signal: the serving layer adds
 * the request's own).
 *
 * - System and developer messages are merged, in order, into one leading system message before templating, because
 *   OpenAI accepts them anywhere while Qwen templates raise an error when a system message is not first (case C22, docs/compat-cases.md).
 * - Thinking is switched by any common spelling, first found wins: `enable_thinking` (DashScope),
 *   `chat_template_kwargs.enable_thinking` (vLLM, llama.cpp), `reasoning_effort` (`"none"` and `"minimal"` are off, other values on),
 *   then Qwen's soft switches `/no_think` and `/think` in the last user or system message. `thinking_budget` caps it.
 *
 * @throws {MoestroError} `invalid_request` (400) for inconsistent options (`top_logprobs` without `logprobs`).
 */
export function toChatGenerateRequest(request: ChatCompletionRequest): GenerateRequest {
  if (request.top_logprobs !== undefined && request.top_logprobs !== null && !request.logprobs) {
    throw new MoestroError("invalid_request", "top_logprobs needs logprobs set to true.", { param: "top_logprobs" });
  }
  const messages = normalizeMessages(request.messages);
  const generateRequest: GenerateRequest = {
    input: { kind: "chat", messages },
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    sampling: toSampling(request),
    stop: toStopList(request.stop),
    thinking: { enabled: thinkingSwitch(request, messages), budgetTokens: request.thinking_budget ?? undefined },
  };
  if (request.speculative !== undefined && request.speculative !== null) generateRequest.speculative = request.speculative;
  const logitBias = toLogitBias(request.logit_bias);
  if (logitBias !== undefined) generateRequest.logitBias = logitBias;
  const cacheBreakpoints = toCacheBreakpoints(request.messages);
  if (cacheBreakpoints !== undefined) generateRequest.cacheBreakpoints = cacheBreakpoints;
  if (request.logprobs) generateRequest.logprobs = { top: request.top_logprobs ?? 0 };
  const tools = request.tools ?? [];
  if (tools.length > 0) {
    generateRequest.tools = {
      definitions: tools.map((tool) => ({
        name: tool.function.name,
        description: tool.function.description,
        parameters: tool.function.parameters,
      })),
      choice: toToolChoice(request.tool_choice),
      parallel: request.parallel_tool_calls ?? true,
    };
  } else if (
    request.tool_choice !== undefined &&
    request.tool_choice !== null &&
    request.tool_choice !== "none" &&
    request.tool_choice !== "auto"
  ) {
    throw new MoestroError("invalid_request", "tool_choice needs tools.", { param: "tool_choice" });
  }
  const format = request.response_format;
  if (format?.type === "json_object") generateRequest.responseFormat = { type: "json_object" };
  if (format?.type === "json_schema") {
    generateRequest.responseFormat = {
      type: "json_schema",
      name: format.json_schema.name,
      schema: format.json_schema.schema ?? { type: "object" },
    };
  }
  return generateRequest;
}

function toToolChoice(choice: ChatCompletionRequest["tool_choice"]): ToolChoice {
  if (choice === undefined || choice === null || choice === "auto") return { type: "auto" };
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "required" };
  return { type: "function", name: choice.function.name };
}

/** The thinking switch of a request, or `undefined` to use the model's default. */
function thinkingSwitch(request: ChatCompletionRequest, messages: readonly ChatMessage[]): boolean | undefined {
  const explicit = request.enable_thinking ?? request.chat_template_kwargs?.enable_thinking;
  if (explicit !== undefined && explicit !== null) return explicit;
  // The same rule as the Responses API's reasoning.effort (case D22): none and minimal off, low and above on.
  if (request.reasoning_effort) return request.reasoning_effort !== "none" && request.reasoning_effort !== "minimal";
  // Qwen3's soft switch: the most recent /think or /no_think in a user or system message decides.
  for (const message of [...messages].reverse()) {
    if (message.role !== "user" && message.role !== "system") continue;
    const switches = message.text.match(/\/(no_think|think)\b/g);
    if (switches) return switches.at(-1) === "/think";
  }
  return undefined;
}

/**
 * Translates a completion request to moestro's internal request.
 *
 * @throws {MoestroError} `unsupported_parameter` (400) for `echo`, `suffix`, `best_of` above 1 and `logprobs`.
 */
export function toCompletionGenerateRequest(request: CompletionRequest): GenerateRequest {
  if (request.echo) unsupported("echo", "echo is not supported.");
  if (request.suffix) unsupported("suffix", "suffix (fill-in-the-middle) is not supported.");
  if ((request.best_of ?? 1) > 1) unsupported("best_of", "best_of above 1 is not supported; use n.");
  if (request.logprobs !== undefined && request.logprobs !== null)
    unsupported(
      "logprobs",
      "logprobs is not supported on /v1/completions yet: token log-probabilities come from /v1/chat/completions with logprobs: true.",
    );
  const prompt = typeof request.prompt === "string" ? request.prompt : request.prompt[0]!;
  const logitBias = toLogitBias(request.logit_bias);
  return {
    input: { kind: "completion", prompt },
    maxTokens: request.max_tokens ?? undefined,
    sampling: toSampling(request),
    stop: toStopList(request.stop),
    ...(request.speculative === undefined || request.speculative === null ? {} : { speculative: request.speculative }),
    ...(logitBias === undefined ? {} : { logitBias }),
  };
}

/** `logit_bias` (validated by the schema: digit-string keys, biases -100 to 100) as `[token, bias]` pairs; `undefined` when empty. */
function toLogitBias(bias: Record<string, number> | null | undefined): GenerateRequest["logitBias"] {
  if (bias === undefined || bias === null) return undefined;
  const pairs = Object.entries(bias).map(([token, value]) => [Number(token), value] as const);
  return pairs.length > 0 ? pairs : undefined;
}

/**
 * OpenAI Chat Completions options that only a remote server could honour, each with why: a request carrying one is
 * refused (400 `unsupported_parameter` naming it) when a local engine serves it, and an upstream gets it as it came
 * (docs/api.md, "Request options"). Options with no effect here that change nothing a client can rely on (`metadata`,
 * `service_tier`, `verbosity`, `prompt_cache_key`, `safety_identifier`; `prediction`, a speed hint that never changes the
 * answer; `store`, as editors and agent frameworks send it by default) are documented no-ops instead, not listed.
 */
const chatOptionsRefusedLocally: ReadonlyArray<{ param: string; refuses: (value: unknown) => boolean; message: string }> = [
  {
    param: "functions",
    refuses: () => true,
    message:
      'functions (the deprecated function-calling API) is not supported: declare tools ({"type": "function", "function": {…}}) instead.',
  },
  {
    param: "function_call",
    refuses: () => true,
    message: "function_call (the deprecated function-calling API) is not supported: use tool_choice with tools instead.",
  },
  {
    param: "modalities",
    refuses: (value) => !(Array.isArray(value) && value.every((modality) => modality === "text")),
    message: 'modalities other than ["text"] are not supported: the models served here write text only.',
  },
  { param: "audio", refuses: () => true, message: "audio output is not supported: the models served here write text only." },
  {
    param: "web_search_options",
    refuses: () => true,
    message: "web_search_options is not supported: the models served here cannot search the web.",
  },
];

/**
 * The first option of a chat completion `body` that a local engine cannot honour (`GenerateRequest.refusedLocally`),
 * or `undefined`. Such options are not in the request schema, so they reach an upstream untouched (`passthroughFields`).
 */
export function chatOptionRefusedLocally(body: unknown): GenerateRequest["refusedLocally"] {
  if (typeof body !== "object" || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  for (const option of chatOptionsRefusedLocally) {
    const value = fields[option.param];
    if (value !== undefined && value !== null && option.refuses(value)) return { param: option.param, message: option.message };
  }
  return undefined;
}

/** The sampler fields a request may carry, named as OpenAI names them (Ollama's `options` use the same names). */
export interface WireSamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
}

/**
 * Sampling options of a request: chat completions and completions, and Ollama's `options` (docs/ollama.md, "Options").
 * Absent and `null` fields are the model's defaults.
 */
export function toSampling(request: WireSamplingFields): SamplingOptions {
  return {
    temperature: request.temperature ?? undefined,
    topP: request.top_p ?? undefined,
    topK: request.top_k ?? undefined,
    minP: request.min_p ?? undefined,
    seed: request.seed ?? undefined,
    presencePenalty: request.presence_penalty ?? undefined,
    frequencyPenalty: request.frequency_penalty ?? undefined,
  };
}

/** A request's `stop` (one string or a list) as a list, empty strings dropped. */
export function toStopList(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((text) => text.length > 0);
}

/**
 * Normalises OpenAI messages to text messages: content parts are joined in order, system and developer messages are
 * merged into one leading system message (joined with a blank line), and roles are mapped.
 *
 * @throws {MoestroError} `unsupported_parameter` naming the part (`messages[1].content[0]`) for a non-text content
 *   part; `invalid_request` for a tool message without `tool_call_id`, or a message other than the assistant's without
 *   `content` (or with `content: null`), naming `messages[i].content`.
 */
export function normalizeMessages(messages: readonly ChatMessageInput[]): ChatMessage[] {
  const systemTexts: string[] = [];
  const conversation: ChatMessage[] = [];
  for (const [index, message] of messages.entries()) {
    const text = contentText(message, index);
    switch (message.role) {
      case "system":
      case "developer":
        systemTexts.push(text);
        break;
      case "user":
        conversation.push({ role: "user", text });
        break;
      case "assistant":
        conversation.push({
          role: "assistant",
          text,
          toolCalls: message.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments })),
        });
        break;
      case "tool":
        if (!message.tool_call_id) {
          throw new MoestroError(
            "invalid_request",
            `messages[${index}].tool_call_id is missing: a message with role 'tool' must name the tool call it answers.`,
            { param: `messages[${index}].tool_call_id` },
          );
        }
        conversation.push({ role: "tool", toolCallId: message.tool_call_id, text });
        break;
      case "function":
        unsupported(
          `messages[${index}].role`,
          `messages[${index}].role is 'function' (the deprecated function-calling API), which is not supported: declare tools and answer their calls with role 'tool'.`,
        );
        break;
      default:
        message.role satisfies never;
    }
  }
  return systemTexts.length > 0 ? [{ role: "system", text: systemTexts.join("\n\n") }, ...conversation] : conversation;
}

/**
 * The chat prefixes of the `cache_control` markers (Model Studio's explicit cache: `{"type": "ephemeral"}` on a
 * content part, or on a message), in request order: for each, the messages cut after the marked part (or message) and
 * normalised as the whole list is; `undefined` when none is marked (docs/context-cache.md).
 *
 * @throws {MoestroError} `invalid_request` (400) for a marker that is not `{"type": "ephemeral"}`, or more than 4.
 */
export function toCacheBreakpoints(messages: readonly ChatMessageInput[]): ChatMessage[][] | undefined {
  const cuts: ChatMessageInput[][] = [];
  for (const [index, message] of messages.entries()) {
    const before = messages.slice(0, index);
    if (Array.isArray(message.content)) {
      for (const [partIndex, part] of message.content.entries()) {
        if (!isCacheMarked(part.cache_control, `messages[${index}].content[${partIndex}].cache_control`)) continue;
        // Tool calls come after the content: a prefix cut at a part holds none of them.
        cuts.push([...before, { ...message, content: message.content.slice(0, partIndex + 1), tool_calls: undefined }]);
      }
    }
    if (isCacheMarked((message as { cache_control?: unknown }).cache_control, `messages[${index}].cache_control`))
      cuts.push([...before, message]);
  }
  if (cuts.length === 0) return undefined;
  checkCacheBreakpointCount(cuts.length);
  return cuts.map((cut) => normalizeMessages(cut));
}

function contentText(message: ChatMessageInput, index: number): string {
  const { content } = message;
  if (content === undefined || content === null) {
    // OpenAI requires content on every message but the assistant's (which may hold only tool calls, or be a prefill).
    // (A 'function' message is refused by its role.)
    if (message.role === "assistant" || message.role === "function") return "";
    const param = `messages[${index}].content`;
    throw new MoestroError(
      "invalid_request",
      `Invalid '${param}': is required; a message with role '${message.role}' needs content (a string or an array of content parts).`,
      { param },
    );
  }
  if (typeof content === "string") return content;
  return content
    .map((part, partIndex) => {
      if (part.type === "text" && typeof part.text === "string") return part.text;
      if (part.type === "refusal" && message.role === "assistant" && typeof part.refusal === "string") return part.refusal;
      const param = `messages[${index}].content[${partIndex}]`;
      if (part.type === "refusal") {
        return unsupported(
          param,
          `${param} is a 'refusal' part in a message with role '${message.role}': refusal parts belong to assistant messages (send text parts here).`,
        );
      }
      return unsupported(
        param,
        `${param} is a content part of type '${part.type}', which is not supported: the model takes text only (parts of type 'text').`,
      );
    })
    .join("");
}

function unsupported(param: string, message: string): never {
  throw new MoestroError("unsupported_parameter", message, { param });
}

/**
 * Converts Ollama's `keep_alive` to ms: a number is seconds, a string is a duration (`"5m"`, `"1h30m"`, `"90s"`) or a
 * number of seconds; negative means forever (returned as -1), and so does anything longer than about 24.8 days (what a
 * Node timer can hold); 0 unloads after the request.
 *
 * @returns `undefined` when absent.
 * @throws {MoestroError} `invalid_request` (400) naming `keep_alive` when it cannot be read.
 */
export function parseKeepAliveMs(value: number | string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === "number" ? value : /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : undefined;
  if (seconds !== undefined) return seconds < 0 ? -1 : forEverPastTimerRange(Math.round(seconds * 1000));
  const text = String(value).trim();
  const negative = text.startsWith("-");
  const ms = parseDurationMs(negative ? text.slice(1) : text);
  if (ms === undefined)
    throw new MoestroError("invalid_request", `Invalid 'keep_alive': '${text}' is neither seconds nor a duration such as 5m or 1h.`, {
      param: "keep_alive",
    });
  return negative ? -1 : forEverPastTimerRange(ms);
}

/** A keep-alive past what a timer can hold means "keep it loaded" (-1): the model would otherwise unload at once. */
function forEverPastTimerRange(ms: number): number {
  return ms > maxTimerDelayMs ? -1 : ms;
}
