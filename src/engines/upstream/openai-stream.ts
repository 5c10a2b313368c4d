import { MoestroError } from "../../errors/index.js";
import type { FinishReason, StreamPart, TokenLogprob, ToolCall, Usage } from "../../spec/index.js";
import { createRandomId } from "../../util/random-id.js";
import { estimateTokensOfBytes } from "./openai-request.js";

/** A log-probability entry of an upstream's chunk (OpenAI's `logprobs.content[]`); lenient. */
interface WireLogprob {
  token?: string;
  logprob?: number;
  bytes?: number[] | null;
  top_logprobs?: Array<{ token?: string; logprob?: number; bytes?: number[] | null }> | null;
}

/**
 * One chunk of an upstream's OpenAI stream (`chat.completion.chunk`, or `text_completion` for `/v1/completions`), as
 * moestro reads it: every field optional, since servers differ (vLLM, SGLang, llama-server, Ollama, DashScope).
 */
export interface WireUpstreamChunk {
  choices?: Array<{
    index?: number;
    delta?: {
      content?: string | null;
      /** The thought (DashScope, llama-server, SGLang, moestro, vLLM before 0.10). */
      reasoning_content?: string | null;
      /** The thought (newer vLLM, Ollama, OpenRouter). */
      reasoning?: string | null;
      tool_calls?: Array<{
        index?: number;
        id?: string | null;
        function?: { name?: string | null; arguments?: string | null } | null;
      }> | null;
    } | null;
    /** Completions' text. */
    text?: string | null;
    finish_reason?: string | null;
    /** vLLM: the stop string (or token id) that ended a `stop` finish. */
    stop_reason?: string | number | null;
    logprobs?: { content?: WireLogprob[] | null } | null;
  }> | null;
  usage?: {
    prompt_tokens?: number | null;
    completion_tokens?: number | null;
    prompt_tokens_details?: { cached_tokens?: number | null } | null;
    completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  } | null;
  /** An error sent inside the stream (vLLM and others, after a 200). */
  error?: { message?: string } | string | null;
}

/**
 * An upstream's non-streamed answer (`chat.completion`, or `text_completion` for `/v1/completions`), as moestro reads
 * it: every field optional, as in {@link WireUpstreamChunk}; the first choice's `message` in place of a `delta`.
 */
export interface WireUpstreamCompletion {
  choices?: Array<{
    index?: number;
    message?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: Array<{ id?: string | null; function?: { name?: string | null; arguments?: string | null } | null }> | null;
    } | null;
    text?: string | null;
    finish_reason?: string | null;
    stop_reason?: string | number | null;
    logprobs?: { content?: WireLogprob[] | null } | null;
  }> | null;
  usage?: WireUpstreamChunk["usage"];
  error?: WireUpstreamChunk["error"];
}

/** What {@link UpstreamStreamReader} needs to finish a stream whose upstream reported no usage. */
export interface StreamReaderOptions {
  /** The upstream's name, in error messages. */
  upstream: string;
  /** The prompt's tokens to report when the upstream gives no usage (an estimate). */
  estimatedPromptTokens: number;
  /**
   * Whether to keep the generated text (`generatedText`), so that a stream without usage can be counted with the
   * model's tokenizer where this server has it. Defaults to false.
   */
  keepText?: boolean;
}

/** The text an upstream generated, kept for counting its tokens ({@link UpstreamStreamReader.generatedText}). */
export interface GeneratedText {
  /** The thought (`reasoning_content` or `reasoning`). */
  reasoning: string;
  /** The answer, and each tool call's name and arguments. */
  answer: string;
}

/**
 * Turns an upstream's OpenAI stream, chunk by chunk, into moestro's stream parts: `content` (or a completion's `text`)
 * into `text-delta`, `reasoning_content` or `reasoning` into `reasoning-delta`, tool-call fragments into one complete
 * `tool-call` part per call (when the choice finishes: OpenAI streams a call's arguments in pieces), and the
 * `finish_reason` with the usage chunk (`stream_options.include_usage`) into the one `finish` part, given by
 * {@link end}; its reason is `tool_calls` whenever a chunk carried a tool call, whatever reason other than `length` the
 * upstream gave, in whichever chunk (case C05). Where the upstream sends no usage, the completion is counted as one
 * token per content chunk (vLLM, SGLang and llama-server send one token per chunk) and the prompt as
 * `estimatedPromptTokens`: an estimate, as docs/gateway.md says. Only the first choice is read (moestro asks upstreams
 * for one).
 */
