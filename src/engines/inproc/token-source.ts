import type { LlamaContextSequence, LlamaGrammarEvaluationState, LlamaModel, SequenceEvaluateOptions, Token } from "node-llama-cpp";
import type { GenerateRequest, SamplingOptions, TokenLogprob } from "../../spec/index.js";
import type { EngineTimeMeter } from "../engine-time.js";
import type { DecodeBatching } from "./decode-batching.js";
import { acceptGrammarToken } from "./grammar-state.js";
import { createRandom, sampleToken } from "./sampling.js";

/** One generated token, with its log-probability when the request asked for logprobs. */
export interface GeneratedToken {
  token: Token;
  logprob?: TokenLogprob;
}

/**
 * Where a generation's tokens come from: llama.cpp's sampling, sampling with log-probabilities, or, in tests, a script.
 * The generation loop feeds every token it gets to one output parser, whatever the source.
 */
export interface TokenSource {
  /**
   * Whether the loop may put tokens of its own into the output: an opened tool call for a forced `tool_choice`, the
   * newline before a tool call's body, a thought closed at its budget, a tool call's end. A script already holds them.
   */
  readonly takesInjections: boolean;
  /**
   * Tokens the engine generated at its token limit that it never handed over (a llama-server worker holds back a
   * token that ends inside a UTF-8 character, and sends nothing for one that is last), when the last stream ended so;
   * `undefined` when it did not end at the engine's limit. The loop then reports `length` and counts them. Optional:
   * sources whose limit is the loop's own never end so.
   */
  heldAtLimit?(): number | undefined;
  /**
   * Evaluates `input` after what the sequence holds, then yields the next token at each step. `input` is the prompt's
   * part that is not in the KV cache on the first call; after an injection, the last yielded token followed by the
   * injected ones. Ending the iteration (`return`) stops evaluation. An end-of-generation token ends it too, yielded
   * or not.
   */
  tokens(input: Token[]): AsyncGenerator<GeneratedToken, void, undefined>;
}

/**
 * Makes a request's token source in place of llama.cpp's sampling (a test seam: a scripted output), or returns
 * `undefined` to sample. Receives the model, to tokenize a script.
 */
export type TokenSourceFactory = (request: GenerateRequest, model: LlamaModel) => TokenSource | undefined;

/**
 * A sequence's node-llama-cpp evaluation kept open between requests, so that its sampler is made once: each
 * `sequence.evaluate` creates a sampler, which cost about 10 ms on a 151,936-token vocabulary (docs/engine.md,
 * "Reused evaluations"). Suspended after its last yielded token; the next request resumes it with its own input.
 */
export interface ReusableEvaluation {
  /** The sampling options it was opened with (see {@link reusableEvaluationKey}). */
  key: string;
  steps: AsyncGenerator<{ token: Token }, void, Token[] | undefined>;
}

/** Where a sequence keeps its {@link ReusableEvaluation} between requests. */
export interface ReusableEvaluationSlot {
  current?: ReusableEvaluation;
}

/**
 * The key under which a request may reuse a sequence's open evaluation, or `undefined` when it must open its own: only
 * plain requests qualify (no grammar, token bias, penalties or logprobs), since an open evaluation keeps the options it
 * was opened with, and the sampler's state (a seeded generator's position) must not carry from one request to the next:
 * a seed counts only where it matters, above temperature 0.
 */
export function reusableEvaluationKey(
  options: Pick<SequenceEvaluateOptions, "temperature" | "topK" | "topP" | "minP" | "seed" | "repeatPenalty" | "tokenBias">,
  request: { hasGrammar: boolean; logprobs: boolean },
): string | undefined {
  if (request.hasGrammar || request.logprobs || options.tokenBias !== undefined || options.repeatPenalty !== undefined) return undefined;
  const temperature = options.temperature ?? 0;
  if (temperature > 0 && options.seed !== undefined) return undefined;
  return temperature > 0 ? `${temperature}|${options.topK}|${options.topP}|${options.minP}` : "greedy";
}

/** Options of {@link createLlamaTokenSource}. */
export interface LlamaTokenSourceOptions {
  sequence: LlamaContextSequence;
  /** Sampling options, the evaluation priority and the token bias; the grammar comes from `grammarState`. */
  evaluateOptions: Omit<SequenceEvaluateOptions, "grammarEvaluationState">;
  /** The grammar state that constrains the next token, when one does (a function: the grammar follows the parser). */
  grammarState: () => LlamaGrammarEvaluationState | undefined;
  batching: DecodeBatching;
  /** Where the generation's share of the engine's busy time adds up (see `DecodeBatching.step`); none when absent. */
  meter?: EngineTimeMeter;
  sampling: SamplingOptions;
  /** Asks for log-probabilities and `top` alternatives per token. Defaults to none. */
  logprobs?: { top: number };
  /** A token's raw bytes (`TokenLogprob.bytes`; see `createTokenBytes`). */
  tokenBytes: (token: Token) => number[];
  /**
   * Where the sequence keeps its open evaluation, and this request's key ({@link reusableEvaluationKey}); without it,
   * each call of `tokens` opens its own and closes it.
   */
  reuse?: { key: string; slot: ReusableEvaluationSlot };
}

