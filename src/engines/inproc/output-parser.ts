import type { Token } from "node-llama-cpp";
import type { FinishReason, StreamPart, TokenLogprob, ToolCall, ToolDefinition } from "../../spec/index.js";
import { StopSequenceMatcher } from "../../util/stop-sequence-matcher.js";
import { JsonCompletionTracker, parseToolCallBody } from "./tool-call-format.js";

/** Vocabulary tokens that mark thoughts and tool calls (single tokens in Qwen vocabularies). */
export interface MarkerTokens {
  thinkStart?: Token;
  thinkEnd?: Token;
  toolCallStart?: Token;
  toolCallEnd?: Token;
}

/** Turns tokens into text, incrementally (see `IncrementalDetokenizer`). */
export interface TokenDecoder {
  push(token: Token): string;
  flush(): string;
}

/** Options of {@link OutputParser}. */
export interface OutputParserOptions {
  decoder: TokenDecoder;
  markers: MarkerTokens;
  /** Stop sequences: they end the thought or the answer, but never apply inside a JSON answer (`answerIsJson`) or a tool call. */
  stop: readonly string[];
  /** Whether the output starts inside a thought (the prompt ended with `<think>\n`). */
  startsInReasoning: boolean;
  /** Whether a thought was closed in the prompt (thinking off: `<think>\n\n</think>\n\n`), so the answer's leading newlines are dropped. */
  startsAfterThought: boolean;
  /** The most reasoning tokens before the thought is closed by force. Defaults to no limit. */
  thinkingBudgetTokens?: number;
  /** Tokens that close a thought by force (`\n</think>\n\n`). */
  closeThoughtTokens: readonly Token[];
  /** Tokens that end a tool call whose JSON is complete (`\n</tool_call>`). */
  closeToolCallTokens: readonly Token[];
  /** The callable tools; tool-call markers are plain text when undefined. */
  tools?: readonly ToolDefinition[];
  /** Whether generation stops after the first tool call (`parallel_tool_calls: false`, or a forced call). */
  stopAfterFirstToolCall: boolean;
  /**
   * Whether the answer must be one JSON value (structured output, under a grammar): generation stops when it is
   * complete, anything after it is dropped, and stop sequences do not apply to it (the grammar decides where it ends).
   */
  answerIsJson: boolean;
  /** Makes a tool call id. */
  createToolCallId: () => string;
  /** Logged when a tool-call block cannot be parsed; its text is then returned as answer text. */
  onMalformedToolCall?: (text: string) => void;
}

/** What the generation loop must do after a token. */
export type ParserAction =
  | { type: "continue" }
  | { type: "stop"; finishReason: FinishReason }
  | { type: "inject"; tokens: readonly Token[] };

/** Where the output is: in the answer, in a thought, or inside a tool-call block. */
export type OutputMode = "content" | "reasoning" | "tool";

/**
 * Splits generated tokens into answer text, thought text and tool calls, and decides when generation must stop or
 * have tokens injected. It works on tokens: Qwen vocabularies have single tokens for `<think>`, `</think>`,
 * `<tool_call>` and `</tool_call>`, so a marker is never confused with text that merely looks like one, and a split
 * marker can never leak into the answer.
 *
 * Rules:
 * - Thoughts: `<think>` opens a thought, `</think>` closes it; a prompt that ends in `<think>\n` starts inside one
 *   (Qwen3.5 templates). Thought text goes to `reasoning-delta` parts, without tags; the tags and everything between
 *   them count as reasoning tokens. When `thinkingBudgetTokens` is reached the thought is closed by injecting
 *   `closeThoughtTokens`. Leading newlines of the answer after a thought are dropped (the template's separator).
 * - Tool calls (when tools are given): `<tool_call>` opens a block, `</tool_call>` closes it; the block is parsed in the
 *   JSON or XML form and sent as one `tool-call` part. A body that is complete (its JSON value closed, or `</function>`
 *   written) gets `\n</tool_call>` injected.
 * - Stop sequences apply to the thought and to free answer text, not inside grammar-constrained output (a JSON
 *   answer, a tool call's body), whose end the grammar decides; they are cut and never leak (see
 *   `StopSequenceMatcher`). The thought and the answer are matched apart: a stop sequence does not span the two.
 * - Token log-probabilities of answer tokens ride on the next `text-delta` part.
 */
