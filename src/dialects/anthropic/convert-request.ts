import { MoestroError } from "../../errors/index.js";
import type { ChatMessage, GenerateRequest, ThinkingOptions, ToolCall, ToolDefinition, ToolOptions } from "../../spec/index.js";
import { checkCacheBreakpointCount, isCacheMarked } from "../cache-control.js";
import { parseWith } from "../openai/convert-request.js";
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  type ContentBlockInput,
  type CountTokensRequest,
  type MessageInput,
  type MessagesRequest,
} from "./schemas.js";

/**
 * Validates a `POST /v1/messages` body.
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field (`max_tokens`, `messages[1].role`).
 */
export function parseMessagesRequest(body: unknown): MessagesRequest {
  return parseWith(messagesRequestSchema, body);
}

/**
 * Validates a `POST /v1/messages/count_tokens` body (the Messages body without `max_tokens` and the sampling fields).
 *
 * @throws {MoestroError} `invalid_request` (400) naming the first invalid field.
 */
export function parseCountTokensRequest(body: unknown): CountTokensRequest {
  return parseWith(countTokensRequestSchema, body);
}

/** How Anthropic requests name their JSON schemas in errors (`param`), for the serving layer's schema checks. */
export function anthropicSchemaParams(toolIndexes: readonly number[]) {
  return {
    responseFormat: "output_config.format.schema",
    toolParameters: (index: number): string => `tools[${toolIndexes[index] ?? index}].input_schema`,
  } as const;
}

/** The smallest `budget_tokens` Anthropic accepts (Extended thinking docs: "Must be ≥1024 and less than max_tokens"). */
export const minThinkingBudgetTokens = 1024;

/**
 * Text blocks of `system` that Claude Code sends first and changes on every request (`x-anthropic-billing-header:
 * cc_version=…; cch=…;`): dropped, so that the prompt's prefix stays the same from one request to the next and its KV
 * cache is reused (llama.cpp does the same, ggml-org/llama.cpp#20623). They carry no instruction for the model.
 */
const perRequestSystemBlock = /^x-anthropic-billing-header:/;

/**
 * Content block types that carry nothing a text model can use and are dropped:
 * - `thinking`, `redacted_thinking`: past thoughts sent back. Qwen's chat templates render no thought of an earlier
 *   turn, and moestro's chat contract carries none; dropped whether or not their `signature` is moestro's.
 * - the blocks of Anthropic's server tools (`server_tool_use` and their `*_tool_result`s), `container_upload`,
 *   `tool_reference`: calls and results of tools moestro never serves (their definitions are dropped too).
 */
const droppedBlockTypes = new Set([
  "thinking",
  "redacted_thinking",
  "server_tool_use",
  "web_search_tool_result",
  "web_fetch_tool_result",
  "code_execution_tool_result",
  "bash_code_execution_tool_result",
  "text_editor_code_execution_tool_result",
  "tool_search_tool_result",
  "mcp_tool_use",
  "mcp_tool_result",
  "container_upload",
  "tool_reference",
]);

/** What {@link toMessagesGenerateRequest} found besides the request: facts the route needs. */
export interface ConvertedMessagesRequest {
  request: GenerateRequest;
  /** For each tool in `request.tools.definitions`, its index in the body's `tools` (for error params). */
  toolIndexes: number[];
  /** The names of the Anthropic-defined tools that were dropped. */
  droppedTools: string[];
  /** How many `thinking` blocks came back with a signature this server made (all are dropped; see docs/anthropic.md). */
  thinkingBlocks: { signed: number; foreign: number };
}

/**
 * Translates a Messages request to moestro's internal request (without an abort signal: the serving layer adds the
 * request's own). The rules, documented in docs/anthropic.md:
 *
 * - `system` (a string or text blocks, joined with a blank line) comes first, then the `system` entries of `messages`
 *   in their order (case D01): one system message, rendered at the start of the prompt.
 * - `user` content: text blocks become a user message (joined with a blank line); `tool_result` blocks become tool
 *   messages where they stand (`is_error` results are prefixed `Error: `). `assistant` content: text blocks and
 *   `tool_use` calls.
 * - `cache_control: {"type": "ephemeral"}` on a block of `system` or of a message pins the prompt prefix up to and
 *   including that block (explicit context cache, docs/context-cache.md): at most 4 markers. On a tool definition it is
 *   accepted and ignored.
 * - Anthropic's own tool types (`web_search_*`, `bash_*`, `text_editor_*`, `computer_*`, `code_execution_*`, …: any
 *   `type` other than `custom`) are dropped: moestro cannot run them. A `tool_choice` that names one is a 400.
 * - Thinking is opt-in (case D06): off unless `thinking.type` is `enabled` (with its `budget_tokens` as the thought's
 *   budget), `adaptive` or `between_tools`.
 *
 * @param isOwnSignature tells whether a `thinking` block's signature was made by this server (for the counts only).
 * @throws {MoestroError} `invalid_request` (400) naming the field: a `budget_tokens` under 1024 or not under
 *   `max_tokens`, a `tool_choice` that names no tool of `tools` or names a dropped one, `any`/`tool` without tools, a
 *   block without its fields; `unsupported_parameter` (400) for `image` and `document` blocks (the models served are
 *   text-only), a block type moestro does not know, and a last message from the assistant (prefill).
 */
