import type { ChatMessage, GenerateRequest, SamplingOptions, ToolChoice } from "../../spec/index.js";
import type { UpstreamKind } from "./upstream-target.js";

/** An OpenAI request for an upstream: the path under its base URL and the JSON body. */
export interface UpstreamRequestBody {
  /** `/v1/chat/completions` or `/v1/completions`. */
  path: "/v1/chat/completions" | "/v1/completions";
  body: Record<string, unknown>;
}

/**
 * Translates moestro's request into the OpenAI Chat Completions request an upstream takes (or a Completions request for
 * a raw prompt), so that every dialect moestro speaks reaches any OpenAI-compatible server: streamed with
 * `stream_options.include_usage` (its usage comes back with the last chunk), or, for a request whose answer is
 * collected whole (`request.whole`: the client did not ask for a stream), not streamed (one JSON body, with its usage):
 * - messages: system, user, assistant (with `tool_calls`) and tool messages, in OpenAI's shape;
 * - tools, `tool_choice`, `parallel_tool_calls`, `response_format` (`json_object`, or `json_schema` with `strict`);
 * - sampling: `temperature`, `top_p`, `seed`, `presence_penalty`, `frequency_penalty` for every kind; `top_k` and `min_p`
 *   for servers that take them (every kind but `openai` and `dashscope`, which reject or ignore them);
 * - `max_tokens` (`max_completion_tokens` for `openai`, whose newer models refuse `max_tokens`), `stop`, `logit_bias`;
 * - thinking: `enable_thinking` and `thinking_budget` for `dashscope` (its spelling), else
 *   `chat_template_kwargs.enable_thinking` (vLLM, SGLang, llama-server and moestro read it); nothing for `openai`.
 * - log-probabilities: `logprobs` and `top_logprobs`;
 * - the client's fields moestro does not read (`request.passthrough`: a server's own options, and `user`), as they
 *   came, where moestro sets no field of that name.
 *
 * @param options.model the model id as the upstream names it.
 * @param options.stream whether to ask for a stream. Defaults to `!request.whole`.
 */
export function toUpstreamRequest(
  request: GenerateRequest,
  options: { model: string; kind: UpstreamKind; stream?: boolean },
): UpstreamRequestBody {
  const translated = translate(request, options);
  for (const [name, value] of Object.entries(request.passthrough ?? {})) if (!(name in translated.body)) translated.body[name] = value;
  return translated;
}

function translate(request: GenerateRequest, options: { model: string; kind: UpstreamKind; stream?: boolean }): UpstreamRequestBody {
  const { kind } = options;
  const body: Record<string, unknown> =
    (options.stream ?? request.whole !== true)
      ? { model: options.model, stream: true, stream_options: { include_usage: true } }
      : { model: options.model };
  Object.assign(body, samplingFields(request.sampling, kind));
  if (request.maxTokens !== undefined) body[kind === "openai" ? "max_completion_tokens" : "max_tokens"] = request.maxTokens;
  if (request.stop.length > 0) body.stop = request.stop;
  // OpenAI's map of token-id strings; the ids are the client's, in the vocabulary of the model the upstream serves.
  if (request.logitBias !== undefined)
    body.logit_bias = Object.fromEntries(request.logitBias.map(([token, bias]) => [String(token), bias]));
  if (request.input.kind === "completion") {
    body.prompt = request.input.prompt;
    return { path: "/v1/completions", body };
  }
  body.messages = request.input.messages.map(toWireMessage);
  const tools = request.tools;
  if (tools !== undefined && tools.definitions.length > 0) {
    body.tools = tools.definitions.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters ?? { type: "object", properties: {} },
      },
    }));
    body.tool_choice = toWireToolChoice(tools.choice);
    body.parallel_tool_calls = tools.parallel;
  }
  const format = request.responseFormat;
  if (format?.type === "json_object") body.response_format = { type: "json_object" };
  if (format?.type === "json_schema")
    body.response_format = { type: "json_schema", json_schema: { name: format.name, schema: format.schema, strict: true } };
  const thinking = request.thinking;
  if (thinking?.enabled !== undefined && kind !== "openai") {
    if (kind === "dashscope") {
      body.enable_thinking = thinking.enabled;
      if (thinking.budgetTokens !== undefined) body.thinking_budget = thinking.budgetTokens;
    } else {
      body.chat_template_kwargs = { enable_thinking: thinking.enabled };
    }
  }
  if (request.logprobs !== undefined) {
    body.logprobs = true;
    if (request.logprobs.top > 0) body.top_logprobs = request.logprobs.top;
  }
  return { path: "/v1/chat/completions", body };
}

