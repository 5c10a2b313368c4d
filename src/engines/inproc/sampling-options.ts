import type { SequenceEvaluateOptions, Token } from "node-llama-cpp";
import type { SamplingOptions } from "../../spec/index.js";

/** The default top-k: 40, as llama.cpp's `common_params_sampling.top_k`, llama-server and Ollama. */
export const defaultTopK = 40;

/** Maps OpenAI-style sampling options to node-llama-cpp's: OpenAI's defaults (temperature 1, top-p 1), top-k 40. */
export function toEvaluateOptions(sampling: SamplingOptions, recentTokens: () => Token[]): SequenceEvaluateOptions {
  const presencePenalty = sampling.presencePenalty ?? 0;
  const frequencyPenalty = sampling.frequencyPenalty ?? 0;
  return {
    temperature: sampling.temperature ?? 1,
    topP: sampling.topP ?? 1,
    // llama.cpp's, llama-server's and Ollama's default of 40: the whole vocabulary (top_k 0, as OpenAI does) costs a
    // full softmax and sort per token, many times slower on a large vocabulary (docs/engine.md).
    topK: sampling.topK ?? defaultTopK,
    minP: sampling.minP ?? 0,
    seed: sampling.seed,
    repeatPenalty:
      presencePenalty === 0 && frequencyPenalty === 0
        ? undefined
        : { punishTokens: recentTokens, penalty: 1, presencePenalty, frequencyPenalty },
  };
}