export class OutputParser {
  readonly #options: OutputParserOptions;
  /**
   * Stop sequences, in the thought and in the answer; undefined when there are none. One matcher serves both: it is
   * flushed when the thought closes, and a thought never opens after the answer has begun.
   */
  readonly #matcher: StopSequenceMatcher | undefined;
  /** The matcher of the answer: none when the answer is JSON (the grammar decides where it ends). */
  readonly #answerMatcher: StopSequenceMatcher | undefined;
  #mode: OutputMode;
  #trimLeadingNewlines: boolean;
  #toolText = "";
  #toolJson = new JsonCompletionTracker();
  #answerJson = new JsonCompletionTracker();
  /** Whether the output ended at a stop sequence or at the end of the JSON answer: what comes after is dropped. */
  #done = false;
  #pendingLogprobs: TokenLogprob[] = [];
  #completionTokens = 0;
  #reasoningTokens = 0;
  #toolCalls: ToolCall[] = [];
  #forcingClose = false;
  #toolJsonStarted = false;
  #closingToolCall = false;
  #stopSequence: string | undefined;

  constructor(options: OutputParserOptions) {
    this.#options = options;
    // Without stop sequences no matcher runs: nothing is held back, and no result object is made per token.
    this.#matcher = options.stop.some((stop) => stop.length > 0) ? new StopSequenceMatcher(options.stop) : undefined;
    this.#answerMatcher = options.answerIsJson ? undefined : this.#matcher;
    this.#mode = options.startsInReasoning ? "reasoning" : "content";
    this.#trimLeadingNewlines = options.startsInReasoning || options.startsAfterThought;
  }

  /** Where the output is now. */
  get mode(): OutputMode {
    return this.#mode;
  }

  /** Generated tokens so far (injected ones included). */
  get completionTokens(): number {
    return this.#completionTokens;
  }

  /** Tokens spent in thoughts, tags included. */
  get reasoningTokens(): number {
    return this.#reasoningTokens;
  }

  /** The stop sequence that ended the output (a request's or the template's stop text), if one did. */
  get stopSequence(): string | undefined {
    return this.#stopSequence;
  }

  /** Tool calls made so far. */
  get toolCalls(): readonly ToolCall[] {
    return this.#toolCalls;
  }