/** The logprob reported for a token whose probability is 0 (OpenAI reports -9999.0 for such tokens). */
const minimumLogprob = -9999;

/**
 * The token source of a real generation: llama.cpp samples with the request's options and grammar. With logprobs the
 * log-probabilities must describe the model's own distribution (OpenAI's `logprobs`), so llama.cpp is asked for it
 * unfiltered (temperature 1, no top-k/top-p/min-p) but under the grammar, and the token is sampled here with the
 * request's options (`sampleToken`), then handed back to the evaluation. The grammar state follows the token chosen
 * here, not llama.cpp's own pick; at temperature 0 the choice is the most likely token, so the output is the same on
 * every run, and the same as without logprobs.
 */
export function createLlamaTokenSource(options: LlamaTokenSourceOptions): TokenSource {
  const { sequence, batching, grammarState, meter } = options;
  if (options.logprobs === undefined) {
    const { reuse } = options;
    // An evaluation that is kept open must outlive an end-of-generation token: node-llama-cpp ends it there otherwise.
    const evaluateOptions: SequenceEvaluateOptions = {
      ...options.evaluateOptions,
      grammarEvaluationState: grammarState,
      yieldEogToken: reuse !== undefined,
    };
    return {
      takesInjections: true,
      async *tokens(input) {
        batching.join();
        const open = reuse?.slot.current;
        if (reuse !== undefined) reuse.slot.current = undefined;
        let steps: ReusableEvaluation["steps"];
        /** The first step: an open evaluation evaluates `input` in place of its last token, a new one its own input. */
        let next: () => Promise<IteratorResult<{ token: Token }, void>>;
        if (open !== undefined && open.key === reuse?.key) {
          steps = open.steps;
          next = () => steps.next(input);
        } else {
          if (open !== undefined) await open.steps.return(undefined);
          // evaluateWithMetadata, not evaluate: the same steps, without evaluate's own generator around them.
          steps = sequence.evaluateWithMetadata(input, {}, evaluateOptions);
          next = () => steps.next();
        }
        /** Whether the evaluation can serve the next request: it yielded its last token and did not end or fail. */
        let reusable = false;
        try {
          for (let prefill = input.length > 1; ; prefill = false) {
            // Every decoding generation asks for its next token at once (see DecodeBatching).
            await batching.turn(prefill);
            const step = await batching.step(prefill, next, meter, prefill ? input.length : 1);
            if (step.done) return;
            next = () => steps.next();
            reusable = reuse !== undefined;
            yield { token: step.value.token };
            reusable = false;
          }
        } finally {
          try {
            if (reusable && reuse !== undefined) reuse.slot.current = { key: reuse.key, steps };
            else await steps.return(undefined);
          } finally {
            batching.leave();
          }
        }
      },
    };
  }

  const { top } = options.logprobs;
  const { sampling, tokenBytes } = options;
  const model = sequence.model;
  const random = createRandom(sampling.seed);
  const unfiltered: SequenceEvaluateOptions = {
    ...options.evaluateOptions,
    temperature: 1,
    topK: 0,
    topP: 1,
    minP: 0,
    // llama.cpp applies the grammar to the distribution (node-llama-cpp does when probabilities are asked for) and
    // samples from it, then accepts its own pick into the state it was given: a clone, so that its pick is dropped.
    grammarEvaluationState: () => grammarState()?.clone(),
  };
  const toLogprob = (token: Token, probabilities: Map<Token, number>): TokenLogprob => {
    const entry = (candidate: Token, probability: number | undefined) => ({
      token: model.detokenize([candidate], true),
      logprob: probability !== undefined && probability > 0 ? Math.max(Math.log(probability), minimumLogprob) : minimumLogprob,
      bytes: tokenBytes(candidate),
    });
    const alternatives: TokenLogprob["top"] = [];
    if (top > 0) {
      for (const [candidate, probability] of probabilities) {
        if (alternatives.length >= top) break;
        alternatives.push(entry(candidate, probability));
      }
    }
    return { ...entry(token, probabilities.get(token)), top: alternatives };
  };
  return {
    takesInjections: true,
    async *tokens(input) {
      batching.join();
      const steps = sequence.evaluateWithMetadata(input, { probabilities: true }, unfiltered);
      try {
        await batching.turn(input.length > 1);
        let step = await batching.step(input.length > 1, () => steps.next(), meter, Math.max(1, input.length));
        while (!step.done) {
          const token = sampleToken(step.value.probabilities, sampling, random);
          const state = grammarState();
          if (state !== undefined && !model.isEogToken(token)) acceptGrammarToken(state, token);
          yield { token, logprob: toLogprob(token, step.value.probabilities) };
          await batching.turn();
          step = await batching.step(false, () => steps.next(token), meter);
        }
      } finally {
        try {
          await steps.return();
        } finally {
          batching.leave();
        }
      }
    },
  };
}
