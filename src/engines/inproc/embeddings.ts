import type { LlamaEmbeddingContext, LlamaModel, Token } from "node-llama-cpp";
import { MoestroError } from "../../errors/index.js";
import type { PromptTokenizer } from "./prompt-tokenizer.js";

/** Options of {@link Embeddings}. */
export interface EmbeddingsOptions {
  model: LlamaModel;
  /** Tokenizes the text inputs without stalling the event loop, and refuses at once those that cannot fit. */
  tokenizer: PromptTokenizer;
  /** The model's context window per sequence, tokens: the longest input embedded, and the embedding context's size. */
  contextTokens: number;
  /** Tokens in the vocabulary (ids at or above it are refused); 0 when unknown. */
  vocabularySize: number;
  /** CPU threads of the embedding context. */
  threads: number;
}

/**
 * The embeddings of one model: an embedding context created on first use, which requests take in turns.
 */
export class Embeddings {
  readonly #options: EmbeddingsOptions;
  #embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  #embeddingQueue: Promise<unknown> = Promise.resolve();

  constructor(options: EmbeddingsOptions) {
    this.#options = options;
  }

  /**
   * Embeds each input (a text, or token ids), in order.
   *
   * @returns one vector per input, the input tokens counted, and the engine time of the request's turn on the embedding
   *   context (ms, the time pricing's measure).
   * @throws {MoestroError} `invalid_request` (400, `param: "input"`) for an empty input, a token id outside the
   *   vocabulary, or an input longer than the context window.
   * @throws the signal's reason when `signal` aborts between inputs; what `PromptTokenizer.tokenize` throws.
   */
  async embed(
    inputs: ReadonlyArray<string | readonly number[]>,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number; engineTimeMs: number }> {
    const { model, tokenizer, vocabularySize, contextTokens } = this.#options;
    const tokenized: Token[][] = [];
    // Texts short enough to be tokenized at once share one turn of the event loop until they add up to a long prompt's
    // length; then the loop gets a turn (2,048 such inputs were seconds of tokenizing in one turn).
    let charsThisTurn = 0;
    for (const [index, input] of inputs.entries()) {
      let tokens: readonly number[];
      if (typeof input === "string") {
        charsThisTurn += input.length;
        if (charsThisTurn > tokenizer.inlineMaxChars) {
          await new Promise((resolve) => setImmediate(resolve));
          charsThisTurn = input.length;
        }
        const result = await tokenizer.tokenize(
          { kind: "text", text: input, specialTokens: false, addBos: false },
          { maxTokens: contextTokens, signal: options.signal, param: "input" },
        );
        if ("atLeastTokens" in result) throw tooLong(index, `${result.atLeastTokens} tokens or more`, contextTokens);
        tokens = result.tokens;
      } else tokens = input;
      if (tokens.length === 0) throw new MoestroError("invalid_request", `input[${index}] is empty.`, { param: "input" });
      if (tokens.length > contextTokens) throw tooLong(index, `${tokens.length} tokens`, contextTokens);
      for (const token of tokens) {
        if (!Number.isInteger(token) || token < 0 || (vocabularySize > 0 && token >= vocabularySize)) {
          throw new MoestroError(
            "invalid_request",
            `input[${index}] holds the token id ${token}, outside the vocabulary of ${vocabularySize} tokens.`,
            { param: "input" },
          );
        }
      }
      // A text's tokens are a fresh array already; token ids from the request are copied.
      tokenized.push((typeof input === "string" ? tokens : [...tokens]) as Token[]);
    }
    this.#embeddingContext ??= model.createEmbeddingContext({
      contextSize: contextTokens,
      threads: this.#options.threads,
      batchSize: contextTokens,
    });
    const context = await this.#embeddingContext;
    // One embedding context serves the model: requests take turns.
    // The context runs one request at a time, so the request's engine time is the time of its turn.
    const run = this.#embeddingQueue.then(async () => {
      const embeddings: Float32Array[] = [];
      const startedAt = performance.now();
      for (const tokens of tokenized) {
        options.signal?.throwIfAborted();
        const embedding = await context.getEmbeddingFor(tokens);
        embeddings.push(Float32Array.from(embedding.vector));
      }
      return { embeddings, engineTimeMs: performance.now() - startedAt };
    });
    this.#embeddingQueue = run.catch(() => undefined);
    const { embeddings, engineTimeMs } = await run;
    return { embeddings, promptTokens: tokenized.reduce((total, tokens) => total + tokens.length, 0), engineTimeMs };
  }

  /** Frees the embedding context, when one was created. The tokenizer belongs to the caller. */
  async dispose(): Promise<void> {
    if (this.#embeddingContext) await (await this.#embeddingContext).dispose();
  }
}

function tooLong(index: number, tokens: string, contextTokens: number): MoestroError {
  return new MoestroError("invalid_request", `input[${index}] has ${tokens}; this model embeds at most ${contextTokens}.`, {
    param: "input",
  });
}