export function toMessagesGenerateRequest(
  request: MessagesRequest | CountTokensRequest,
  isOwnSignature: (block: { thinking: string; signature: string }) => boolean,
): ConvertedMessagesRequest {
  const maxTokens = "max_tokens" in request ? request.max_tokens : undefined;
  const thinkingBlocks = { signed: 0, foreign: 0 };
  const messages = toChatMessages(request, (block) => {
    if (typeof block.thinking === "string" && typeof block.signature === "string" && isOwnSignature(block as never))
      thinkingBlocks.signed++;
    else thinkingBlocks.foreign++;
  });
  const generateRequest: GenerateRequest = {
    input: { kind: "chat", messages },
    maxTokens,
    sampling: {},
    stop: [],
    thinking: toThinking(request, maxTokens),
  };
  if ("max_tokens" in request) {
    generateRequest.sampling = {
      temperature: request.temperature ?? undefined,
      topP: request.top_p ?? undefined,
      topK: request.top_k ?? undefined,
    };
    generateRequest.stop = (request.stop_sequences ?? []).filter((text) => text.length > 0);
  }
  const { tools, toolIndexes, droppedTools } = toToolOptions(request);
  if (tools !== undefined) generateRequest.tools = tools;
  const cacheBreakpoints = "max_tokens" in request ? toCacheBreakpoints(request) : undefined;
  if (cacheBreakpoints !== undefined) generateRequest.cacheBreakpoints = cacheBreakpoints;
  const format = request.output_config?.format;
  if (format) generateRequest.responseFormat = { type: "json_schema", name: "output", schema: format.schema };
  return { request: generateRequest, toolIndexes, droppedTools, thinkingBlocks };
}

/** The thinking options: opt-in, with the documented budget limits. */
function toThinking(request: MessagesRequest | CountTokensRequest, maxTokens: number | undefined): ThinkingOptions {
  const thinking = request.thinking;
  if (thinking === undefined || thinking === null || thinking.type === "disabled") return { enabled: false };
  if (thinking.type !== "enabled") return { enabled: true };
  const budget = thinking.budget_tokens;
  if (budget < minThinkingBudgetTokens) {
    throw new MoestroError("invalid_request", `thinking.budget_tokens: must be at least ${minThinkingBudgetTokens}, got ${budget}.`, {
      param: "thinking.budget_tokens",
    });
  }
  if (maxTokens !== undefined && budget >= maxTokens) {
    throw new MoestroError(
      "invalid_request",
      `thinking.budget_tokens (${budget}) must be less than max_tokens (${maxTokens}): thinking tokens count toward max_tokens.`,
      { param: "thinking.budget_tokens" },
    );
  }
  return { enabled: true, budgetTokens: budget };
}

/** Whether a tool definition is one of Anthropic's own tool types (any `type` other than `custom`). */
function isAnthropicDefinedTool(tool: { type?: string | null }): boolean {
  return typeof tool.type === "string" && tool.type !== "custom";
}

/** The tool options: custom tools kept, Anthropic-defined tools dropped, `tool_choice` mapped. */
function toToolOptions(request: MessagesRequest | CountTokensRequest): {
  tools: ToolOptions | undefined;
  toolIndexes: number[];
  droppedTools: string[];
} {
  const definitions: ToolDefinition[] = [];
  const toolIndexes: number[] = [];
  const droppedTools: string[] = [];
  for (const [index, tool] of (request.tools ?? []).entries()) {
    if (isAnthropicDefinedTool(tool)) {
      droppedTools.push(tool.name);
      continue;
    }
    if (tool.input_schema === undefined || tool.input_schema === null) {
      throw new MoestroError("invalid_request", `tools[${index}].input_schema: is required for a custom tool.`, {
        param: `tools[${index}].input_schema`,
      });
    }
    definitions.push({ name: tool.name, description: tool.description ?? undefined, parameters: tool.input_schema });
    toolIndexes.push(index);
  }
  const choice = request.tool_choice ?? { type: "auto" as const };
  if (choice.type === "tool" && droppedTools.includes(choice.name)) {
    throw new MoestroError(
      "invalid_request",
      `tool_choice names '${choice.name}', one of Anthropic's own tool types, which moestro cannot run (only custom tools with an input_schema are served).`,
      { param: "tool_choice.name" },
    );
  }
  if (choice.type === "tool" && !definitions.some((tool) => tool.name === choice.name)) {
    throw new MoestroError("invalid_request", `tool_choice names the tool '${choice.name}', which is not in tools.`, {
      param: "tool_choice.name",
    });
  }
  if ((choice.type === "any" || choice.type === "tool") && definitions.length === 0) {
    throw new MoestroError("invalid_request", `tool_choice '${choice.type}' needs at least one custom tool in tools.`, {
      param: "tool_choice",
    });
  }
  if (definitions.length === 0) return { tools: undefined, toolIndexes, droppedTools };
  const parallel = choice.type === "none" ? true : choice.disable_parallel_tool_use !== true;
  const mapped: ToolOptions["choice"] =
    choice.type === "auto"
      ? { type: "auto" }
      : choice.type === "any"
        ? { type: "required" }
        : choice.type === "none"
          ? { type: "none" }
          : { type: "function", name: choice.name };
  return { tools: { definitions, choice: mapped, parallel }, toolIndexes, droppedTools };
}

