import type { ControlledEvaluateInputItem, EvaluationPriority, LlamaContextSequence, SequenceEvaluateOptions, Token } from "node-llama-cpp";
import type { EngineTimeMeter } from "../engine-time.js";
import type { DecodeBatching } from "./decode-batching.js";
import type { BackOff, DraftCounts, Drafter } from "./speculation.js";
import type { TokenSource } from "./token-source.js";

/** Options of {@link createSpeculativeTokenSource}. */
export interface SpeculativeTokenSourceOptions {
  sequence: LlamaContextSequence;
  /** Sampling options, the evaluation priority and the token bias; no grammar and no penalties (see `shouldSpeculate`). */
  evaluateOptions: Pick<SequenceEvaluateOptions, "temperature" | "topK" | "topP" | "minP" | "tokenBias" | "evaluationPriority">;
  batching: DecodeBatching;
  /** Where the generation's share of the engine's busy time adds up (see `DecodeBatching.step`); none when absent. */
  meter?: EngineTimeMeter;
  /** The sequence's drafter; {@link Drafter.begin} is called here. */
  drafter: Drafter;
  /** Sets each step's draft length, and pauses drafting while drafts are mostly rejected (the sequence's, kept across requests). */
  backOff: BackOff;
  /** The request's whole prompt. */
  promptTokens: readonly Token[];
  /** Updated at each step: tokens drafted and accepted by this request so far. */
  counts: DraftCounts;
}

/**
 * The token source of a speculative generation. Each step asks the drafter for up to `maxDraftTokens` tokens, then
 * evaluates the step's input and the drafted tokens in one batch (`controlledEvaluate`), sampling the model's own next
 * token after each of them: the model's token after the input is always kept, and each drafted token that equals the
 * model's own pick at its position lets the model's token after it be kept too. Rejected drafted tokens are erased from
 * the KV cache, so that the sequence holds exactly the text generated. Each kept token was sampled from the model's
 * distribution given the text before it, so greedy output is the same as plain decoding's; sampled output has the
 * same distribution.
 *
 * A step without drafted tokens (drafting paused by the back-off, or nothing to propose) runs on node-llama-cpp's own
 * one-token loop (`sequence.evaluate`), kept open across such steps: each `controlledEvaluate` creates a sampler, which
 * cost about 6 ms per call on a 151,936-token vocabulary, more than a whole decode step of a small model.
 *
 * node-llama-cpp's own speculative path (`getSequence({tokenPredictor})`) is not used: in 3.21.1 it validates at most one
 * drafted token per evaluation (`_speculativeEvaluate` compares later drafted tokens with an array it never fills), so
 * it could never more than double the tokens per evaluation (docs/engine.md, "Speculative decoding").
 */
export function createSpeculativeTokenSource(options: SpeculativeTokenSourceOptions): TokenSource {
  const { sequence, batching, drafter, backOff, counts, meter } = options;
  const { evaluationPriority, ...sampling } = options.evaluateOptions;
  const plainOptions: SequenceEvaluateOptions = options.evaluateOptions;
  const model = sequence.model;
  drafter.begin(options.promptTokens);
  return {
    takesInjections: true,
    async *tokens(input) {
      batching.join();
      /** Tokens in the KV cache beyond those the consumer has taken (see the `finally`). */
      let surplus = 0;
      /** node-llama-cpp's own decoding loop, for the steps without drafted tokens (see the function's comment). */
      let plain: AsyncGenerator<Token, void, Token | Token[] | undefined> | undefined;
      try {
        let pending = input.slice();
        for (let prefill = pending.length > 1; ; prefill = false) {
          const room = sequence.contextSize - sequence.nextTokenIndex - pending.length - 1;
          const limit = Math.min(backOff.draftTokens(), room);
          let drafts: Token[] = [];
          if (limit > 0) {
            drafts = (await drafter.draft([...sequence.contextTokens, ...pending], limit)).slice(0, limit);
          }
          if (drafts.length === 0) {
            // The next one-token step of the plain loop evaluates `pending` (its last yielded token, or the input).
            plain ??= sequence.evaluate(pending, plainOptions);
            const generator = plain;
            await batching.turn(prefill);
            const step = await batching.step(prefill, () => generator.next(), meter, pending.length);
            if (step.done) return;
            yield { token: step.value };
            pending = [step.value];
            continue;
          }
          if (plain !== undefined) {
            // Its last token is not evaluated yet: it leads the batch below.
            await plain.return(undefined);
            plain = undefined;
          }
          // A fresh seed per step: each controlledEvaluate has its own sampler, which a fixed seed would restart.
          const sample = {
            generateNext: { token: true, options: { ...sampling, seed: Math.floor(Math.random() * 0x1_0000_0000) } },
          };
          const items: ControlledEvaluateInputItem[] = [
            ...pending.slice(0, -1),
            [pending.at(-1)!, sample],
            ...drafts.map((token): ControlledEvaluateInputItem => [token, sample]),
          ];
          await batching.turn(prefill);
          const results = await batching.step(
            prefill,
            () => sequence.controlledEvaluate(items, { evaluationPriority: evaluationPriority as EvaluationPriority | undefined }),
            meter,
            items.length,
          );
          const base = pending.length - 1;
          const generated: Token[] = [];
          let accepted = 0;
          for (let index = 0; ; index++) {
            const token = results[base + index]?.next.token;
            if (token === undefined || token === null) throw new Error("llama.cpp failed to sample a token");
            generated.push(token);
            if (index >= drafts.length || drafts[index] !== token || model.isEogToken(token)) break;
            accepted++;
          }
          counts.draftTokens += drafts.length;
          counts.acceptedDraftTokens += accepted;
          backOff.record(drafts.length, accepted);
          const rejected = drafts.length - accepted;
          if (rejected > 0) {
            const end = sequence.nextTokenIndex;
            await sequence.eraseContextTokenRanges([{ start: end - rejected, end }]);
          }
          // The KV cache holds the accepted drafted tokens, which are generated[0..accepted-1]; the consumer expects it
          // to hold the tokens before the one it took last.
          surplus = accepted;
          for (const token of generated) {
            yield { token };
            surplus--;
          }
          surplus = 0;
          pending = [generated.at(-1)!];
        }
      } finally {
        try {
          await plain?.return(undefined);
          // Stopped before the step's last token (a stop, an injection): drop what the consumer never took, so that an
          // injection's input follows the last token it did take.
          if (surplus > 0) {
            const end = sequence.nextTokenIndex;
            await sequence.eraseContextTokenRanges([{ start: end - surplus, end }]);
          }
        } finally {
          batching.leave();
        }
      }
    },
  };
}
