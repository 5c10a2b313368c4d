import type {
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  StreamPart,
  TokenLogprob,
  ToolCall,
  Usage,
} from "../../spec/index.js";

/** One choice's part, tagged with the choice index. */
export type ChoicePart = StreamPart & { index: number };

/** The parts of every choice, with the prompt's tokens (known once the first choice is admitted). */
export type ChoiceParts = AsyncGenerator<ChoicePart, void, undefined> & { readonly promptTokens: number };

/**
 * Admits the first of `n` choices (so that a bad request fails before any streamed byte) and returns an iterator over
 * the parts of all `n` choices, one after another. Choice `i` uses seed `seed + i` when a seed is given, so that `n`
 * sampled choices differ while a seeded request stays reproducible.
 *
 * The iterator frees every sequence it holds when it ends or is closed early, and then calls `onEnd` (which releases the
 * model). When this function throws, `onEnd` has been called.
 *
 * @throws what `backend.generate` throws for the first choice.
 */
export async function startChoices(backend: ModelBackend, request: GenerateRequest, n: number, onEnd: () => void): Promise<ChoiceParts> {
  let first: GenerationStream;
  try {
    first = await backend.generate(request);
  } catch (error) {
    onEnd();
    throw error;
  }
  const generator = runChoices(backend, request, n, first, onEnd);
  // A generator that never started skips its finally; closing it before the first step must still free the sequence and the model.
  let started = false;
  const guarded: ChoiceParts = {
    promptTokens: first.promptTokens,
    next: (...args) => {
      started = true;
      return generator.next(...args);
    },
    return: async (value) => {
      if (!started) {
        started = true;
        await first.close();
        onEnd();
      }
      return await generator.return(value);
    },
    throw: (error) => generator.throw(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return guarded;
}

async function* runChoices(
  backend: ModelBackend,
  request: GenerateRequest,
  n: number,
  first: GenerationStream,
  onEnd: () => void,
): AsyncGenerator<ChoicePart, void, undefined> {
  let current: GenerationStream | undefined = first;
  try {
    for (let index = 0; index < n; index++) {
      if (index > 0) {
        const seed = request.sampling.seed;
        current = await backend.generate({
          ...request,
          sampling: { ...request.sampling, seed: seed === undefined ? undefined : seed + index },
        });
      }
      for await (const part of current!) yield { index, ...part };
      current = undefined;
    }
  } finally {
    await current?.close();
    onEnd();
  }
}

/** The collected result of one choice. */
export interface CollectedChoice {
  index: number;
  /** The answer. */
  text: string;
  /** The thought, `""` when the model did not think. */
  reasoning: string;
  /** Tool calls, in order. */
  toolCalls: ToolCall[];
  /** Log-probabilities of the answer tokens, when asked for. */
  logprobs: TokenLogprob[] | undefined;
  finishReason: FinishReason;
  usage: Usage;
}
