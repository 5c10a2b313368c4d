import type { LlamaModel, Token } from "node-llama-cpp";

/**
 * Turns generated tokens into text one token at a time, so that streamed text equals the text of the whole output.
 *
 * Two problems make per-token detokenization wrong: a token may hold part of a UTF-8 character (byte-level BPE
 * vocabularies such as Qwen's), and SentencePiece tokens render a leading space differently at the start of a text.
 * Each step therefore detokenizes a short window that starts a few tokens back, emits only what the window adds to the
 * previous window's text, and holds the text back while it ends in U+FFFD (an incomplete character). This is the
 * algorithm of vLLM's `detokenize_incrementally` (vllm/transformers_utils/detokenizer_utils.py) and Hugging Face TGI.
 */
export class IncrementalDetokenizer {
  readonly #model: LlamaModel;
  readonly #tokens: Token[];
  #prefixOffset: number;
  #readOffset: number;

  /**
   * @param model the model whose vocabulary the tokens come from.
   * @param promptTokens the prompt; its last tokens give the first generated token its context (leading spaces).
   */
  constructor(model: LlamaModel, promptTokens: readonly Token[]) {
    this.#model = model;
    const contextTokens = promptTokens.slice(-6);
    this.#tokens = [...contextTokens];
    this.#prefixOffset = Math.max(0, contextTokens.length - 5);
    this.#readOffset = contextTokens.length;
  }

  /** Adds one generated token; returns the text it completes (possibly `""` while a character is incomplete). */
  push(token: Token): string {
    this.#tokens.push(token);
    const previousText = this.#model.detokenize(this.#tokens.slice(this.#prefixOffset, this.#readOffset));
    const text = this.#model.detokenize(this.#tokens.slice(this.#prefixOffset));
    if (text.length <= previousText.length || text.endsWith("\uFFFD")) return "";
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#tokens.length;
    // Keep the window short: only the tokens from prefixOffset on are ever read again.
    if (this.#prefixOffset > 64) {
      this.#tokens.splice(0, this.#prefixOffset);
      this.#readOffset -= this.#prefixOffset;
      this.#prefixOffset = 0;
    }
    return text.slice(previousText.length);
  }

  /** Ends the output: returns text still held back (an incomplete character at the very end renders as U+FFFD). */
  flush(): string {
    if (this.#readOffset === this.#tokens.length) return "";
    const previousText = this.#model.detokenize(this.#tokens.slice(this.#prefixOffset, this.#readOffset));
    const text = this.#model.detokenize(this.#tokens.slice(this.#prefixOffset));
    this.#readOffset = this.#tokens.length;
    return text.slice(previousText.length);
  }
}
