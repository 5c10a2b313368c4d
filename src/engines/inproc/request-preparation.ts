import { TokenBias, type ChatWrapper, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { MoestroError } from "../../errors/index.js";
import type { GenerateInput, GenerateRequest, ModelInfo, ToolDefinition } from "../../spec/index.js";
import { ChatTemplate, renderedTextLength, type ChatStops } from "./chat-prompt.js";
import type { MarkerTokens } from "./output-parser.js";
import type { PromptTokenizer } from "./prompt-tokenizer.js";
import type { RequestGrammars } from "./request-grammars.js";
import type { PromptText } from "./tokenize-prompt.js";

/** Everything decided about a request before it holds a sequence. */
export interface PreparedGeneration {
  /** The whole prompt, templated and tokenized (see `tokenizePrompt`). */
  promptTokens: Token[];
  /** Output tokens forced before sampling starts (an opened tool call for a forced `tool_choice`). */
  forcedOutputTokens: Token[];
  /** Tokens that end the turn beyond end-of-generation (the template's `<|im_end|>`). Shared between requests. */
  stopTokens: ReadonlySet<Token>;
  /** Texts that end the turn when written with ordinary tokens (the template's); applied as stop sequences. Shared. */
  stopTexts: readonly string[];
  /** Whether the output starts inside a thought (the prompt ends with `<think>\n`). */
  startsInReasoning: boolean;
  /** Whether the prompt holds an empty thought (thinking off), so the answer's leading newlines are dropped. */
  startsAfterThought: boolean;
  /** The thought's budget, tokens. Defaults to no limit. */
  thinkingBudgetTokens?: number;
  /** The tools the model may call; none with `tool_choice: "none"`. */
  tools?: ToolDefinition[];
  /** Whether generation ends after the first tool call (a forced call, or `parallel_tool_calls: false`). */
  stopAfterFirstToolCall: boolean;
  /** The grammar of the answer (structured output). */
  contentGrammar?: LlamaGrammar;
  /** The grammar of a tool call's body. */
  toolGrammar?: LlamaGrammar;
  /** The request's `logitBias`, and the `<tool_call>` token banned with `tool_choice: "none"`. */
  tokenBias?: TokenBias;
  /**
   * What `tokenBias` holds, for engines that take a list (llama-server's `logit_bias`): `[token, bias]`, the bias added
   * to the token's logit, `false` for a banned token.
   */
  logitBias?: Array<[Token, number | false]>;
  /**
   * Explicit cache: for each of the request's `cacheBreakpoints`, how many leading prompt tokens it covers (the tokens
   * its chat prefix renders to that the whole prompt shares). `undefined` without markers.
   */
  cachePrefixLengths?: number[];
  /** Explicit cache: what the markers read and created, set once the request holds a slot (`generateOnSlot`). */
  explicitCache?: { readTokens: number; creationTokens: number };
}

/** What {@link RequestPreparer} needs to know about its model. */
export interface RequestPreparerOptions {
  model: LlamaModel;
  info: ModelInfo;
  markers: MarkerTokens;
  chatWrapper: ChatWrapper;
  /** The same template with an empty thought pre-filled (`<think>\n\n</think>\n\n`): thinking off. */
  noThinkingChatWrapper: ChatWrapper | undefined;
  grammars: RequestGrammars;
  /** Tokenizes prompts without stalling the event loop, and refuses at once those that cannot fit. */
  tokenizer: PromptTokenizer;
}

/** A request input's prompt tokens and the stops of its template. */
interface InputPrompt extends ChatStops {
  tokens: Token[];
}

/** The stops of a completion: none beyond end-of-generation. */
const noStops: ChatStops = { stopTokens: new Set(), stopTexts: [] };

/** Turns a request into a {@link PreparedGeneration}: prompt, thinking, tools, grammars, forced tokens. */
export class RequestPreparer {
  readonly #model: LlamaModel;
  readonly #info: ModelInfo;
  readonly #markers: MarkerTokens;
  readonly #template: ChatTemplate;
  readonly #noThinkingTemplate: ChatTemplate | undefined;
  readonly #grammars: RequestGrammars;
  readonly #tokenizer: PromptTokenizer;
  /**
   * The prompt of a request's input, so that the `n` choices of one request (which share their input) render and
   * tokenize it once. Keyed by the input object; its tokens are copied on use.
   */
  readonly #promptByInput = new WeakMap<GenerateInput, InputPrompt>();

  constructor(options: RequestPreparerOptions) {
    this.#model = options.model;
    this.#info = options.info;
    this.#markers = options.markers;
    this.#template = new ChatTemplate(options.model, options.chatWrapper);
    this.#noThinkingTemplate = options.noThinkingChatWrapper && new ChatTemplate(options.model, options.noThinkingChatWrapper);
    this.#grammars = options.grammars;
    this.#tokenizer = options.tokenizer;
  }

  /**
   * Renders the prompt and decides thinking, tools, grammars and forced tokens.
   *
   * @throws {MoestroError} 400s about the request (`invalid_request`, `unsupported_parameter`) naming its param: an
   *   empty prompt, tools on a model without tool-call tokens, a `tool_choice` not in `tools`, a schema the grammar
   *   cannot enforce or nested too deep; `context_length_exceeded` (400) for a long prompt whose length alone, or whose
   *   tokens counted so far, show that it cannot fit (see `PromptTokenizer`); what `PromptTokenizer.tokenize` throws.
   */
  async prepare(request: GenerateRequest): Promise<PreparedGeneration> {
    const { input } = request;
    if (input.kind === "completion") {
      const { tokens } = await this.#prompt(request, () => ({
        prompt: { kind: "text", text: input.prompt, specialTokens: true, addBos: true },
        stops: noStops,
      }));
      if (tokens.length === 0) throw new MoestroError("invalid_request", "The prompt is empty.", { param: "prompt" });
      return this.#withLogitBias(
        {
          promptTokens: tokens,
          forcedOutputTokens: [],
          ...noStops,
          startsInReasoning: false,
          startsAfterThought: false,
          stopAfterFirstToolCall: false,
        },
        request,
        [],
      );
    }

    const markers = this.#markers;
    const tools = request.tools;
    const choice = tools?.choice ?? { type: "auto" };
    const forcedTool = choice.type === "required" || choice.type === "function";
    if (tools && tools.definitions.length > 0 && choice.type !== "none" && !this.#info.canCallTools) {
      throw new MoestroError(
        "unsupported_parameter",
        `The model '${this.#info.id}' has no tool-call tokens (<tool_call>), so tools cannot be enforced.`,
        { param: "tools" },
      );
    }
    if (choice.type === "function" && !tools?.definitions.some((tool) => tool.name === choice.name)) {
      throw new MoestroError("invalid_request", `tool_choice names the function '${choice.name}', which is not in tools.`, {
        param: "tool_choice",
      });
    }
    const activeTools = tools && choice.type !== "none" && tools.definitions.length > 0 ? tools.definitions : undefined;
    // With `none` the model still sees the tools (OpenAI's and Anthropic's meaning: it may not call them, not that they
    // do not exist; case D02), and the `<tool_call>` token is banned below.
    const promptTools =
      activeTools ??
      (choice.type === "none" && this.#info.canCallTools && tools && tools.definitions.length > 0 ? tools.definitions : undefined);

    // Grammars first: building them checks the schemas (enforceable keywords, bounded nesting) before the template
    // renders the tools' schemas into the prompt.
    const callable = activeTools && choice.type === "function" ? activeTools.filter((tool) => tool.name === choice.name) : activeTools;
    const toolGrammar = callable ? await this.#grammars.toolCall(callable) : undefined;
    const format = request.responseFormat;
    const contentGrammar =
      format === undefined
        ? undefined
        : format.type === "json_object"
          ? await this.#grammars.jsonObject()
          : await this.#grammars.schema(format.schema, "response_format");

    // Thinking: on by the model's default, off for structured output and forced tool calls unless asked for
    // (a grammar with forced thinking puts the JSON inside the thought: docs/engine.md).
    const budget = request.thinking?.budgetTokens;
    let thinking =
      this.#info.canThink &&
      (request.thinking?.enabled ?? (request.responseFormat === undefined && !forcedTool && this.#info.thinksByDefault));
    if (budget === 0) thinking = false;
    const template = !thinking && this.#info.canThink && this.#noThinkingTemplate ? this.#noThinkingTemplate : this.#template;
    const { tokens: promptTokens, ...stops } = await this.#prompt(request, () => {
      // A chat whose messages alone cannot fit is refused before its template renders them (which copies and escapes).
      const boundBeforeRendering = this.#tokenizer.boundByLength(renderedTextLength(input.messages), this.#maxPromptTokens(request));
      if (boundBeforeRendering !== undefined) this.#refuseLongPrompt(boundBeforeRendering, request);
      const { text, ...stops } = template.render(input.messages, promptTools);
      return { prompt: { kind: "template", text }, stops };
    });
    const cachePrefixLengths =
      request.cacheBreakpoints === undefined ? undefined : await this.#cachePrefixLengths(request, template, promptTools, promptTokens);
    if (thinking) promptTokens.push(markers.thinkStart!, ...this.#model.tokenize("\n", false));

    const prepared: PreparedGeneration = {
      promptTokens,
      forcedOutputTokens: [],
      ...stops,
      startsInReasoning: thinking,
      startsAfterThought: !thinking && this.#info.canThink && template === this.#noThinkingTemplate,
      thinkingBudgetTokens: thinking ? budget : undefined,
      tools: activeTools,
      stopAfterFirstToolCall: forcedTool || tools?.parallel === false,
      toolGrammar,
      contentGrammar,
    };
    if (cachePrefixLengths !== undefined) prepared.cachePrefixLengths = cachePrefixLengths;
    if (activeTools && forcedTool && !thinking) prepared.forcedOutputTokens = [markers.toolCallStart!];
    const banned = choice.type === "none" && markers.toolCallStart !== undefined ? [markers.toolCallStart] : [];
    return this.#withLogitBias(prepared, request, banned);
  }

  /**
   * Sets `prepared`'s token bias: the request's `logitBias` (OpenAI's: added to the logit, -100 bans the token, as
   * OpenAI and llama-server read it), then the `banned` tokens (moestro's own bans win over a client's bias).
   *
   * @throws {MoestroError} `invalid_request` (400) naming `logit_bias` for a token id outside the vocabulary;
   *   `unsupported_parameter` (400) naming `logit_bias` for an end-of-generation token, which node-llama-cpp's sampler
   *   does not bias (`TokenBias` skips them), so that no engine drops such a bias silently.
   */
  #withLogitBias(prepared: PreparedGeneration, request: GenerateRequest, banned: Token[]): PreparedGeneration {
    const requested = request.logitBias ?? [];
    if (requested.length === 0 && banned.length === 0) return prepared;
    const tokenBias = TokenBias.for(this.#model);
    const logitBias: Array<[Token, number | false]> = [];
    const vocabularySize = this.#info.vocabularySize;
    for (const [id, bias] of requested) {
      if (vocabularySize > 0 && id >= vocabularySize) {
        throw new MoestroError(
          "invalid_request",
          `Invalid 'logit_bias': the token id ${id} is outside the vocabulary of '${this.#info.id}' (${vocabularySize} tokens).`,
          { param: "logit_bias" },
        );
      }
      const token = id as Token;
      if (this.#model.isEogToken(token)) {
        throw new MoestroError(
          "unsupported_parameter",
          `logit_bias names the token ${id}, which ends generation on '${this.#info.id}': end-of-generation tokens cannot be biased here (stop the answer with max_tokens or stop instead).`,
          { param: "logit_bias" },
        );
      }
      tokenBias.set(token, bias <= -100 ? "never" : { logit: bias });
      logitBias.push([token, bias <= -100 ? false : bias]);
    }
    for (const token of banned) {
      tokenBias.set(token, "never");
      logitBias.push([token, false]);
    }
    prepared.tokenBias = tokenBias;
    prepared.logitBias = logitBias;
    return prepared;
  }

  /**
   * The request's prompt tokens (a copy) and stops, rendered by `render` and tokenized once per request input; refuses
   * at once a prompt that cannot fit.
   *
   * @throws {MoestroError} `context_length_exceeded` (400) when the tokenizer proves the prompt too long without
   *   tokenizing it whole; what `render` and `PromptTokenizer.tokenize` throw.
   */
  async #prompt(request: GenerateRequest, render: () => { prompt: PromptText; stops: ChatStops }): Promise<InputPrompt> {
    const cached = this.#promptByInput.get(request.input);
    if (cached !== undefined) return { ...cached, tokens: [...cached.tokens] };
    const { prompt, stops } = render();
    const result = await this.#tokenizer.tokenize(prompt, {
      maxTokens: this.#maxPromptTokens(request),
      signal: request.signal,
      param: request.input.kind === "chat" ? "messages" : "prompt",
    });
    if ("atLeastTokens" in result) this.#refuseLongPrompt(result.atLeastTokens, request);
    this.#promptByInput.set(request.input, { tokens: result.tokens, ...stops });
    return { tokens: [...result.tokens], ...stops };
  }

  /**
   * How many leading tokens of `promptTokens` each of the request's cache breakpoints covers: its chat prefix rendered
   * by the same template with the same tools, tokenized, compared with the whole prompt. The rendering of a prefix ends
   * with the template's end of turn and generation prompt, which the whole prompt may not share: the shared part is
   * what the marker pins (never more than the prompt holds).
   */
  async #cachePrefixLengths(
    request: GenerateRequest,
    template: ChatTemplate,
    tools: ToolDefinition[] | undefined,
    promptTokens: readonly Token[],
  ): Promise<number[]> {
    const lengths: number[] = [];
    for (const messages of request.cacheBreakpoints ?? []) {
      if (messages.length === 0) continue;
      const { text } = template.render(messages, tools);
      const result = await this.#tokenizer.tokenize(
        { kind: "template", text },
        { maxTokens: this.#maxPromptTokens(request), signal: request.signal, param: "messages" },
      );
      if (!("tokens" in result)) continue;
      let shared = 0;
      const limit = Math.min(result.tokens.length, promptTokens.length);
      while (shared < limit && result.tokens[shared] === promptTokens[shared]) shared++;
      lengths.push(shared);
    }
    return lengths;
  }

  /** The most prompt tokens that leave `maxTokens` (at least one) for the completion: see checkContextWindow. */
  #maxPromptTokens(request: GenerateRequest): number {
    return this.#info.contextTokens - Math.max(request.maxTokens ?? 1, 1);
  }

  /**
   * Refuses a prompt of at least `atLeastTokens` tokens, more than {@link #maxPromptTokens} allows.
   *
   * @throws {MoestroError} `context_length_exceeded` (400), always.
   */
  #refuseLongPrompt(atLeastTokens: number, request: GenerateRequest): never {
    this.checkContextWindow(atLeastTokens, request, { isLowerBound: true });
    // The bound exceeds #maxPromptTokens, so the check above has thrown; this keeps a future edit honest.
    throw new Error(`a prompt of at least ${atLeastTokens} tokens passed the context check`);
  }

  /**
   * Refuses a request that does not fit, with the real numbers (never truncating the prompt silently).
   *
   * @param options.isLowerBound - `promptTokens` is a lower bound (a long prompt, not tokenized whole): the message
   *   says "or more". Defaults to false.
   * @throws {MoestroError} `context_length_exceeded` (400) when the prompt plus `maxTokens` exceeds the window, or the
   *   prompt leaves no room for a completion; named in the request's `paramNames` when it has them.
   */
  checkContextWindow(promptTokens: number, request: GenerateRequest, options: { isLowerBound?: boolean } = {}): void {
    const window = this.#info.contextTokens;
    const names = request.paramNames;
    const param = names?.input ?? (request.input.kind === "chat" ? "messages" : "prompt");
    const orMore = options.isLowerBound ? " or more" : "";
    if (request.maxTokens !== undefined && promptTokens + request.maxTokens > window) {
      const maxTokensName = names?.maxTokens ?? "max_tokens";
      throw new MoestroError(
        "context_length_exceeded",
        `This model's maximum context length is ${window} tokens. However, you requested ${promptTokens + request.maxTokens} tokens${orMore} ` +
          `(${promptTokens}${orMore} in the ${names === undefined ? "prompt" : param}, ${request.maxTokens} for the completion). ` +
          `Please reduce the ${names === undefined ? "prompt" : param} or ${maxTokensName}.`,
        { param: names !== undefined && promptTokens < window ? names.maxTokens : param },
      );
    }
    if (promptTokens >= window) {
      throw new MoestroError(
        "context_length_exceeded",
        `This model's maximum context length is ${window} tokens. However, the ${names === undefined ? "prompt" : param} has ${promptTokens} tokens${orMore}, ` +
          `which leaves no room for a completion. Please reduce the ${names === undefined ? "prompt" : param}.`,
        { param },
      );
    }
  }
}
