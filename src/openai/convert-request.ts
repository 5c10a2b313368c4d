import type { z } from "zod";
import { MoestroError } from "../errors/index.js";
import type { ChatMessage, GenerateRequest, SamplingOptions } from "../spec/index.js";
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  type ChatCompletionRequest,
  type ChatMessageInput,
  type CompletionRequest,
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

function parseWith<Schema extends z.ZodTypeAny>(schema: Schema, body: unknown): z.infer<Schema> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MoestroError("invalid_request", "The request body must be a JSON object.");
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = formatParam(issue.path);
  const detail = issue.code === "invalid_type" && issue.received === "undefined" ? "is required" : issue.message;
  throw new MoestroError("invalid_request", `Invalid '${param}': ${detail}.`, { param });
}

/** `["messages", 0, "content"]` → `messages[0].content`. */
function formatParam(path: ReadonlyArray<string | number>): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part), "");
}

/**
 * Translates a chat completion request to moestro's internal request.
 *
 * System and developer messages are merged, in order, into one leading system message before templating, because
 * OpenAI accepts them anywhere while Qwen templates raise an error when a system message is not first (case C22).
 *
 * @throws {MoestroError} `unsupported_parameter` (400) for an option that cannot be honoured yet (tools, logprobs,
 *   structured output, non-text content parts): it is never silently ignored.
 */
export function toChatGenerateRequest(request: ChatCompletionRequest, signal?: AbortSignal): GenerateRequest {
  if (request.logprobs) unsupported("logprobs", "Token log-probabilities are not supported yet.");
  if (request.top_logprobs !== undefined && request.top_logprobs !== null && request.top_logprobs > 0) {
    unsupported("top_logprobs", "Token log-probabilities are not supported yet.");
  }
  const toolChoiceIsNone = request.tool_choice === "none";
  if (request.tools && request.tools.length > 0 && !toolChoiceIsNone) unsupported("tools", "Tool calling is not supported yet.");
  if (request.response_format && request.response_format.type !== "text") {
    unsupported("response_format", `response_format of type '${request.response_format.type}' is not supported yet.`);
  }
  return {
    input: { kind: "chat", messages: normalizeMessages(request.messages) },
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    sampling: toSampling(request),
    stop: toStopList(request.stop),
    signal,
  };
}

/**
 * Translates a completion request to moestro's internal request.
 *
 * @throws {MoestroError} `unsupported_parameter` (400) for `echo`, `suffix`, `best_of` above 1 and `logprobs`.
 */
export function toCompletionGenerateRequest(request: CompletionRequest, signal?: AbortSignal): GenerateRequest {
  if (request.echo) unsupported("echo", "echo is not supported.");
  if (request.suffix) unsupported("suffix", "suffix (fill-in-the-middle) is not supported.");
  if ((request.best_of ?? 1) > 1) unsupported("best_of", "best_of above 1 is not supported; use n.");
  if (request.logprobs !== undefined && request.logprobs !== null) unsupported("logprobs", "Token log-probabilities are not supported yet.");
  const prompt = typeof request.prompt === "string" ? request.prompt : request.prompt[0]!;
  return {
    input: { kind: "completion", prompt },
    maxTokens: request.max_tokens ?? undefined,
    sampling: toSampling(request),
    stop: toStopList(request.stop),
    signal,
  };
}

/** Sampling options common to both endpoints. */
function toSampling(request: ChatCompletionRequest | CompletionRequest): SamplingOptions {
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

function toStopList(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((text) => text.length > 0);
}

/**
 * Normalises OpenAI messages to text messages: content parts are joined in order, system and developer messages are
 * merged into one leading system message (joined with a blank line), and roles are mapped.
 *
 * @throws {MoestroError} `unsupported_parameter` naming the part (`messages[1].content[0]`) for a non-text content part,
 *   and naming the message for tool messages.
 */
export function normalizeMessages(messages: readonly ChatMessageInput[]): ChatMessage[] {
  const systemTexts: string[] = [];
  const conversation: ChatMessage[] = [];
  messages.forEach((message, index) => {
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
        if (message.tool_calls && message.tool_calls.length > 0) {
          unsupported(`messages[${index}].tool_calls`, "Tool calls in assistant messages are not supported yet.");
        }
        conversation.push({ role: "assistant", text });
        break;
      case "tool":
      case "function":
        unsupported(`messages[${index}].role`, `Messages with role '${message.role}' are not supported yet (tool calling).`);
        break;
      default:
        return message.role satisfies never;
    }
  });
  return systemTexts.length > 0 ? [{ role: "system", text: systemTexts.join("\n\n") }, ...conversation] : conversation;
}

function contentText(message: ChatMessageInput, index: number): string {
  const { content } = message;
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content
    .map((part, partIndex) => {
      if (part.type === "text" && typeof part.text === "string") return part.text;
      if (part.type === "refusal" && message.role === "assistant" && typeof part.refusal === "string") return part.refusal;
      return unsupported(
        `messages[${index}].content[${partIndex}]`,
        `Content parts of type '${part.type}' are not supported: the model takes text only.`,
      );
    })
    .join("");
}

function unsupported(param: string, message: string): never {
  throw new MoestroError("unsupported_parameter", message, { param });
}
