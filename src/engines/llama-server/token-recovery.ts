import type { Token } from "node-llama-cpp";

/**
 * Recovers the ids of tokens that llama-server sampled but did not stream. Its `process_token`
 * (tools/server/server-context.cpp) sends no partial response for a token after which the text ends inside a UTF-8
 * character; the next token's chunk carries the text of both but only its own id. With byte-level vocabularies (Qwen)
 * such tokens are common in CJK text, emoji, and everything a random-weight test model writes.
 *
 * The bytes of the held-back tokens are the chunk's `content` (UTF-8) without the bytes of the tokens it names; they
 * are split into exactly `count` vocabulary tokens. One held-back token (the usual case) is found exactly; several are
 * split into some sequence of vocabulary tokens with those bytes (the same text; a different split than the model's
 * would only cost a cache miss on the next request of the slot).
 */
export class TokenRecovery {
  readonly #tokenBytes: (token: Token) => number[];
  readonly #vocabularySize: number;
  readonly #isControl: (token: Token) => boolean;
  #byBytes: Map<string, Token> | undefined;
  #longest = 0;

  /**
   * @param tokenBytes a token's raw bytes (`createTokenBytes`).
   * @param vocabularySize tokens in the vocabulary.
   * @param isControl whether a token is a control token (never a piece of text).
   */
  constructor(tokenBytes: (token: Token) => number[], vocabularySize: number, isControl: (token: Token) => boolean) {
    this.#tokenBytes = tokenBytes;
    this.#vocabularySize = vocabularySize;
    this.#isControl = isControl;
  }

  /**
   * The `count` tokens held back before `sent`, whose text together with `sent`'s is `content`.
   *
   * @returns the tokens, in order; fewer than `count` (none) when the bytes do not split so.
   */
  recover(content: string, sent: readonly Token[], count: number): Token[] {
    const contentBytes = Buffer.from(content, "utf8");
    const sentBytes = sent.flatMap((token) => this.#tokenBytes(token));
    if (sentBytes.length > contentBytes.length) return [];
    const missing = contentBytes.subarray(0, contentBytes.length - sentBytes.length);
    for (let index = 0; index < sentBytes.length; index++) {
      if (contentBytes[missing.length + index] !== sentBytes[index]) return [];
    }
    return this.#split(missing, count) ?? [];
  }

  #split(bytes: Buffer, count: number): Token[] | undefined {
    const byBytes = this.#index();
    const failed = new Set<string>();
    const walk = (start: number, left: number): Token[] | undefined => {
      if (left === 0) return start === bytes.length ? [] : undefined;
      const key = `${start}:${left}`;
      if (failed.has(key)) return undefined;
      // The longest pieces first: the model's own split is most often the greedy one.
      for (let end = Math.min(bytes.length, start + this.#longest); end > start; end--) {
        const token = byBytes.get(bytes.subarray(start, end).toString("latin1"));
        if (token === undefined) continue;
        const rest = walk(end, left - 1);
        if (rest !== undefined) return [token, ...rest];
      }
      failed.add(key);
      return undefined;
    };
    return walk(0, count);
  }

  /** Bytes (as a latin1 string) → token, built on first use (about 0.1–0.3 s for a 151,936-token vocabulary). */
  #index(): Map<string, Token> {
    if (this.#byBytes) return this.#byBytes;
    const map = new Map<string, Token>();
    for (let id = 0; id < this.#vocabularySize; id++) {
      const token = id as Token;
      if (this.#isControl(token)) continue;
      const bytes = this.#tokenBytes(token);
      if (bytes.length === 0) continue;
      const key = Buffer.from(bytes).toString("latin1");
      if (!map.has(key)) map.set(key, token);
      if (bytes.length > this.#longest) this.#longest = bytes.length;
    }
    this.#byBytes = map;
    return map;
  }
}
