// @ts-check
// JavaScript with checked JSDoc types, not TypeScript: the tokenizer process (tokenizer-process.js) imports this module,
// and a child process runs plain Node.js both from dist/ and from src/ under the tests, where no TypeScript loader exists.
import { SpecialToken, SpecialTokensText } from "node-llama-cpp";

/**
 * @typedef {import("node-llama-cpp").LlamaModel} LlamaModel
 * @typedef {import("node-llama-cpp").LlamaText} LlamaText
 * @typedef {import("node-llama-cpp").Token} Token
 */

/**
 * A prompt to tokenize.
 *
 * - `text`: a plain text. `specialTokens`: whether special tokens written in it (`<|im_start|>`) are parsed as such
 *   (completions: yes, as llama-server does; embeddings: no). `addBos`: whether the model's BOS token is prepended when
 *   its vocabulary asks for it and the text does not start with it (completions: yes; embeddings: no).
 * - `template`: a chat rendered by its template, whose special tokens are already marked.
 *
 * @typedef {{kind: "text", text: string, specialTokens: boolean, addBos: boolean} | {kind: "template", text: LlamaText}} PromptText
 */

/**
 * One piece of a prompt that the tokenizer sees in one call: a text, with or without special-token parsing. A built-in
 * special token of a template (`BOS`) is not a segment: it is at most one token.
 *
 * @typedef {{text: string, specialTokens: boolean}} PromptSegment
 */

/**
 * Tokenizes a prompt exactly: the one place where a request's prompt becomes tokens, in the server's process and in the
 * tokenizer process alike, so that both give the same ids.
 *
 * - A text: `model.tokenize(text, specialTokens)`, then BOS as `addBos` says.
 * - A chat rendered by its template (`LlamaText`): tokenized the way node-llama-cpp's `LlamaChat` does, so the count is
 *   what the model really evaluates.
 *
 * @param {LlamaModel} model
 * @param {PromptText} prompt
 * @returns {Token[]} the tokens; empty only for an empty text without BOS.
 */
export function tokenizePrompt(model, prompt) {
  if (prompt.kind === "template") return prompt.text.tokenize(model.tokenizer);
  const tokens = model.tokenize(prompt.text, prompt.specialTokens);
  const bos = model.tokens.bos;
  if (prompt.addBos && model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}

/**
 * The texts of a prompt, in order, as the tokenizer sees them, and the number of built-in special tokens between them.
 *
 * @param {PromptText} prompt
 * @returns {{segments: PromptSegment[], builtinTokens: number}}
 */
export function promptSegments(prompt) {
  if (prompt.kind === "text") return { segments: [{ text: prompt.text, specialTokens: prompt.specialTokens }], builtinTokens: 0 };
  /** @type {PromptSegment[]} */
  const segments = [];
  let builtinTokens = 0;
  for (const value of prompt.text.values) {
    if (typeof value === "string") segments.push({ text: value, specialTokens: false });
    else if (value instanceof SpecialTokensText) segments.push({ text: value.value, specialTokens: true });
    else if (value instanceof SpecialToken) builtinTokens++;
  }
  return { segments, builtinTokens };
}

/**
 * The length of a prompt's texts (its {@link promptSegments}) in UTF-16 code units (JavaScript's `length`): known
 * without reading the texts, and never more than their UTF-8 bytes.
 *
 * @param {PromptText} prompt
 * @returns {number}
 */
export function promptLength(prompt) {
  if (prompt.kind === "text") return prompt.text.length;
  let length = 0;
  for (const value of prompt.text.values) {
    if (typeof value === "string") length += value.length;
    else if (value instanceof SpecialTokensText) length += value.value.length;
  }
  return length;
}

/**
 * The fewest tokens any text of `bytes` bytes can have with a vocabulary whose longest token covers `longestTokenBytes`
 * bytes of input: each token covers at most that many (token-count-bound.ts says which vocabularies this holds for).
 *
 * @param {number} bytes - the text's UTF-8 bytes, or its UTF-16 length, which is never more.
 * @param {number | undefined} longestTokenBytes - undefined when no bound is known.
 * @returns {number} tokens; 0 when no bound is known.
 */
export function minimumTokens(bytes, longestTokenBytes) {
  if (longestTokenBytes === undefined || longestTokenBytes <= 0) return 0;
  return Math.ceil(bytes / longestTokenBytes);
}

/** How far back from a slice's end a cut looks for whitespace, in UTF-16 code units. */
const cutSearchChars = 1024;

/**
 * Cuts a text into slices of at most `maxChars` UTF-16 code units, so that tokenizing one slice has a bounded cost even
 * on tokenizers that are quadratic in a text's length (llama.cpp's SentencePiece tokenizer on runs without spaces).
 * A cut falls just before a whitespace character that follows a non-whitespace one, when there is one within the last
 * 1024 code units of the slice: with byte-level BPE pre-tokenizers (GPT-2, Llama 3, Qwen) such a point also separates
 * two pre-tokens, so the slices tokenize as the whole text does; otherwise on a code point boundary (never inside a
 * surrogate pair).
 *
 * @param {string} text
 * @param {number} maxChars - at least 2.
 * @returns {Generator<string>} the slices, in order; their concatenation is `text`; none is empty.
 */
export function* cutSlices(text, maxChars) {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + maxChars, text.length);
    if (end < text.length) end = cutPoint(text, start, end);
    yield text.slice(start, end);
    start = end;
  }
}

