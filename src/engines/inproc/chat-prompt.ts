import {
  LlamaText,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { MoestroError } from "../../errors/index.js";
import type { ChatMessage, ToolDefinition } from "../../spec/index.js";

/** A chat rendered with the model's chat template, ready to tokenize, and the stops of its assistant turn (shared: read only). */
export interface RenderedChatPrompt extends ChatStops {
  /** The prompt, its special tokens marked (tokenize it with `tokenizePrompt`, as `{kind: "template", text}`). */
  text: LlamaText;
}

/**
 * Converts normalised chat messages to node-llama-cpp's chat history.
 *
 * - An assistant message's tool calls become function-call items of its model turn; the `tool` messages that follow
 *   fill in their results (matched by `tool_call_id`), and an assistant message after them continues the same model
 *   turn, which is how node-llama-cpp's wrappers render a tool loop in the model's own format.
 * - A trailing assistant message becomes the start of the answer (prefill): the model continues it. Otherwise an empty
 *   assistant turn is opened.
 *
 * @throws {MoestroError} `invalid_request` (400) for a tool message whose `tool_call_id` matches no earlier call.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const callsById = new Map<string, ChatModelFunctionCall>();
  let continuesModelTurn = false;
  messages.forEach((message, index) => {
    switch (message.role) {
      case "system":
        history.push({ type: "system", text: message.text });
        continuesModelTurn = false;
        break;
      case "user":
        history.push({ type: "user", text: message.text });
        continuesModelTurn = false;
        break;
      case "assistant": {
        const last = history.at(-1);
        const turn: ChatModelResponse = continuesModelTurn && last?.type === "model" ? last : { type: "model", response: [] };
        if (turn !== last) history.push(turn);
        if (message.text.length > 0 || (message.toolCalls ?? []).length === 0) turn.response.push(message.text);
        for (const call of message.toolCalls ?? []) {
          const item: ChatModelFunctionCall = {
            type: "functionCall",
            name: call.name,
            params: parseJsonOrText(call.arguments),
            result: undefined,
            startsNewChunk: call === message.toolCalls![0],
          };
          callsById.set(call.id, item);
          turn.response.push(item);
        }
        continuesModelTurn = (message.toolCalls ?? []).length > 0;
        break;
      }
      case "tool": {
        const call = callsById.get(message.toolCallId);
        if (call === undefined) {
          throw new MoestroError(
            "invalid_request",
            `messages[${index}] answers tool call '${message.toolCallId}', which no earlier assistant message made.`,
            { param: `messages[${index}].tool_call_id` },
          );
        }
        call.result = parseJsonOrText(message.text);
        continuesModelTurn = true;
        break;
      }
      default:
        message satisfies never;
    }
  });
  // A trailing model turn (a prefill, or a tool loop awaiting the model's next words) is continued; else one is opened.
  if (history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}

/**
 * The longest tool-call arguments or tool result parsed as JSON (and rendered by the template as JSON), in UTF-16 code
 * units; a longer one is rendered as the text it is. Parsing and re-serializing a 20 MB JSON result took about 1 s of
 * the event loop (docs/engine.md, "Long prompts"); its text costs a JSON string's escaping only.
 */
export const maxJsonRenderedChars = 1024 * 1024;

function parseJsonOrText(text: string): unknown {
  if (text.length > maxJsonRenderedChars) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The length, in UTF-16 code units, of the message texts that any template renders whole into the prompt: every
 * message's text, and tool-call arguments and tool results too long to be parsed as JSON (shorter ones may be
 * re-serialized shorter). A bound on the rendered prompt's length, known before rendering it.
 */
export function renderedTextLength(messages: readonly ChatMessage[]): number {
  let length = 0;
  for (const message of messages) {
    if (message.role === "tool") {
      if (message.text.length > maxJsonRenderedChars) length += message.text.length;
      continue;
    }
    length += message.text.length;
    if (message.role !== "assistant") continue;
    for (const call of message.toolCalls ?? []) if (call.arguments.length > maxJsonRenderedChars) length += call.arguments.length;
  }
  return length;
}

/** node-llama-cpp's function map for the chat wrapper, which renders the tools section of the system prompt. */
export function toChatModelFunctions(tools: readonly ToolDefinition[]): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((tool) => [
      tool.name,
      { description: tool.description, params: (tool.parameters ?? { type: "object", properties: {} }) as never },
    ]),
  );
}

/** The tokens and texts that end the assistant's turn in a chat template's output. */
export interface ChatStops {
  /** Tokens that end the assistant turn (end-of-turn markers such as `<|im_end|>`), beyond the model's end-of-generation tokens. */
  stopTokens: ReadonlySet<Token>;
  /** Texts that end the assistant turn when the model writes them out with ordinary tokens; never returned to the client. */
  stopTexts: readonly string[];
}

/**
 * A model's chat template (a node-llama-cpp chat wrapper), which renders chats as node-llama-cpp's `LlamaChat` does and
 * finds the tokens and texts that end the assistant's turn. The prompt is tokenized apart (`PromptTokenizer`), since a
 * long one must not be tokenized on the event loop.
 *
 * The stop triggers a wrapper gives are the same for every chat (node-llama-cpp's own wrappers write them as
 * constants), so their tokens are found once per set of triggers, not per request; a Jinja template's could differ
 * from chat to chat, which is why they are keyed by the triggers rather than found once for good.
 */
export class ChatTemplate {
  readonly chatWrapper: ChatWrapper;
  readonly #model: LlamaModel;
  /** Stops by their triggers (as JSON); a handful at most, bounded all the same. */
  readonly #stopsByTriggers = new Map<string, ChatStops>();

  constructor(model: LlamaModel, chatWrapper: ChatWrapper) {
    this.#model = model;
    this.chatWrapper = chatWrapper;
  }

  /** Renders `messages`, with `tools` in the system prompt when there are any. */
  render(messages: readonly ChatMessage[], tools?: readonly ToolDefinition[]): RenderedChatPrompt {
    const state = this.chatWrapper.generateContextState({
      chatHistory: toChatHistory(messages),
      availableFunctions: tools && tools.length > 0 ? toChatModelFunctions(tools) : undefined,
      documentFunctionParams: true,
    });
    return { text: state.contextText, ...this.#stops(state.stopGenerationTriggers) };
  }

  #stops(triggers: readonly LlamaText[]): ChatStops {
    const key = JSON.stringify(triggers);
    const known = this.#stopsByTriggers.get(key);
    if (known !== undefined) return known;
    const stopTokens = new Set<Token>();
    const stopTexts: string[] = [];
    for (const trigger of triggers) {
      const triggerTokens = LlamaText(trigger).tokenize(this.#model.tokenizer, "trimLeadingSpace");
      const text = trigger.toString();
      const hasSpecialToken = trigger.values.some((value) => typeof value !== "string");
      if (hasSpecialToken && triggerTokens.length === 1) stopTokens.add(triggerTokens[0]!);
      else if (!hasSpecialToken && text.length > 0) stopTexts.push(text);
    }
    const stops = { stopTokens, stopTexts };
    if (this.#stopsByTriggers.size < 16) this.#stopsByTriggers.set(key, stops);
    return stops;
  }
}
