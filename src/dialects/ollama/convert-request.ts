import { MoestroError } from "../../errors/index.js";
import type { ChatMessage, GenerateRequest, ResponseFormat, SamplingOptions, ToolCall } from "../../spec/index.js";
import { maxTimerDelayMs, parseDurationMs } from "../../util/duration.js";
import { parseWith, toSampling, toStopList } from "../openai/convert-request.js";
import {
  type OllamaChatRequest,
  type OllamaGenerateRequest,
  type OllamaMessageInput,
  type OllamaOptions,
  ollamaChatRequestSchema,
  ollamaGenerateRequestSchema,
} from "./schemas.js";

/**
 * How Ollama's requests name their JSON schemas in errors (`param`), for the serving layer's schema checks: `format`
 * and each tool's parameters.
 */
export const ollamaSchemaParams = {
  responseFormat: "format",
  toolParameters: (index: number): string => `tools[${index}].function.parameters`,
} as const;

/**
 * Validates an `/api/chat` body.
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field (`messages[1].role`).
 */
export function parseOllamaChatRequest(body: unknown): OllamaChatRequest {
  return parseWith(ollamaChatRequestSchema, body);
}

/**
 * Validates an `/api/generate` body.
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field.
 */
export function parseOllamaGenerateRequest(body: unknown): OllamaGenerateRequest {
  return parseWith(ollamaGenerateRequestSchema, body);
}

/**
 * Reads Ollama's `keep_alive` as Ollama does (docs/api.md "keep_alive"; the FAQ "How do I keep a model loaded in
 * memory"): a number is seconds; a string is a Go duration (`"10m"`, `"1h30m"`, `"-1m"`, and `"0"`, the one duration Go
 * reads without a unit); a negative value keeps the model loaded (returned as -1), and so does one longer than a Node
 * timer holds (about 24.8 days); 0 unloads the model once the request ends.
 *
 * @returns ms, or `undefined` when absent (the model's keep-alive applies).
 * @throws {MoestroError} `invalid_request` (400, `param: "keep_alive"`) for a string without a unit (`"-1"`, `"300"`):
 *   Ollama refuses it with "missing unit in duration" (case D17), so moestro does too rather than guess seconds.
 */
export function parseOllamaKeepAliveMs(value: number | string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value < 0 ? -1 : capped(Math.round(value * 1000));
  const text = value.trim();
  const negative = text.startsWith("-");
  const magnitude = negative ? text.slice(1) : text;
  if (magnitude === "0") return 0;
  const ms = parseDurationMs(magnitude);
  if (ms === undefined) {
    const missingUnit = /^\d+(\.\d+)?$/.test(magnitude);
    throw new MoestroError(
      "invalid_request",
      missingUnit
        ? `time: missing unit in duration "${text}": keep_alive as a string is a duration such as "10m" or "-1m"; send a number for seconds (-1 keeps the model loaded).`
        : `time: invalid duration "${text}": keep_alive is a number of seconds or a duration such as "10m", "1h30m" or "-1m".`,
      { param: "keep_alive" },
    );
  }
  return negative ? -1 : capped(ms);
}

function capped(ms: number): number {
  return ms > maxTimerDelayMs ? -1 : ms;
}

/**
 * Translates an `/api/chat` request with at least one message to moestro's request.
 *
 * - System messages are merged, in order, into one leading system message (Qwen templates want it first).
 * - Assistant `tool_calls` (arguments as objects, or strings as some clients send) become history with ids `call_<m>_<k>`;
 *   a `tool` message answers the call named by `tool_call_id`, else the earliest unanswered call of its `tool_name`, else
 *   the earliest unanswered call (case D12). An assistant's `thinking` in history is dropped, as Qwen's template does.
 * - `think`, `format`, `options` and `tools`: see {@link toOllamaSampling}, {@link toResponseFormat}.
 *
 * @throws {MoestroError} `unsupported_parameter` (400) naming `messages[i].images` (moestro's models read text only);
 *   `invalid_request` (400) for a `tool` message with no call to answer.
 */
export function toOllamaChatGenerateRequest(request: OllamaChatRequest): GenerateRequest {
  const messages = normalizeMessages(request.messages ?? []);
  const generateRequest = baseRequest(request, { kind: "chat", messages });
  const tools = request.tools ?? [];
  if (tools.length > 0) {
    generateRequest.tools = {
      definitions: tools.map((tool) => ({
        name: tool.function.name,
        description: tool.function.description ?? undefined,
        parameters: tool.function.parameters ?? undefined,
      })),
      choice: { type: "auto" },
      parallel: true,
    };
  }
  return generateRequest;
}

/**
 * Translates an `/api/generate` request with a prompt to moestro's request: the prompt is one user turn rendered with
 * the model's chat template (after `system`, when given), or, with `raw: true`, the text completed as it is.
 *
 * @throws {MoestroError} `unsupported_parameter` (400) naming `images`, `suffix` (fill-in-the-middle), `template` (a
 *   custom prompt template: send `raw: true` with the templated prompt instead), `context` (moestro returns no context
 *   tokens, so it never has one to continue), or `format` with `raw: true` (structured output needs the chat template).
 */