/**
 * @param {string} text
 * @param {number} start
 * @param {number} end - the longest slice's end, before `text.length`.
 * @returns {number}
 */
function cutPoint(text, start, end) {
  const floor = Math.max(start + 1, end - cutSearchChars);
  for (let index = end; index > floor; index--) {
    if (isWhitespace(text.charCodeAt(index)) && !isWhitespace(text.charCodeAt(index - 1))) return index;
  }
  const code = text.charCodeAt(end - 1);
  // A high surrogate ends the slice: keep the pair together (the slice still holds at least one code unit).
  return code >= 0xd800 && code <= 0xdbff && end - 1 > start ? end - 1 : end;
}

/**
 * @param {number} code
 * @returns {boolean}
 */
function isWhitespace(code) {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d;
}

/**
 * Decides whether a prompt can fit `maxTokens` tokens by counting its tokens slice by slice, and stops as soon as the
 * count proves it cannot.
 *
 * Tokenizing slices instead of the whole text may count a few tokens more or fewer at each cut (a merge across the cut
 * is lost, a leading space is marked again). So the count that decides is a lower bound: the tokens of the slices
 * counted so far, less `slackTokensPerSlice` for each of them, plus {@link minimumTokens} of the bytes not yet counted.
 * A prompt is refused only when that exceeds `maxTokens`; otherwise it may fit, and the caller tokenizes it whole.
 *
 * @param {object} options
 * @param {PromptSegment[]} options.segments - the prompt's texts (see {@link promptSegments}).
 * @param {(text: string, specialTokens: boolean) => number} options.countTokens - the tokens of one slice.
 * @param {number} options.maxTokens - the most tokens that can fit.
 * @param {number | undefined} options.longestTokenBytes - see {@link minimumTokens}.
 * @param {number} options.sliceChars - the longest slice, UTF-16 code units.
 * @param {number} options.slackTokensPerSlice - how many tokens a slice's count may exceed its share of the whole
 *   text's count.
 * @param {() => Promise<boolean>} [options.pause] - called between slices; lets other work run, and returns true to stop
 *   (a cancelled request). Defaults to never stopping.
 * @returns {Promise<{fits: "maybe"} | {fits: "no", atLeastTokens: number} | {fits: "cancelled"}>}
 */
export async function countPromptTokens(options) {
  const { segments, countTokens, maxTokens, longestTokenBytes, sliceChars, slackTokensPerSlice } = options;
  let remainingBytes = 0;
  for (const segment of segments) remainingBytes += Buffer.byteLength(segment.text);
  const atOnce = minimumTokens(remainingBytes, longestTokenBytes);
  if (atOnce > maxTokens) return { fits: "no", atLeastTokens: atOnce };
  let counted = 0;
  let slices = 0;
  for (const segment of segments) {
    for (const slice of cutSlices(segment.text, sliceChars)) {
      if (options.pause !== undefined && (await options.pause())) return { fits: "cancelled" };
      counted += countTokens(slice, segment.specialTokens);
      slices++;
      remainingBytes -= Buffer.byteLength(slice);
      const atLeastTokens = counted - slices * slackTokensPerSlice + minimumTokens(remainingBytes, longestTokenBytes);
      if (atLeastTokens > maxTokens) return { fits: "no", atLeastTokens };
    }
  }
  return { fits: "maybe" };
}