/**
 * The chat prefixes of the request's `cache_control` markers, in request order (`system` first): for each, the request
 * cut after the marked block and converted as the whole one is; `undefined` when none is marked.
 *
 * @throws {MoestroError} `invalid_request` (400) for a marker that is not `{"type": "ephemeral"}`, or more than 4.
 */
function toCacheBreakpoints(request: MessagesRequest): ChatMessage[][] | undefined {
  const cuts: Array<MessagesRequest> = [];
  if (Array.isArray(request.system)) {
    for (const [index, block] of request.system.entries()) {
      if (isCacheMarked(block.cache_control, `system[${index}].cache_control`))
        cuts.push({ ...request, system: request.system.slice(0, index + 1), messages: [] });
    }
  }
  for (const [index, message] of request.messages.entries()) {
    if (typeof message.content === "string") continue;
    for (const [blockIndex, block] of message.content.entries()) {
      if (!isCacheMarked(block.cache_control, `messages[${index}].content[${blockIndex}].cache_control`)) continue;
      const cut = { ...message, content: message.content.slice(0, blockIndex + 1) };
      cuts.push({ ...request, messages: [...request.messages.slice(0, index), cut] });
    }
  }
  if (cuts.length === 0) return undefined;
  checkCacheBreakpointCount(cuts.length);
  return cuts.map((cut) => toChatMessages(cut, () => undefined, { endsAnywhere: true }));
}

/**
 * The chat messages of a request: one leading system message, then the turns (see {@link toMessagesGenerateRequest}).
 * `options.endsAnywhere` accepts a last message from the assistant (a cache marker's prefix may end there).
 */
function toChatMessages(
  request: MessagesRequest | CountTokensRequest,
  onThinkingBlock: (block: ContentBlockInput) => void,
  options: { endsAnywhere?: boolean } = {},
): ChatMessage[] {
  const systemTexts: string[] = [];
  const system = request.system;
  if (typeof system === "string") {
    if (system.length > 0) systemTexts.push(system);
  } else if (system) {
    const texts = system.map((block) => block.text).filter((text) => !perRequestSystemBlock.test(text));
    if (texts.length > 0) systemTexts.push(texts.join("\n\n"));
  }
  const conversation: ChatMessage[] = [];
  for (const [index, message] of request.messages.entries()) {
    switch (message.role) {
      case "system":
        systemTexts.push(systemText(message, index));
        break;
      case "user":
        conversation.push(...userMessages(message, index));
        break;
      case "assistant":
        conversation.push(assistantMessage(message, index, onThinkingBlock));
        break;
      default:
        message.role satisfies never;
    }
  }
  const last = request.messages.at(-1);
  if (last?.role === "assistant" && options.endsAnywhere !== true) {
    const index = request.messages.length - 1;
    throw new MoestroError(
      "unsupported_parameter",
      `messages[${index}]: a last message from the assistant (a prefill the answer continues) is not supported; end with a user message.`,
      { param: `messages[${index}]` },
    );
  }
  const joined = systemTexts.filter((text) => text.length > 0).join("\n\n");
  return joined.length > 0 ? [{ role: "system", text: joined }, ...conversation] : conversation;
}

/** The text of a `system` entry of `messages`: a string or text blocks. */
function systemText(message: MessageInput, index: number): string {
  if (typeof message.content === "string") return message.content;
  return message.content
    .map((block, blockIndex) => {
      const param = `messages[${index}].content[${blockIndex}]`;
      if (block.type !== "text") {
        throw new MoestroError("unsupported_parameter", `${param}: a system message takes text blocks only, not '${block.type}'.`, {
          param,
        });
      }
      return textOf(block, param);
    })
    .join("\n\n");
}

