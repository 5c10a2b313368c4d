import { createSeededRandom } from "../../util/seeded-random.js";
import type { Token } from "node-llama-cpp";
import type { SamplingOptions } from "../../spec/index.js";
import { defaultTopK } from "./sampling-options.js";

/**
 * Samples the next token from the model's raw distribution with OpenAI-style options, in the order llama.cpp's
 * default sampler chain applies them (top-k, top-p, min-p, temperature; llama.cpp `common/sampling.cpp`). Used when
 * log-probabilities are requested: they must describe the model's own distribution (OpenAI's `logprobs`), so the
 * engine asks llama.cpp for the unfiltered distribution and picks the token here.
 *
 * @param probabilities the raw distribution at temperature 1, sorted most likely first (node-llama-cpp's order).
 * @param random a uniform random number in [0, 1).
 * @returns the chosen token. Temperature 0 (or below) is greedy: the most likely token.
 */
export function sampleToken(probabilities: ReadonlyMap<Token, number>, sampling: SamplingOptions, random: () => number): Token {
  const temperature = sampling.temperature ?? 1;
  const first = probabilities.keys().next();
  if (first.done) throw new Error("empty distribution");
  if (temperature <= 0) return first.value;
  let candidates = [...probabilities.entries()];
  const topK = sampling.topK ?? defaultTopK;
  if (topK > 0) candidates = candidates.slice(0, topK);
  const topP = sampling.topP ?? 1;
  if (topP < 1) {
    const total = candidates.reduce((sum, [, probability]) => sum + probability, 0);
    let mass = 0;
    let keep = 0;
    while (keep < candidates.length && mass < topP * total) mass += candidates[keep++]![1];
    candidates = candidates.slice(0, Math.max(1, keep));
  }
  const minP = sampling.minP ?? 0;
  if (minP > 0) {
    const threshold = candidates[0]![1] * minP;
    candidates = candidates.filter(([, probability]) => probability >= threshold);
  }
  // p^(1/T) renormalised is softmax(logit / T).
  const weights = candidates.map(([, probability]) => probability ** (1 / temperature));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let target = random() * total;
  for (const [index, weight] of weights.entries()) {
    target -= weight;
    if (target < 0) return candidates[index]![0];
  }
  return candidates.at(-1)![0];
}

/**
 * The sampler's random numbers: seeded (mulberry32, `util/seeded-random.ts`) so that the same seed gives the same
 * output; without a seed, from a random seed.
 *
 * @returns a function giving uniform numbers in [0, 1).
 */
export function createRandom(seed?: number): () => number {
  return createSeededRandom(seed ?? Math.floor(Math.random() * 2 ** 32));
}