function samplingFields(sampling: SamplingOptions, kind: UpstreamKind): Record<string, number> {
  const fields: Record<string, number | undefined> = {
    temperature: sampling.temperature,
    top_p: sampling.topP,
    seed: sampling.seed,
    presence_penalty: sampling.presencePenalty,
    frequency_penalty: sampling.frequencyPenalty,
  };
  // OpenAI's API rejects top_k and min_p (400 "Unrecognized request argument"); DashScope's OpenAI mode documents neither.
  if (kind !== "openai" && kind !== "dashscope") {
    fields.top_k = sampling.topK;
    fields.min_p = sampling.minP;
  }
  const defined: Record<string, number> = {};
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) defined[name] = value;
  return defined;
}

function toWireMessage(message: ChatMessage): Record<string, unknown> {
  switch (message.role) {
    case "system":
    case "user":
      return { role: message.role, content: message.text };
    case "assistant":
      return message.toolCalls !== undefined && message.toolCalls.length > 0
        ? {
            role: "assistant",
            content: message.text.length > 0 ? message.text : null,
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments },
            })),
          }
        : { role: "assistant", content: message.text };
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.text };
    default:
      return message satisfies never;
  }
}

function toWireToolChoice(choice: ToolChoice): unknown {
  switch (choice.type) {
    case "auto":
    case "none":
    case "required":
      return choice.type;
    case "function":
      return { type: "function", function: { name: choice.name } };
    default:
      return choice satisfies never;
  }
}

/**
 * A bound on the prompt's tokens before the upstream counts them: one token per UTF-8 byte of its text (a token holds
 * at least one byte), plus 8 per message for the chat template's markers and role names, plus each tool's JSON. Used
 * for the budget's worst case at admission; the ledger then gets the upstream's own count.
 */
export function promptTokenBound(request: GenerateRequest): number {
  if (request.input.kind === "completion") return Buffer.byteLength(request.input.prompt, "utf8") + 8;
  let bytes = 0;
  for (const message of request.input.messages) {
    bytes += Buffer.byteLength(message.text, "utf8") + 8;
    if (message.role === "assistant") for (const call of message.toolCalls ?? []) bytes += call.name.length + call.arguments.length + 8;
  }
  for (const tool of request.tools?.definitions ?? []) bytes += Buffer.byteLength(JSON.stringify(tool), "utf8");
  return bytes;
}

/**
 * An estimate of the prompt's tokens for an upstream that reports no usage: the UTF-8 bytes of its text over 4 (the
 * usual 4 characters per token of English text, OpenAI's rule of thumb), at least 1. The ledger row is then an
 * estimate, which docs/gateway.md says.
 */
export function estimatePromptTokens(request: GenerateRequest): number {
  return Math.max(1, estimateTokensOfBytes(promptTokenBound(request)));
}

/**
 * A token count estimated from UTF-8 bytes where no tokenizer counted them: a quarter of the bytes, rounded up (about
 * 4 bytes a token for English text under BPE vocabularies such as Qwen's and OpenAI's); 0 for 0 bytes. Rows counted so
 * are marked estimated (`usage_estimated`).
 */
export function estimateTokensOfBytes(bytes: number): number {
  return bytes === 0 ? 0 : Math.max(1, Math.ceil(bytes / 4));
}
