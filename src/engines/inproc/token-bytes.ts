import type { LlamaModel, Token } from "node-llama-cpp";

/**
 * Returns the raw bytes of vocabulary tokens, which OpenAI's logprobs report as `bytes` (a token may hold part of a
 * UTF-8 character, so its text alone cannot say). Read from the GGUF vocabulary (`tokenizer.ggml.tokens`):
 * - byte-level BPE (`tokenizer.ggml.model = "gpt2"`, Qwen, Llama 3): each character of the token string stands for one
 *   byte through GPT-2's `bytes_to_unicode` table (openai/gpt-2 `encoder.py`);
 * - SentencePiece (`"llama"`): `▁` is a space and `<0xNN>` is the byte NN; other text is UTF-8.
 * Control and unused tokens (`tokenizer.ggml.token_type` 3 and 5, llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL` and
 * `_UNUSED`) have no bytes: the answer's text never holds them (llama.cpp renders them as nothing without `special`), so
 * the bytes of every generated token still concatenate to the text, even when a random-weight model samples one of
 * Qwen's `[PAD…]` entries. Unknown models fall back to the UTF-8 of the detokenized text.
 */
export function createTokenBytes(model: LlamaModel): (token: Token) => number[] {
  const metadata = model.fileInfo.metadata.tokenizer?.ggml as
    | { model?: string; tokens?: readonly string[]; token_type?: readonly number[] }
    | undefined;
  const pieces = metadata?.tokens;
  const types = metadata?.token_type;
  const kind = metadata?.model;
  const byteDecoder = kind === "gpt2" ? createByteDecoder() : undefined;
  const encoder = new TextEncoder();
  return (token) => {
    const type = types?.[token];
    if (type === controlTokenType || type === unusedTokenType) return [];
    const piece = pieces?.[token];
    if (piece !== undefined && byteDecoder !== undefined) {
      const bytes: number[] = [];
      for (const char of piece) {
        const byte = byteDecoder.get(char);
        if (byte === undefined) return [...encoder.encode(model.detokenize([token], true))];
        bytes.push(byte);
      }
      return bytes;
    }
    if (piece !== undefined && kind === "llama") {
      const byteMatch = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (byteMatch) return [Number.parseInt(byteMatch[1]!, 16)];
      return [...encoder.encode(piece.replaceAll("\u2581", " "))];
    }
    return [...encoder.encode(model.detokenize([token], true))];
  };
}

/** llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL` and `LLAMA_TOKEN_TYPE_UNUSED` (llama.h `enum llama_token_type`). */
const controlTokenType = 3;
const unusedTokenType = 5;

/** GPT-2's `bytes_to_unicode` inverted: printable stand-in character → byte. */
function createByteDecoder(): Map<string, number> {
  const printable: number[] = [];
  for (let byte = 33; byte <= 126; byte++) printable.push(byte);
  for (let byte = 161; byte <= 172; byte++) printable.push(byte);
  for (let byte = 174; byte <= 255; byte++) printable.push(byte);
  const decoder = new Map<string, number>();
  for (const byte of printable) decoder.set(String.fromCodePoint(byte), byte);
  let next = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (printable.includes(byte)) continue;
    decoder.set(String.fromCodePoint(256 + next), byte);
    next++;
  }
  return decoder;
}