export function toOllamaGenerateRequest(request: OllamaGenerateRequest): GenerateRequest {
  if ((request.images ?? []).length > 0) unsupported("images", imagesMessage("images"));
  if (request.suffix) unsupported("suffix", "suffix (fill-in-the-middle) is not supported: send the whole prompt.");
  if (request.template)
    unsupported("template", "template (a custom prompt template) is not supported: send raw: true with the prompt already templated.");
  if ((request.context ?? []).length > 0)
    unsupported(
      "context",
      "context (the token ids of an earlier /api/generate answer) is not supported: moestro returns none; send the conversation to /api/chat.",
    );
  const prompt = request.prompt ?? "";
  if (request.raw) {
    if (request.format) unsupported("format", "format needs the chat template: it cannot be combined with raw: true.");
    return baseRequest({ ...request, think: undefined, format: undefined }, { kind: "completion", prompt });
  }
  const messages: ChatMessage[] = [];
  if (request.system) messages.push({ role: "system", text: request.system });
  messages.push({ role: "user", text: prompt });
  return baseRequest(request, { kind: "chat", messages });
}

/** What chat and generate share: sampling from `options`, thinking from `think`, structured output from `format`. */
function baseRequest(request: Pick<OllamaChatRequest, "think" | "format" | "options">, input: GenerateRequest["input"]): GenerateRequest {
  const options = request.options ?? {};
  const generateRequest: GenerateRequest = {
    input,
    maxTokens:
      options.num_predict !== undefined && options.num_predict !== null && options.num_predict > 0 ? options.num_predict : undefined,
    sampling: toOllamaSampling(options),
    stop: toStopList(options.stop),
  };
  if (input.kind === "chat") {
    // Levels (low … max) mean "think": Qwen models have one thinking mode. Absent: the model's default.
    const think = request.think;
    generateRequest.thinking = { enabled: think === undefined || think === null ? undefined : think !== false };
    const format = toResponseFormat(request.format);
    if (format !== undefined) generateRequest.responseFormat = format;
  }
  return generateRequest;
}

/**
 * Ollama's `format` as moestro's structured output: `"json"` is any JSON object (Ollama's JSON mode), an object is a
 * JSON schema; the grammar applies to the answer after the thought, never to the thought (case D14).
 */
export function toResponseFormat(format: OllamaChatRequest["format"]): ResponseFormat | undefined {
  if (format === undefined || format === null || format === "") return undefined;
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", name: "format", schema: format };
}

/**
 * The `options` that map to moestro's sampler (Ollama's Modelfile parameters: docs/modelfile.md "Valid Parameters and
 * Values"): `temperature`, `top_k`, `top_p`, `min_p`, `seed`, `presence_penalty`, `frequency_penalty`. `num_predict`
 * and `stop` are read by the caller. `num_ctx` is accepted and ignored: a model's context is fixed when it loads
 * (`--ctx-size`), and `/api/show` and `/api/ps` say which. `repeat_penalty` (multiplicative, over the last
 * `repeat_last_n` tokens) has no equivalent in moestro's sampler and is ignored, as is every other option
 * (docs/ollama.md, "Options").
 */
export function toOllamaSampling(options: OllamaOptions): SamplingOptions {
  // Ollama's option names are OpenAI's.
  return toSampling(options);
}

/** Ollama's chat messages as moestro's (see {@link toOllamaChatGenerateRequest}). */
function normalizeMessages(messages: readonly OllamaMessageInput[]): ChatMessage[] {
  const systemTexts: string[] = [];
  const conversation: ChatMessage[] = [];
  /** Calls made in history and not answered yet, oldest first. */
  const unanswered: ToolCall[] = [];
  for (const [index, message] of messages.entries()) {
    if ((message.images ?? []).length > 0) unsupported(`messages[${index}].images`, imagesMessage(`messages[${index}].images`));
    const text = message.content ?? "";
    switch (message.role) {
      case "system":
        systemTexts.push(text);
        break;
      case "user":
        conversation.push({ role: "user", text });
        break;
      case "assistant": {
        const toolCalls = (message.tool_calls ?? []).map(
          (call, callIndex): ToolCall => ({
            id: call.id ?? `call_${index}_${callIndex}`,
            name: call.function.name,
            arguments:
              typeof call.function.arguments === "string" ? call.function.arguments : JSON.stringify(call.function.arguments ?? {}),
          }),
        );
        unanswered.push(...toolCalls);
        conversation.push(toolCalls.length > 0 ? { role: "assistant", text, toolCalls } : { role: "assistant", text });
        break;
      }
      case "tool": {
        const position = answeredCallPosition(unanswered, message);
        if (position < 0) {
          throw new MoestroError(
            "invalid_request",
            `messages[${index}] has role 'tool' but answers no tool call: no earlier assistant message made an unanswered call${message.tool_name ? ` to '${message.tool_name}'` : ""}.`,
            { param: `messages[${index}]` },
          );
        }
        const [call] = unanswered.splice(position, 1);
        conversation.push({ role: "tool", toolCallId: call!.id, text });
        break;
      }
      default:
        message.role satisfies never;
    }
  }
  return systemTexts.length > 0 ? [{ role: "system", text: systemTexts.join("\n\n") }, ...conversation] : conversation;
}

/** Which unanswered call a tool message answers: by `tool_call_id`, else by `tool_name`, else the oldest; -1 for none. */
function answeredCallPosition(unanswered: readonly ToolCall[], message: OllamaMessageInput): number {
  if (message.tool_call_id) {
    const byId = unanswered.findIndex((call) => call.id === message.tool_call_id);
    if (byId >= 0) return byId;
  }
  if (message.tool_name) {
    const byName = unanswered.findIndex((call) => call.name === message.tool_name);
    if (byName >= 0) return byName;
  }
  return unanswered.length > 0 ? 0 : -1;
}

function imagesMessage(param: string): string {
  return `${param} is not supported: the models moestro serves read text only (no vision).`;
}

function unsupported(param: string, message: string): never {
  throw new MoestroError("unsupported_parameter", message, { param });
}
