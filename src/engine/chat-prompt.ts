import { LlamaText, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage } from "../spec/index.js";

/** A chat rendered with the model's chat template, ready to evaluate. */
export interface RenderedChatPrompt {
  /** The prompt tokens, special tokens included. */
  tokens: Token[];
  /** Tokens that end the assistant turn (end-of-turn markers such as `<|im_end|>`), beyond the model's end-of-generation tokens. */
  stopTokens: Set<Token>;
  /** Texts that end the assistant turn when the model writes them out with ordinary tokens; never returned to the client. */
  stopTexts: string[];
}

/**
 * Converts normalised chat messages to node-llama-cpp's chat history. A trailing assistant message becomes the start of
 * the answer (prefill): the model continues it. Otherwise an empty assistant turn is opened.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message): ChatHistoryItem => {
    switch (message.role) {
      case "system":
        return { type: "system", text: message.text };
      case "user":
        return { type: "user", text: message.text };
      case "assistant":
        return { type: "model", response: [message.text] };
      default:
        return message satisfies never;
    }
  });
  if (history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}

/**
 * Renders chat messages with `chatWrapper` (the model's own template, resolved by node-llama-cpp) and tokenizes them the
 * way node-llama-cpp's `LlamaChat` does, so that the token count is what the model really evaluates.
 */
export function renderChatPrompt(model: LlamaModel, chatWrapper: ChatWrapper, messages: readonly ChatMessage[]): RenderedChatPrompt {
  const state = chatWrapper.generateContextState({ chatHistory: toChatHistory(messages) });
  const tokens = state.contextText.tokenize(model.tokenizer);
  const stopTokens = new Set<Token>();
  const stopTexts: string[] = [];
  for (const trigger of state.stopGenerationTriggers) {
    const triggerTokens = LlamaText(trigger).tokenize(model.tokenizer, "trimLeadingSpace");
    const text = trigger.toString();
    const hasSpecialToken = trigger.values.some((value) => typeof value !== "string");
    if (hasSpecialToken && triggerTokens.length === 1) stopTokens.add(triggerTokens[0]!);
    else if (!hasSpecialToken && text.length > 0) stopTexts.push(text);
  }
  return { tokens, stopTokens, stopTexts };
}
