import { QwenChatWrapper, resolveChatWrapper, type ChatWrapper, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import type { Logger } from "pino";
import type { ModelInfo } from "../../spec/index.js";
import type { GenerationShared } from "./generation-loop.js";
import type { MarkerTokens } from "./output-parser.js";
import { PromptTokenizer } from "./prompt-tokenizer.js";
import { RequestGrammars } from "./request-grammars.js";
import { RequestPreparer } from "./request-preparation.js";
import { createTokenBytes } from "./token-bytes.js";
import type { TokenSourceFactory } from "./token-source.js";

/** Options of {@link createModelFrontend}. */
export interface ModelFrontendOptions {
  /** The llama.cpp binding (grammars are compiled with it). */
  llama: Llama;
  /** The loaded model; only its vocabulary and metadata are used, so a `vocabOnly` load will do. */
  model: LlamaModel;
  /** Path of the GGUF file (the tokenizer process loads it vocabulary-only). */
  modelPath: string;
  /** The id clients send as `model`. */
  id: string;
  /** Context window of each sequence, tokens. */
  contextTokens: number;
  /** Sequences that decode in parallel. */
  parallelSequences: number;
  /** Whether the model thinks when a request does not say. Defaults to true. */
  thinkingByDefault?: boolean;
  /** Test seam: see `LlamaBackendOptions.createTokenSource`. */
  createTokenSource?: TokenSourceFactory;
  logger: Logger;
  /** Clock for `created`, epoch ms. */
  now: () => number;
}

/**
 * What turns requests into prompt tokens and output tokens into stream parts for one model, whichever engine
 * evaluates it: the chat template, the marker tokens (`<think>`, `<tool_call>`), the request preparer (prompt,
 * thinking, tools, grammars), the tokenizer process for long prompts, and what every generation shares. Built from
 * the vocabulary alone, so that the llama-server engine renders and parses exactly as the in-process engine does
 * without loading the weights twice.
 */
export interface ModelFrontend {
  info: ModelInfo;
  preparer: RequestPreparer;
  /** Tokenizes long prompts in a child process; dispose it with the model. */
  tokenizer: PromptTokenizer;
  shared: GenerationShared;
  /** Whether a sequence's KV cache can be kept in part (not on recurrent and hybrid models). */
  canReusePrefix: boolean;
}

/** Builds the {@link ModelFrontend} of a loaded model; starts its tokenizer process. */
export function createModelFrontend(options: ModelFrontendOptions): ModelFrontend {
  const { model, logger } = options;
  const singleToken = (text: string): Token | undefined => {
    const tokens = model.tokenize(text, true);
    if (tokens.length !== 1) return undefined;
    return model.detokenize(tokens, true) === text ? tokens[0] : undefined;
  };
  const chatWrapper: ChatWrapper = resolveChatWrapper(model);
  const noThinkingChatWrapper =
    chatWrapper instanceof QwenChatWrapper ? new QwenChatWrapper({ variation: chatWrapper.variation, thoughts: "discourage" }) : undefined;
  const markers: MarkerTokens = {
    thinkStart: singleToken("<think>"),
    thinkEnd: singleToken("</think>"),
    toolCallStart: singleToken("<tool_call>"),
    toolCallEnd: singleToken("</tool_call>"),
  };
  const newlineTokens = model.tokenize("\n", true);
  const present = (tokens: Array<Token | undefined>): Token[] =>
    tokens.filter((token): token is Token => token !== undefined && token >= 0);
  const insights = model.fileInsights;
  const chatTemplate = model.fileInfo.metadata.tokenizer?.chat_template;
  const hasChatTemplate = typeof chatTemplate === "string";
  // Qwen3-Coder and Qwen3.5 templates teach the XML form of tool calls; Qwen3's the JSON form.
  const toolCallFormat = hasChatTemplate && chatTemplate.includes("<function=") ? "xml" : "json";
  const canThink = markers.thinkStart !== undefined && markers.thinkEnd !== undefined;
  const info: ModelInfo = {
    id: options.id,
    path: options.modelPath,
    architecture: String(model.fileInfo.metadata.general.architecture),
    contextTokens: options.contextTokens,
    parallelSequences: options.parallelSequences,
    chatWrapperName: chatWrapper.wrapperName,
    hasChatTemplate,
    canThink,
    thinksByDefault: canThink && (options.thinkingByDefault ?? true),
    canCallTools: markers.toolCallStart !== undefined && markers.toolCallEnd !== undefined,
    embeddingDimensions: model.embeddingVectorSize,
    vocabularySize: (model.fileInfo.metadata.tokenizer?.ggml?.tokens as unknown[] | undefined)?.length ?? 0,
    createdAtSeconds: Math.floor(options.now() / 1000),
  };
  // Its process starts loading the vocabulary now, so that it is ready by the first long prompt.
  const tokenizer = new PromptTokenizer({ model, modelPath: options.modelPath, modelId: info.id, logger });
  const preparer = new RequestPreparer({
    model,
    info,
    markers,
    chatWrapper,
    noThinkingChatWrapper,
    grammars: new RequestGrammars(options.llama, toolCallFormat),
    tokenizer,
  });
  const shared: GenerationShared = {
    model,
    modelId: info.id,
    contextTokens: info.contextTokens,
    markers,
    newlineTokens,
    closeThoughtTokens: present([...newlineTokens, markers.thinkEnd, ...model.tokenize("\n\n", true)]),
    closeToolCallTokens: present([...newlineTokens, markers.toolCallEnd]),
    tokenBytes: createTokenBytes(model),
    logger,
    counters: { activeGenerations: 0, generatedTokensTotal: 0 },
    createTokenSource: options.createTokenSource,
  };
  if (!hasChatTemplate) {
    logger.warn(
      { model: info.id, chatWrapper: info.chatWrapperName },
      "the model has no chat template (tokenizer.chat_template); chat requests use node-llama-cpp's fallback format, which the model may not have been trained on",
    );
  }
  return { info, preparer, tokenizer, shared, canReusePrefix: !insights.isRecurrent && !insights.isHybrid };
}
