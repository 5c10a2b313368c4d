/** The parts of a GGUF vocabulary (`tokenizer.ggml.*`) that bound a text's token count. */
export interface VocabularyFacts {
  /** `tokenizer.ggml.model`: `"llama"` (SentencePiece), `"gpt2"` (byte-level BPE), `"bert"`, `"t5"`, ... */
  model?: string;
  /** `tokenizer.ggml.tokens`: each token's piece, indexed by id. */
  tokens?: readonly string[];
  /** `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte (llama.cpp `llama_token_type`). */
  tokenTypes?: readonly number[];
}

const normalTokenType = 1;
const byteTokenType = 6;
/** GPT-2's `bytes_to_unicode` maps each byte to one character below U+0144 (openai/gpt-2 `encoder.py`). */
const lastByteLevelChar = 0x143;

/**
 * The most bytes of input text that one token of a vocabulary can stand for, so that a text of `b` bytes has at least
 * `ceil(b / longestTokenBytes)` tokens whatever it holds. Computed once per model, in one pass over the vocabulary.
 *
 * Only where llama.cpp's tokenizer maps input bytes onto tokens without normalizing them:
 * - `gpt2` (byte-level BPE: GPT-2, Llama 3, Qwen): a normal token's piece has one character per byte of input;
 * - `llama` (SentencePiece): a piece covers at most its own UTF-8 bytes of input (a space becomes `▁`, three bytes, so
 *   the piece's bytes over-count, which keeps the bound safe); a byte token (`<0x41>`) covers one byte.
 * Control and user-defined tokens, which a prompt parsed with special tokens matches literally, count their pieces'
 * UTF-8 bytes in every vocabulary.
 *
 * @returns bytes; `undefined` for other tokenizers (WordPiece lower-cases and strips accents, Unigram normalizes with
 *   NFKC: a token may stand for more bytes than its piece has) or a vocabulary the file does not list.
 */
export function longestTokenBytes(vocabulary: VocabularyFacts): number | undefined {
  const { model, tokens, tokenTypes } = vocabulary;
  if ((model !== "gpt2" && model !== "llama") || tokens === undefined || tokens.length === 0) return undefined;
  let longest = 0;
  for (let id = 0; id < tokens.length; id++) {
    const piece = tokens[id]!;
    const type = tokenTypes?.[id] ?? normalTokenType;
    let bytes: number;
    if (type === byteTokenType && model === "llama") bytes = 1;
    else if (type === normalTokenType && model === "gpt2" && isByteLevel(piece)) bytes = piece.length;
    else bytes = Buffer.byteLength(piece);
    if (bytes > longest) longest = bytes;
  }
  return longest;
}

function isByteLevel(piece: string): boolean {
  for (let index = 0; index < piece.length; index++) if (piece.charCodeAt(index) > lastByteLevelChar) return false;
  return true;
}
