import {
  LlamaGrammarEvaluationState,
  type EvaluationPriority,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { Logger } from "pino";
import type { FinishReason, GenerateRequest, StreamPart, TokenLogprob } from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import type { DecodeBatching } from "./decode-batching.js";
import { IncrementalDetokenizer } from "./incremental-detokenizer.js";
import { OutputParser, type MarkerTokens, type OutputMode } from "./output-parser.js";
import type { PreparedGeneration } from "./request-preparation.js";
import { toEvaluateOptions } from "./sampling-options.js";
import { createLlamaTokenSource, type TokenSourceFactory } from "./token-source.js";

/** Counters of one model's generations, read by `stats()`. */
export interface GenerationCounters {
  activeGenerations: number;
  generatedTokensTotal: number;
}

/** What every generation of one model shares: the model, its marker tokens, the decode barrier, the counters. */
export interface GenerationShared {
  model: LlamaModel;
  /** The id the model is served under, for logs. */
  modelId: string;
  /** Context window per sequence, tokens. */
  contextTokens: number;
  markers: MarkerTokens;
  /** Token sequences every generation needs, tokenized once: `\n`, `\n</think>\n\n`, `\n</tool_call>`. */
  newlineTokens: Token[];
  closeThoughtTokens: Token[];
  closeToolCallTokens: Token[];
  /** The decode barrier of the model's context. */
  batching: DecodeBatching;
  /** Each sequence's index, in creation order (see `inSequenceOrder`). */
  sequenceIndex: Map<LlamaContextSequence, number>;
  /** A token's raw bytes, for logprobs. */
  tokenBytes: (token: Token) => number[];
  /** Whether a sequence's KV cache can be kept in part (not on recurrent and hybrid models). */
  canReusePrefix: boolean;
  logger: Logger;
  /** Updated by every generation. */
  counters: GenerationCounters;
  /** Replaces llama.cpp's sampling for some requests (tests); see `TokenSourceFactory`. */
  createTokenSource?: TokenSourceFactory;
}

/**
 * Runs one generation on `sequence`: pulls tokens from the request's token source (llama.cpp's sampling unless
 * `shared.createTokenSource` gives one) and feeds them to one output parser. Yields text, reasoning and tool-call parts,
 * then exactly one `finish`, last; on abort, `finish` has `finishReason: "abort"`. Calls `release` when it ends,
 * however it ends.
 */
export async function* runGeneration(
  shared: GenerationShared,
  sequence: LlamaContextSequence,
  prepared: PreparedGeneration,
  request: GenerateRequest,
  release: () => void,
): AsyncGenerator<StreamPart, void, undefined> {
  shared.counters.activeGenerations++;
  try {
    const { signal } = request;
    const model = shared.model;
    const promptTokens = prepared.promptTokens;
    const maxTokens = request.maxTokens ?? shared.contextTokens - promptTokens.length;
    const parser = new OutputParser({
      decoder: new IncrementalDetokenizer(model, promptTokens),
      markers: shared.markers,
      stop: [...request.stop, ...prepared.stopTexts],
      startsInReasoning: prepared.startsInReasoning,
      startsAfterThought: prepared.startsAfterThought,
      thinkingBudgetTokens: prepared.thinkingBudgetTokens,
      closeThoughtTokens: shared.closeThoughtTokens,
      closeToolCallTokens: shared.closeToolCallTokens,
      tools: prepared.tools,
      stopAfterFirstToolCall: prepared.stopAfterFirstToolCall,
      answerIsJson: prepared.contentGrammar !== undefined,
      createToolCallId: () => createRandomId("call_"),
      onMalformedToolCall: (text) =>
        shared.logger.warn({ model: shared.modelId, text: text.slice(0, 200) }, "a tool-call block could not be parsed; returned as text"),
    });
    const cachedPromptTokens = await reusePrefix(shared, sequence, promptTokens);
    const contentGrammarState = prepared.contentGrammar
      ? new LlamaGrammarEvaluationState({ model, grammar: prepared.contentGrammar })
      : undefined;
    let toolGrammarState: LlamaGrammarEvaluationState | undefined;
    let toolGrammarFor = -1;
    let toolCallsStarted = 0;
    const grammarState = (): LlamaGrammarEvaluationState | undefined => {
      if (parser.mode === "content") return contentGrammarState;
      if (parser.mode === "tool" && prepared.toolGrammar) {
        // A fresh grammar state per tool call; it starts after the "\n" that follows <tool_call>.
        if (toolGrammarFor !== toolCallsStarted) {
          toolGrammarFor = toolCallsStarted;
          toolGrammarState = new LlamaGrammarEvaluationState({ model, grammar: prepared.toolGrammar });
        }
        return toolGrammarState;
      }
      return undefined;
    };
    const source =
      shared.createTokenSource?.(request, model) ??
      createLlamaTokenSource({
        sequence,
        evaluateOptions: {
          ...toEvaluateOptions(request.sampling, () => sequence.contextTokens.slice(-64)),
          // Not a priority: the sequence's index, by which `inSequenceOrder` orders each batch.
          evaluationPriority: shared.sequenceIndex.get(sequence) as EvaluationPriority,
          tokenBias: prepared.tokenBias,
        },
        grammarState,
        batching: shared.batching,
        sampling: request.sampling,
        logprobs: request.logprobs,
        tokenBytes: shared.tokenBytes,
      });
    const injects = source.takesInjections;
    const newline = shared.newlineTokens;
    const counters = shared.counters;

    let input = promptTokens.slice(cachedPromptTokens);
    const pending: Token[] = injects ? [...prepared.forcedOutputTokens] : [];
    let finishReason: FinishReason | undefined;

    /** Feeds one token to the parser; returns the parts and whether generation must stop, or what to inject. */
    const feed = (token: Token, logprob?: TokenLogprob) => {
      const wasTool = parser.mode === "tool";
      const { parts, action } = parser.push(token, logprob);
      if (!wasTool && (parser.mode as OutputMode) === "tool") {
        toolCallsStarted++;
        // The JSON body starts on the next line: put the newline in before the grammar takes over.
        if (prepared.toolGrammar && injects) pending.push(...newline);
      }
      if (action.type === "inject" && injects) pending.push(...action.tokens);
      let stop: FinishReason | undefined = action.type === "stop" ? action.finishReason : undefined;
      if (stop === undefined && parser.completionTokens >= maxTokens) stop = "length";
      return { parts, stop };
    };

    generation: while (finishReason === undefined) {
      while (pending.length > 0) {
        if (signal?.aborted) break generation;
        const token = pending.shift()!;
        input.push(token);
        const { parts, stop } = feed(token);
        yield* parts;
        if (stop) {
          finishReason = stop;
          break generation;
        }
      }
      let injected = false;
      const tokens = source.tokens(input);
      input = [];
      for await (const { token, logprob } of tokens) {
        if (signal?.aborted) break generation;
        if (model.isEogToken(token) || prepared.stopTokens.has(token)) break;
        counters.generatedTokensTotal++;
        const { parts, stop } = feed(token, logprob);
        yield* parts;
        if (stop) {
          finishReason = stop;
          break generation;
        }
        if (pending.length > 0) {
          // Tokens must go in (a closed thought, a tool call's end): the last token is not evaluated yet, so it leads.
          input = [token];
          injected = true;
          break;
        }
      }
      if (!injected) finishReason = parser.naturalFinishReason;
    }
    if (signal?.aborted) finishReason = "abort";
    else yield* parser.end();
    if (finishReason === "stop" && parser.toolCalls.length > 0) finishReason = "tool_calls";
    yield {
      type: "finish",
      finishReason: finishReason ?? "stop",
      usage: {
        promptTokens: promptTokens.length,
        completionTokens: parser.completionTokens,
        cachedPromptTokens,
        reasoningTokens: parser.reasoningTokens,
      },
    };
  } finally {
    shared.counters.activeGenerations--;
    release();
  }
}

/**
 * Aligns the sequence's KV cache with the new prompt and returns how many prompt tokens are already evaluated.
 * At least the last prompt token is always evaluated again, because its logits are needed to sample the first token.
 */
async function reusePrefix(shared: GenerationShared, sequence: LlamaContextSequence, promptTokens: Token[]): Promise<number> {
  if (!shared.canReusePrefix) {
    if (sequence.nextTokenIndex > 0) await sequence.clearHistory();
    return 0;
  }
  const { firstDifferentIndex } = sequence.compareContextTokens(promptTokens);
  const keep = Math.min(firstDifferentIndex, promptTokens.length - 1);
  if (keep < sequence.nextTokenIndex) {
    await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
  }
  return keep;
}