  /**
   * Takes one generated (or injected) token, with its log-probability when asked for, and returns the parts it
   * completes and what the loop must do next.
   */
  push(token: Token, logprob?: TokenLogprob): { parts: StreamPart[]; action: ParserAction } {
    const { markers } = this.#options;
    const parts: StreamPart[] = [];
    this.#completionTokens++;

    if (this.#mode === "reasoning") {
      this.#reasoningTokens++;
      if (token === markers.thinkEnd) {
        if (this.#emit(parts, "reasoning", this.#options.decoder.flush(), true)) return this.#stop(parts);
        this.#mode = "content";
        this.#trimLeadingNewlines = true;
        this.#forcingClose = false;
        return { parts, action: { type: "continue" } };
      }
      if (token === markers.thinkStart) return { parts, action: { type: "continue" } };
      if (this.#emit(parts, "reasoning", this.#options.decoder.push(token), false)) return this.#stop(parts);
      const budget = this.#options.thinkingBudgetTokens;
      if (budget !== undefined && !this.#forcingClose && this.#reasoningTokens >= budget) {
        this.#forcingClose = true;
        return { parts, action: { type: "inject", tokens: this.#options.closeThoughtTokens } };
      }
      return { parts, action: { type: "continue" } };
    }

    if (this.#mode === "tool") {
      if (token === markers.toolCallEnd) return this.#endToolCall(parts);
      const piece = this.#options.decoder.push(token);
      this.#toolText += piece;
      const body = this.#toolText.trimStart();
      if (!this.#closingToolCall && body.startsWith("{")) {
        const fresh = this.#toolJsonStarted ? piece : body;
        this.#toolJsonStarted = true;
        if (this.#toolJson.push(fresh)) {
          this.#closingToolCall = true;
          return { parts, action: { type: "inject", tokens: this.#options.closeToolCallTokens } };
        }
      }
      // The XML form is complete at </function>.
      if (!this.#closingToolCall && body.startsWith("<function=") && body.trimEnd().endsWith("</function>")) {
        this.#closingToolCall = true;
        return { parts, action: { type: "inject", tokens: this.#options.closeToolCallTokens } };
      }
      return { parts, action: { type: "continue" } };
    }

    // Answer text.
    if (token === markers.thinkStart && this.#completionTokens === 1 && markers.thinkEnd !== undefined) {
      this.#mode = "reasoning";
      this.#reasoningTokens++;
      return { parts, action: { type: "continue" } };
    }
    if (token === markers.toolCallStart && this.#options.tools !== undefined) {
      this.#emit(parts, "content", this.#options.decoder.flush(), true);
      this.#mode = "tool";
      this.#toolText = "";
      this.#toolJson = new JsonCompletionTracker();
      this.#toolJsonStarted = false;
      this.#closingToolCall = false;
      return { parts, action: { type: "continue" } };
    }
    if (logprob !== undefined) this.#pendingLogprobs.push(logprob);
    const text = this.#options.decoder.push(token);
    if (this.#options.answerIsJson) {
      const end = this.#answerJson.valueEnd(text);
      if (end === -1) {
        this.#emit(parts, "content", text, false);
        return { parts, action: { type: "continue" } };
      }
      // The value is complete: what follows it in this token, and any text held back, is not part of the answer.
      this.#emit(parts, "content", text.slice(0, end), true);
      return this.#stop(parts);
    }
    if (this.#emit(parts, "content", text, false)) return this.#stop(parts);
    return { parts, action: { type: "continue" } };
  }

  /**
   * Ends the output (end of generation, length or abort): flushes held text. Returns the last parts. A tool call cut
   * before it closed (`max_tokens` reached inside it) cannot be parsed, so its markup comes back as answer text
   * (`<tool_call>` and what the model wrote of it), as vLLM returns it, instead of vanishing: the finish reason
   * (`length`) says it was cut.
   */
  end(): StreamPart[] {
    const parts: StreamPart[] = [];
    if (this.#done) return parts;
    const rest = this.#options.decoder.flush();
    if (this.#mode === "tool") {
      this.#mode = "content";
      this.#emit(parts, "content", `<tool_call>${this.#toolText}${rest}`, true);
    } else this.#emit(parts, this.#mode, rest, true);
    return parts;
  }

  /** The finish reason for an output that ended on an end-of-generation token. */
  get naturalFinishReason(): FinishReason {
    return this.#toolCalls.length > 0 ? "tool_calls" : "stop";
  }

  /** Ends the output at a stop sequence or at the end of the JSON answer. */
  #stop(parts: StreamPart[]): { parts: StreamPart[]; action: ParserAction } {
    this.#done = true;
    return { parts, action: { type: "stop", finishReason: "stop" } };
  }

  #endToolCall(parts: StreamPart[]): { parts: StreamPart[]; action: ParserAction } {
    this.#toolText += this.#options.decoder.flush();
    this.#mode = "content";
    const parsed = parseToolCallBody(this.#toolText, this.#options.tools ?? []);
    if (parsed === undefined) {
      this.#options.onMalformedToolCall?.(this.#toolText);
      this.#emit(parts, "content", `<tool_call>${this.#toolText}</tool_call>`, true);
      return { parts, action: { type: "continue" } };
    }
    const toolCall: ToolCall = { id: this.#options.createToolCallId(), name: parsed.name, arguments: JSON.stringify(parsed.arguments) };
    this.#toolCalls.push(toolCall);
    parts.push({ type: "tool-call", toolCall });
    if (this.#options.stopAfterFirstToolCall) return { parts, action: { type: "stop", finishReason: "tool_calls" } };
    return { parts, action: { type: "continue" } };
  }

  /**
   * Emits thought or answer text through the stop matcher (the answer's: none for JSON); returns whether a stop
   * sequence was found. Answer text loses the leading newlines after a thought, and carries the pending logprobs.
   */
  #emit(parts: StreamPart[], mode: "reasoning" | "content", text: string, flush: boolean): boolean {
    const matcher = mode === "reasoning" ? this.#matcher : this.#answerMatcher;
    let safe = text;
    let stopped = false;
    if (matcher !== undefined) {
      const result = matcher.push(text);
      ({ text: safe, stopped } = result);
      if (stopped) this.#stopSequence = result.stopSequence;
      if (flush && !stopped) safe += matcher.flush();
    }
    if (mode === "reasoning") {
      if (safe.length > 0) parts.push({ type: "reasoning-delta", text: safe });
      return stopped;
    }
    if (this.#trimLeadingNewlines) {
      safe = safe.replace(/^\n+/, "");
      if (safe.length > 0) this.#trimLeadingNewlines = false;
    }
    if (safe.length > 0 || (flush && this.#pendingLogprobs.length > 0 && !stopped)) {
      const part: StreamPart = { type: "text-delta", text: safe };
      if (this.#pendingLogprobs.length > 0) {
        part.logprobs = this.#pendingLogprobs;
        this.#pendingLogprobs = [];
      }
      parts.push(part);
    }
    return stopped;
  }
}