export class UpstreamStreamReader {
  readonly #options: StreamReaderOptions;
  readonly #toolCalls = new Map<number, { id?: string; name: string; arguments: string }>();
  /**
   * Whether any chunk carried a tool call. The finish reason is decided by it, not by the calls still pending: those are
   * given (and forgotten) at the first `finish_reason`, and an upstream may send another one after them (case C05).
   */
  #madeToolCalls = false;
  #finishReason: FinishReason | undefined;
  #stopSequence: string | undefined;
  #usage: Usage | undefined;
  #contentChunks = 0;
  #reasoningChunks = 0;
  #reasoningText = "";
  #answerText = "";

  constructor(options: StreamReaderOptions) {
    this.#options = options;
  }

  /**
   * The parts of a whole (non-streamed) answer, the `finish` part last ({@link end}): its first choice read as one chunk
   * whose `delta` is the choice's `message` (tool calls numbered in order). Where the upstream sends no usage, the
   * completion is estimated at a quarter of the generated text's UTF-8 bytes (at least 1), as the prompt is: one chunk
   * is no token count.
   *
   * @throws {MoestroError} `upstream_failed` for an error in the body, or an answer without a `finish_reason`.
   */
  readWhole(completion: WireUpstreamCompletion): StreamPart[] {
    const choice = completion.choices?.find((candidate) => (candidate.index ?? 0) === 0);
    const message = choice?.message;
    const chunk: WireUpstreamChunk = { usage: completion.usage, error: completion.error };
    if (choice !== undefined && choice !== null)
      chunk.choices = [
        {
          index: 0,
          delta:
            message === undefined || message === null
              ? undefined
              : {
                  content: message.content,
                  reasoning_content: message.reasoning_content,
                  reasoning: message.reasoning,
                  tool_calls: message.tool_calls?.map((call, index) => ({ index, id: call.id, function: call.function })),
                },
          text: choice.text,
          finish_reason: choice.finish_reason,
          stop_reason: choice.stop_reason,
          logprobs: choice.logprobs,
        },
      ];
    const parts = this.read(chunk);
    if (this.#usage === undefined) {
      const bytes = (text: string | null | undefined) => (typeof text === "string" ? Buffer.byteLength(text, "utf8") : 0);
      const reasoningTokens = estimateTokensOfBytes(bytes(message?.reasoning_content ?? message?.reasoning));
      let answerBytes = bytes(message?.content ?? choice?.text);
      for (const call of message?.tool_calls ?? []) answerBytes += bytes(call.function?.name) + bytes(call.function?.arguments);
      this.#reasoningChunks = reasoningTokens;
      this.#contentChunks = Math.max(reasoningTokens === 0 ? 1 : 0, estimateTokensOfBytes(answerBytes));
    }
    parts.push(...this.end());
    return parts;
  }

  /** Parts produced so far count as this many generated tokens (for an abort's usage). */
  get chunksSeen(): number {
    return this.#contentChunks + this.#reasoningChunks;
  }

