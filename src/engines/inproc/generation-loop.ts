import { LlamaGrammarEvaluationState, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type { FinishReason, GenerateRequest, StreamPart, TokenLogprob } from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import { IncrementalDetokenizer } from "./incremental-detokenizer.js";
import { OutputParser, type MarkerTokens, type OutputMode } from "./output-parser.js";
import type { PreparedGeneration } from "./request-preparation.js";
import type { GeneratedToken, TokenSource, TokenSourceFactory } from "./token-source.js";

/** Counters of one model's generations, read by `stats()`. */
export interface GenerationCounters {
  activeGenerations: number;
  generatedTokensTotal: number;
}

/** What every generation of one model shares: the model, its marker tokens, the counters. */
export interface GenerationShared {
  /** The model: its vocabulary tokenizes, detokenizes and tells end-of-generation tokens (weights not needed). */
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
  /** A token's raw bytes, for logprobs. */
  tokenBytes: (token: Token) => number[];
  logger: Logger;
  /** Updated by every generation. */
  counters: GenerationCounters;
  /** Replaces the engine's sampling for some requests (tests); see `TokenSourceFactory`. */
  createTokenSource?: TokenSourceFactory;
}

/** The grammar that constrains the next token now, and its evaluation state (which follows the tokens accepted). */
export interface ActiveGrammar {
  grammar: LlamaGrammar;
  state: LlamaGrammarEvaluationState;
}

/**
 * Where a generation runs: a sequence of the in-process context (`sequence-target.ts`) or a slot of a llama-server
 * worker (`src/engines/llama-server/`). The loop is the same for both: one output parser, the same injections.
 */
export interface GenerationTarget {
  /**
   * Aligns the target's KV cache with the prompt; returns how many prompt tokens need no evaluation (prefix reuse).
   * `options.signal` is the request's: a target that waits (for another request's prefill of the same prefix) stops
   * waiting when it aborts. `options.priority` is the request's line.
   */
  reusePrefix(promptTokens: Token[], options?: { signal?: AbortSignal; priority?: GenerateRequest["priority"] }): Promise<number>;
  /**
   * Called when the generation ends, however it ends (after its last step, or without any), and earlier when a scripted
   * source replaces the target's: a target releases what it promised others (a shared prefill's waiters). Idempotent.
   * Optional.
   */
  settle?(): void;
  /**
   * The token source of a sampled generation. `grammar` says which grammar constrains the next token (it changes as
   * the parser moves between thought, answer and tool calls), `undefined` for none.
   */
  createTokenSource(options: {
    request: GenerateRequest;
    prepared: PreparedGeneration;
    grammar: () => ActiveGrammar | undefined;
  }): TokenSource;
  /**
   * The prompt tokens the engine reports it took from its cache, for a target that learns it only from the engine's
   * answer (a worker); read once the generation ended. `undefined` keeps `reusePrefix`'s count.
   */
  reportedCachedPromptTokens?(): number | undefined;
  /**
   * Speculative decoding: tokens drafted and accepted during this generation, read once it ended; `undefined` (or no
   * method) when it did not speculate.
   */
  draftCounts?(): { draftTokens: number; acceptedDraftTokens: number } | undefined;
  /**
   * The engine's busy time charged to this generation, ms (`Usage.engineTimeMs`), read once it ended; `undefined` (or no
   * method) when the target does not measure it.
   */
  engineTimeMs?(): number | undefined;
}

/**
 * Runs one generation on `target`: pulls tokens from the request's token source (the engine's sampling unless
 * `shared.createTokenSource` gives one) and feeds them to one output parser. Yields text, reasoning and tool-call parts,
 * then exactly one `finish`, last; on abort, `finish` has `finishReason: "abort"`. Calls `release` when it ends,
 * however it ends, and `onPromptCached` with the prompt tokens taken from the cache as soon as the prefix is reused,
 * before the prefill (not for a target with `reportedCachedPromptTokens`, which learns it only at the end).
 */
export async function* runGeneration(
  shared: GenerationShared,
  target: GenerationTarget,
  prepared: PreparedGeneration,
  request: GenerateRequest,
  release: () => void,
  onPromptCached?: (cachedPromptTokens: number) => void,
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
    const cachedPromptTokens = await target.reusePrefix(promptTokens, { signal, priority: request.priority });
    // Known before the prefill: the stream says it at once (Anthropic's message_start carries the cached split). A
    // target that learns it only from the engine's answer (a worker) says it in the finish part alone.
    if (target.reportedCachedPromptTokens === undefined) onPromptCached?.(cachedPromptTokens);
    const contentGrammar: ActiveGrammar | undefined = prepared.contentGrammar && {
      grammar: prepared.contentGrammar,
      state: new LlamaGrammarEvaluationState({ model, grammar: prepared.contentGrammar }),
    };
    let toolGrammar: ActiveGrammar | undefined;
    let toolGrammarFor = -1;
    let toolCallsStarted = 0;
    const grammar = (): ActiveGrammar | undefined => {
      if (parser.mode === "content") return contentGrammar;
      if (parser.mode === "tool" && prepared.toolGrammar) {
        // A fresh grammar state per tool call; it starts after the "\n" that follows <tool_call>.
        if (toolGrammarFor !== toolCallsStarted) {
          toolGrammarFor = toolCallsStarted;
          toolGrammar = { grammar: prepared.toolGrammar, state: new LlamaGrammarEvaluationState({ model, grammar: prepared.toolGrammar }) };
        }
        return toolGrammar;
      }
      return undefined;
    };
    const scripted = shared.createTokenSource?.(request, model);
    // A scripted source evaluates nothing on the target: whoever waits for this prompt's evaluation goes on alone.
    if (scripted !== undefined) target.settle?.();
    const source = scripted ?? target.createTokenSource({ request, prepared, grammar });
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
      // Cancelled before a step (while waiting for a shared prefill, say): nothing more is evaluated.
      if (signal?.aborted) break;
      let injected = false;
      const tokens = source.tokens(input);
      input = [];
      let next: Promise<IteratorResult<GeneratedToken, void>> | undefined;
      try {
        // Decode-ahead: once a token is parsed and generation goes on, the next step is asked for before the token's
        // parts go to the consumer, so that the engine decodes while the consumer encodes and writes them
        // (docs/engine.md, "Decode-ahead"). A step is never asked for when the token ends the generation or tokens
        // must be injected after it, so no token is evaluated that the output does not hold.
        next = tokens.next();
        for (;;) {
          const step = await next;
          next = undefined;
          if (step.done) break;
          const { token, logprob } = step.value;
          if (signal?.aborted) break generation;
          if (model.isEogToken(token) || prepared.stopTokens.has(token)) break;
          counters.generatedTokensTotal++;
          const { parts, stop } = feed(token, logprob);
          if (stop) {
            yield* parts;
            finishReason = stop;
            break generation;
          }
          if (pending.length > 0) {
            yield* parts;
            // Tokens must go in (a closed thought, a tool call's end): the last token is not evaluated yet, so it leads.
            input = [token];
            injected = true;
            break;
          }
          next = tokens.next();
          yield* parts;
        }
      } finally {
        // The consumer left while a step ran ahead: its outcome no longer matters, but must not go unhandled.
        next?.catch(() => undefined);
        // Ends the source's evaluation (after a step still running, which async generators queue it behind).
        await tokens.return(undefined);
      }
      if (!injected) finishReason = source.heldAtLimit?.() === undefined ? parser.naturalFinishReason : "length";
    }
    if (signal?.aborted) finishReason = "abort";
    else yield* parser.end();
    if (finishReason === "stop" && parser.toolCalls.length > 0) finishReason = "tool_calls";
    const stopSequence = finishReason === "stop" ? parser.stopSequence : undefined;
    const draftCounts = target.draftCounts?.();
    const engineTimeMs = target.engineTimeMs?.();
    yield {
      type: "finish",
      finishReason: finishReason ?? "stop",
      ...(stopSequence === undefined ? {} : { stopSequence }),
      usage: {
        promptTokens: promptTokens.length,
        completionTokens: parser.completionTokens + (source.heldAtLimit?.() ?? 0),
        cachedPromptTokens: target.reportedCachedPromptTokens?.() ?? cachedPromptTokens,
        reasoningTokens: parser.reasoningTokens,
        ...(prepared.explicitCache === undefined
          ? {}
          : { cacheCreationInputTokens: prepared.explicitCache.creationTokens, cacheReadInputTokens: prepared.explicitCache.readTokens }),
        ...draftCounts,
        ...(engineTimeMs === undefined ? {} : { engineTimeMs }),
      },
    };
  } finally {
    shared.counters.activeGenerations--;
    try {
      target.settle?.();
    } finally {
      release();
    }
  }
}
