import type { LlamaModel, LlamaText, Token } from "node-llama-cpp";

/**
 * Tokenizes a prompt: the one place where a request's prompt becomes tokens, for chat and completions alike (so that a
 * bound on its cost has one home).
 *
 * - A completion's text: special tokens written in it (`<|im_start|>`) are parsed as such, as llama-server does, and the
 *   model's BOS token is prepended when its vocabulary asks for it and the text does not start with it.
 * - A chat rendered by its template (`LlamaText`, whose special tokens are already marked): tokenized the way
 *   node-llama-cpp's `LlamaChat` does, so the count is what the model really evaluates.
 *
 * @returns the tokens; empty only for an empty text on a model without BOS.
 */
export function tokenizePrompt(model: LlamaModel, prompt: string | LlamaText): Token[] {
  if (typeof prompt !== "string") return prompt.tokenize(model.tokenizer);
  const tokens = model.tokenize(prompt, true);
  const bos = model.tokens.bos;
  if (model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}