/** A user turn: its text blocks as user messages and its tool results as tool messages, in order. */
function userMessages(message: MessageInput, index: number): ChatMessage[] {
  if (typeof message.content === "string") return [{ role: "user", text: message.content }];
  const messages: ChatMessage[] = [];
  let texts: string[] = [];
  const flushTexts = (): void => {
    if (texts.length > 0) messages.push({ role: "user", text: texts.join("\n\n") });
    texts = [];
  };
  for (const [blockIndex, block] of message.content.entries()) {
    const param = `messages[${index}].content[${blockIndex}]`;
    if (block.type === "text") texts.push(textOf(block, param));
    else if (block.type === "tool_result") {
      flushTexts();
      messages.push(toolResultMessage(block, param));
    } else refuseOrDrop(block, param);
  }
  flushTexts();
  // A user turn of dropped blocks only still is a turn.
  return messages.length > 0 ? messages : [{ role: "user", text: "" }];
}

/** An assistant turn: its text and its tool calls. */
function assistantMessage(message: MessageInput, index: number, onThinkingBlock: (block: ContentBlockInput) => void): ChatMessage {
  if (typeof message.content === "string") return { role: "assistant", text: message.content };
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const [blockIndex, block] of message.content.entries()) {
    const param = `messages[${index}].content[${blockIndex}]`;
    if (block.type === "text") texts.push(textOf(block, param));
    else if (block.type === "tool_use") toolCalls.push(toolCallOf(block, param));
    else {
      if (block.type === "thinking") onThinkingBlock(block);
      refuseOrDrop(block, param);
    }
  }
  const message_: ChatMessage = { role: "assistant", text: texts.join("\n\n") };
  if (toolCalls.length > 0) message_.toolCalls = toolCalls;
  return message_;
}

/** A `tool_result` block as a tool message: its content a string or text blocks. */
function toolResultMessage(block: ContentBlockInput, param: string): ChatMessage {
  const toolUseId = block.tool_use_id;
  if (typeof toolUseId !== "string" || toolUseId.length === 0) {
    throw new MoestroError("invalid_request", `${param}.tool_use_id: is required; expected the id of the tool_use block it answers.`, {
      param: `${param}.tool_use_id`,
    });
  }
  const content = block.content;
  let text = "";
  if (typeof content === "string") text = content;
  else if (Array.isArray(content)) {
    text = content
      .map((inner: unknown, innerIndex) => {
        const innerParam = `${param}.content[${innerIndex}]`;
        const innerBlock = inner as ContentBlockInput;
        if (typeof inner !== "object" || inner === null || typeof innerBlock.type !== "string") {
          throw new MoestroError("invalid_request", `${innerParam}: expected a content block.`, { param: innerParam });
        }
        if (innerBlock.type === "text") return textOf(innerBlock, innerParam);
        refuseOrDrop(innerBlock, innerParam);
        return "";
      })
      .filter((part) => part.length > 0)
      .join("\n\n");
  } else if (content !== undefined && content !== null) {
    throw new MoestroError("invalid_request", `${param}.content: expected a string or an array of content blocks.`, {
      param: `${param}.content`,
    });
  }
  return { role: "tool", toolCallId: toolUseId, text: block.is_error === true ? `Error: ${text}` : text };
}

/** A `tool_use` block as a tool call. */
function toolCallOf(block: ContentBlockInput, param: string): ToolCall {
  const { id, name, input } = block;
  if (typeof id !== "string" || typeof name !== "string") {
    throw new MoestroError("invalid_request", `${param}: a tool_use block needs a string id and name.`, { param });
  }
  return { id, name, arguments: JSON.stringify(input ?? {}) };
}

/** The text of a text block. */
function textOf(block: ContentBlockInput, param: string): string {
  if (typeof block.text !== "string") {
    throw new MoestroError("invalid_request", `${param}.text: is required; expected a string.`, { param: `${param}.text` });
  }
  return block.text;
}

/**
 * Drops a block a text model has no use for ({@link droppedBlockTypes}); refuses the others, naming them: images and
 * documents (the models served cannot read them), and types moestro does not know.
 *
 * @throws {MoestroError} `unsupported_parameter` (400) with `param` naming the block.
 */
function refuseOrDrop(block: ContentBlockInput, param: string): void {
  if (droppedBlockTypes.has(block.type)) return;
  if (block.type === "image" || block.type === "document") {
    throw new MoestroError(
      "unsupported_parameter",
      `${param}: '${block.type}' blocks are not supported: the models moestro serves take text only.`,
      { param },
    );
  }
  throw new MoestroError("unsupported_parameter", `${param}: content blocks of type '${block.type}' are not supported here.`, { param });
}