  /**
   * The parts of one chunk, in order (empty for a chunk that carries only a role or the usage).
   *
   * @throws {MoestroError} `upstream_failed` for an error sent inside the stream (its text in `cause`).
   */
  read(chunk: WireUpstreamChunk): StreamPart[] {
    if (chunk.error !== undefined && chunk.error !== null) {
      const message = typeof chunk.error === "string" ? chunk.error : (chunk.error.message ?? JSON.stringify(chunk.error));
      // What the upstream said stays in the cause (logged), not in the client's message: it may hold its internals.
      throw new MoestroError("upstream_failed", `The upstream '${this.#options.upstream}' sent an error during the stream.`, {
        retryAfterSeconds: 1,
        cause: new Error(message.slice(0, 1000)),
      });
    }
    const usage = chunk.usage;
    if (usage !== undefined && usage !== null && typeof usage.prompt_tokens === "number") {
      this.#usage = {
        promptTokens: usage.prompt_tokens,
        completionTokens: usage.completion_tokens ?? 0,
        cachedPromptTokens: usage.prompt_tokens_details?.cached_tokens ?? undefined,
        reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? undefined,
      };
    }
    const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
    if (choice === undefined) return [];
    const parts: StreamPart[] = [];
    const delta = choice.delta;
    const reasoning = delta?.reasoning_content ?? delta?.reasoning;
    if (typeof reasoning === "string" && reasoning.length > 0) {
      this.#reasoningChunks++;
      if (this.#options.keepText === true) this.#reasoningText += reasoning;
      parts.push({ type: "reasoning-delta", text: reasoning });
    }
    const text = delta?.content ?? choice.text;
    if (typeof text === "string" && text.length > 0) {
      this.#contentChunks++;
      if (this.#options.keepText === true) this.#answerText += text;
      const logprobs = choice.logprobs?.content;
      parts.push(logprobs ? { type: "text-delta", text, logprobs: logprobs.map(toTokenLogprob) } : { type: "text-delta", text });
    }
    for (const fragment of delta?.tool_calls ?? []) {
      const index = fragment.index ?? 0;
      let call = this.#toolCalls.get(index);
      if (call === undefined) {
        call = { name: "", arguments: "" };
        this.#toolCalls.set(index, call);
        this.#madeToolCalls = true;
        this.#contentChunks++;
      }
      if (fragment.id) call.id = fragment.id;
      if (fragment.function?.name) call.name += fragment.function.name;
      if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
    }
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      this.#finishReason = toFinishReason(choice.finish_reason, this.#madeToolCalls);
      if (typeof choice.stop_reason === "string") this.#stopSequence = choice.stop_reason;
      parts.push(...this.#flushToolCalls());
    }
    return parts;
  }

  /**
   * The parts that end the stream: tool calls not yet given, and the `finish` part.
   *
   * @throws {MoestroError} `upstream_failed` when the upstream ended the stream without a `finish_reason` (it broke off:
   *   never a silent half answer).
   */
  end(): StreamPart[] {
    if (this.#finishReason === undefined)
      throw new MoestroError(
        "upstream_failed",
        `The upstream '${this.#options.upstream}' ended its stream before the answer finished (no finish_reason).`,
        { retryAfterSeconds: 1 },
      );
    const parts = this.#flushToolCalls();
    const finish: StreamPart = { type: "finish", finishReason: this.#finishReason, usage: this.usage() };
    if (this.#finishReason === "stop" && this.#stopSequence !== undefined) finish.stopSequence = this.#stopSequence;
    parts.push(finish);
    return parts;
  }

  /** Whether the upstream sent its usage. */
  get hasUsage(): boolean {
    return this.#usage !== undefined;
  }

  /** The upstream's usage, else the estimate (chunks generated, the prompt estimated), marked `estimated`. */
  usage(): Usage {
    return (
      this.#usage ?? {
        promptTokens: this.#options.estimatedPromptTokens,
        completionTokens: this.chunksSeen,
        reasoningTokens: this.#reasoningChunks,
        estimated: true,
      }
    );
  }

  /** The text generated so far (empty unless `keepText`): tool calls count once given. */
  get generatedText(): GeneratedText {
    return { reasoning: this.#reasoningText, answer: this.#answerText };
  }

  #flushToolCalls(): StreamPart[] {
    const parts: StreamPart[] = [];
    for (const index of [...this.#toolCalls.keys()].sort((a, b) => a - b)) {
      const call = this.#toolCalls.get(index)!;
      const toolCall: ToolCall = { id: call.id ?? createRandomId("call_"), name: call.name, arguments: call.arguments || "{}" };
      if (this.#options.keepText === true) this.#answerText += call.name + toolCall.arguments;
      parts.push({ type: "tool-call", toolCall });
    }
    this.#toolCalls.clear();
    return parts;
  }
}

/**
 * OpenAI's finish reasons as moestro's: `length` and `tool_calls` as they are (`function_call` too), `stop` for the
 * rest (`content_filter`, a server's own reason); any reason but `length` is `tool_calls` when the choice made calls
 * (`hasToolCalls`), whichever chunk carried them. Case C05: Ollama streams a call in one chunk and ends with `stop` in a
 * later one that has none, and a gateway that read only the last chunk (LiteLLM's `ollama_chat`, BerriAI/litellm
 * #35663) ended the stream with `stop`, which strict clients take as "no tool to run"; vLLM answered a named
 * `tool_choice` streamed with `stop` (vllm-project/vllm PR #9209). `length` stays: the calls may be cut short.
 */
function toFinishReason(reason: string, hasToolCalls: boolean): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call" || hasToolCalls) return "tool_calls";
  return "stop";
}

function toTokenLogprob(entry: WireLogprob): TokenLogprob {
  const token = entry.token ?? "";
  const bytesOf = (text: string, bytes: number[] | null | undefined) => bytes ?? [...Buffer.from(text, "utf8")];
  return {
    token,
    logprob: Math.max(entry.logprob ?? -9999, -9999),
    bytes: bytesOf(token, entry.bytes),
    top: (entry.top_logprobs ?? []).map((top) => ({
      token: top.token ?? "",
      logprob: Math.max(top.logprob ?? -9999, -9999),
      bytes: bytesOf(top.token ?? "", top.bytes),
    })),
  };
}

/**
 * Parses an upstream's stream chunks (each SSE event's `data:` text) as `JSON.parse` does, faster for the chunk nearly
 * every event is: a text delta whose JSON differs from the last such chunk's in the text only (the same id, created,
 * model… before it, the same nulls after it). The first such chunk is parsed whole and kept as a template: its JSON
 * cut around the text's string literal. A later chunk that starts and ends as the template does, with one JSON string
 * literal between, is the template's chunk with that text, by JSON's grammar; it is given as the smallest chunk that
 * {@link UpstreamStreamReader.read} reads the same (`{choices: [{index: 0, delta: {content}}]}`), for the price of
 * parsing the literal alone. Any other chunk is parsed whole. One parser per stream (the template is a stream's).
 */
export class UpstreamChunkParser {
  /** The template's JSON before and after its text's string literal, once a plain text delta was seen. */
  #prefix: string | undefined;
  #suffix = "";
  /** Plain text deltas tried as templates so far. */
  #learned = 0;

  /**
   * The chunk that `data` holds.
   *
   * @throws {SyntaxError} for a text that is not JSON, as `JSON.parse`.
   */
  parse(data: string): WireUpstreamChunk {
    const prefix = this.#prefix;
    if (
      prefix !== undefined &&
      data.length > prefix.length + this.#suffix.length &&
      data.startsWith(prefix) &&
      data.endsWith(this.#suffix)
    ) {
      const literal = data.slice(prefix.length, data.length - this.#suffix.length);
      if (literal.charCodeAt(0) === 34 /* " */) {
        let content: unknown;
        try {
          content = JSON.parse(literal);
        } catch {
          content = undefined;
        }
        if (typeof content === "string") return { choices: [{ index: 0, delta: { content } }] };
      }
    }
    const chunk = JSON.parse(data) as WireUpstreamChunk;
    // A plain text delta that did not match (the first, or the template was another's: a first delta with its role):
    // taken as the template, a few times at most, so that a stream whose chunks never match costs little more.
    if (this.#learned < maxTemplates) this.#learn(data, chunk);
    return chunk;
  }

  /** Keeps `data` as the template when it is a plain text delta whose text's literal can be found in it. */
  #learn(data: string, chunk: WireUpstreamChunk): void {
    const content = plainTextDelta(chunk);
    if (content === undefined) return;
    this.#learned++;
    // `"content":` appears once: a string's quotes are escaped, so the only match is a key (log-probabilities, which
    // have another `content` key, are not a plain delta).
    const key = '"content":';
    const at = data.indexOf(key);
    if (at < 0 || data.lastIndexOf(key) !== at) return;
    let start = at + key.length;
    while (data.charCodeAt(start) === 32) start++;
    if (data.charCodeAt(start) !== 34) return;
    // The literal's closing quote: the first quote not escaped by a backslash.
    let end = start + 1;
    while (end < data.length && data.charCodeAt(end) !== 34) end += data.charCodeAt(end) === 92 /* \ */ ? 2 : 1;
    if (end >= data.length) return;
    let literalText: unknown;
    try {
      literalText = JSON.parse(data.slice(start, end + 1));
    } catch {
      return;
    }
    if (literalText !== content) return;
    this.#prefix = data.slice(0, start);
    this.#suffix = data.slice(end + 1);
  }
}

/** Templates an {@link UpstreamChunkParser} takes at most in one stream. */
const maxTemplates = 4;

/**
 * The text of a chunk that {@link UpstreamStreamReader.read} reads as one text delta and nothing else (no error, usage,
 * thought, tool call, log-probabilities, finish or other choice), else `undefined`.
 */
function plainTextDelta(chunk: WireUpstreamChunk): string | undefined {
  if (chunk === null || typeof chunk !== "object" || Array.isArray(chunk)) return undefined;
  if (chunk.error !== undefined && chunk.error !== null) return undefined;
  if (chunk.usage !== undefined && chunk.usage !== null) return undefined;
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice = choices[0];
  if (choice === null || typeof choice !== "object" || (choice.index ?? 0) !== 0) return undefined;
  if (choice.text != null || choice.logprobs != null || choice.finish_reason != null) return undefined;
  const delta = choice.delta;
  if (delta === null || typeof delta !== "object") return undefined;
  if (delta.reasoning_content != null || delta.reasoning != null || delta.tool_calls != null) return undefined;
  return typeof delta.content === "string" && delta.content.length > 0 ? delta.content : undefined;
}
