import type { LlamaGrammarEvaluationState, Token } from "node-llama-cpp";

/** The part of node-llama-cpp's internals this module reaches (3.21.1; the version is pinned in package.json). */
interface GrammarStateInternals {
  _llama: { _bindings: { AddonSampler: { acceptGrammarEvaluationStateToken(state: unknown, token: Token): void } } };
  _state: unknown;
}

/**
 * Advances a grammar state by one token chosen outside llama.cpp's sampler (the logprobs path samples in JavaScript),
 * so that the grammar constrains the next token from where the output really is. node-llama-cpp has no public call for
 * this; it is what its own `LlamaSampler._acceptTokenOnGrammarEvaluationState` does
 * (node_modules/node-llama-cpp/dist/evaluator/LlamaContext/LlamaSampler.js), used by its `LlamaChat` and token
 * predictors. End-of-generation tokens must not be passed: llama.cpp's grammar rejects them.
 *
 * @throws when the grammar does not allow `token` (llama.cpp: "Unexpected empty grammar stack after accepting piece").
 */
export function acceptGrammarToken(state: LlamaGrammarEvaluationState, token: Token): void {
  const internals = state as unknown as GrammarStateInternals;
  internals._llama._bindings.AddonSampler.acceptGrammarEvaluationStateToken(internals._state, token);
}
