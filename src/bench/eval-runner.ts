import { CompletionApiError } from "../client/api-error.js";
import { streamCompletion, type StreamUsage } from "../client/completion-stream.js";
import { extractChoiceLetter, extractFinalAnswer, isAnswerMatch, isNumericAnswer, stripThinking } from "./answer-extraction.js";
import { formatEvalPrompt, type EvalDataset, type EvalQuestion } from "./eval-dataset.js";
import type { EvalPricer } from "./eval-pricing.js";
import type { EvalCostBasis, EvalReport, EvalRunIdentity, EvalThinkingMode } from "../wire/eval-report.js";
import { evalPromptVersion, type EvalAnswerRecord } from "./eval-record.js";
import type { EvalStore } from "./eval-store.js";
import { markParetoOptimal, summarizeEvalMode } from "./eval-summary.js";
import { runPool } from "./worker-pool.js";

/** Where an eval stands, after each answer. */
export interface EvalProgress {
  /** The model being asked. */
  model: string;
  /** Its thinking mode. */
  thinking: EvalThinkingMode;
  /** Questions with an outcome over all models and modes, stored ones from an earlier run included; 0 < completed ≤ total. */
  completed: number;
  /** Questions over all models and modes. */
  total: number;
  /** The answer just stored; absent for the first call of a model and mode whose answers were all stored already. */
  record?: EvalAnswerRecord;
}

/** Options of {@link runEval}. */
export interface RunEvalOptions {
  /** The server: `http://host:port` or a base URL ending in `/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
  /** The model ids to ask, in order. */
  models: string[];
  /** The thinking modes to ask each model in, in order. Defaults to `["default"]`. */
  thinkingModes?: EvalThinkingMode[];
  /**
   * The thinking modes of some models, in place of `thinkingModes` (`moestro eval --thinking both` asks a model that
   * cannot think in `off` only). Defaults to none.
   */
  modelThinkingModes?: Readonly<Record<string, EvalThinkingMode[]>>;
  /** The dataset. */
  dataset: EvalDataset;
  /** Asks only the first `limit` questions. Defaults to all. */
  limit?: number;
  /** Where answers and the report go. */
  store: EvalStore;
  /** Prices each request. */
  pricer: EvalPricer;
  /** Requests in flight at once (per model and mode; models and modes run one after another). Defaults to 4. */
  concurrency?: number;
  /** `max_tokens` of each request. Defaults to 256 (fits the 512-token context of the tiny test models). */
  maxTokens?: number;
  /** `temperature` of each request. Defaults to 0 (greedy). */
  temperature?: number;
  /** `seed` of each request. Defaults to none sent. */
  seed?: number;
  /** `thinking_budget` of requests with thinking on, tokens. Defaults to none sent. */
  thinkingBudgetTokens?: number;
  /** Which cost the Pareto flags use. Defaults to `own`. */
  costBasis?: EvalCostBasis;
  /** Time limit of each request, ms. Defaults to 600000. */
  timeoutMs?: number;
  /** Stops the eval: requests in flight are cancelled and not stored, and {@link runEval} throws the signal's reason. */
  signal?: AbortSignal;
  /** Called after each stored answer. Defaults to none. */
  onProgress?: (progress: EvalProgress) => void;
  /** The `fetch` to use (tests count calls). Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Monotonic clock for latencies, ms. Defaults to `performance.now`. */
  now?: () => number;
  /** Wall clock for `startedAtMs` and prices, epoch ms. Defaults to `Date.now`. */
  clock?: () => number;
}

/**
 * The identity of an eval run (what must match for stored answers to be reused), with the defaults of
 * {@link RunEvalOptions} applied.
 */
export function createEvalRunIdentity(
  options: Pick<RunEvalOptions, "dataset" | "maxTokens" | "temperature" | "seed" | "thinkingBudgetTokens">,
): EvalRunIdentity {
  return {
    datasetSha256: options.dataset.sha256,
    maxTokens: options.maxTokens ?? 256,
    temperature: options.temperature ?? 0,
    seed: options.seed ?? null,
    thinkingBudgetTokens: options.thinkingBudgetTokens ?? null,
    promptVersion: evalPromptVersion,
  };
}

/** The request fields that switch thinking in `mode` (see {@link EvalThinkingMode}). */
export function thinkingRequestFields(mode: EvalThinkingMode, budgetTokens: number | undefined): Record<string, unknown> {
  switch (mode) {
    case "default":
      return {};
    case "off":
      return { enable_thinking: false, chat_template_kwargs: { enable_thinking: false } };
    case "on":
      return {
        enable_thinking: true,
        chat_template_kwargs: { enable_thinking: true },
        ...(budgetTokens === undefined ? {} : { thinking_budget: budgetTokens }),
      };
    default:
      return mode satisfies never;
  }
}

/** Shortens a stored response to its first 1,000 and last 2,000 characters (the answer is usually at the end). */
function shorten(text: string): string {
  return text.length <= 3200 ? text : `${text.slice(0, 1000)}\n[… ${text.length - 3000} characters …]\n${text.slice(-2000)}`;
}

/** Scores a response to `question`: its outcome and the answer found. */
export function scoreResponse(
  question: EvalQuestion,
  response: string,
): { status: "correct" | "wrong" | "unparsable"; extracted?: string } {
  const text = stripThinking(response);
  const found =
    question.kind === "multiple-choice"
      ? extractChoiceLetter(text, question.choices.length)
      : extractFinalAnswer(text, { isNumeric: isNumericAnswer(question.answer) });
  if (found === undefined) return { status: "unparsable" };
  const isCorrect = question.kind === "multiple-choice" ? found.answer === question.answer : isAnswerMatch(found.answer, question.answer);
  return { status: isCorrect ? "correct" : "wrong", extracted: found.answer };
}

/**
 * Runs an eval: asks every question of `dataset` (the first `limit`) of each model in each thinking mode over the chat
 * completions API (streaming, with usage), scores the answers, stores each one as it comes, and stores and returns the
 * report. Answers already in the store (of the same dataset and settings) are not asked again, so an interrupted eval
 * continues where it stopped; failed requests are asked again.
 *
 * @throws {MoestroError} `invalid_request` when the store holds another dataset's or settings' answers.
 * @throws the signal's reason when `signal` aborts (what was answered before stays stored).
 * @example
 * const report = await runEval({baseUrl: "http://127.0.0.1:8080", models: ["qwen3-30b-a3b"], thinkingModes: ["off", "on"],
 *   dataset: await loadEvalDataset("sample"), store: createFileEvalStore("./eval-out"), pricer: await loadEvalPricer({})});
 */
export async function runEval(options: RunEvalOptions): Promise<EvalReport> {
  const questions = options.dataset.questions.slice(0, options.limit ?? options.dataset.questions.length);
  const defaultModes = options.thinkingModes ?? ["default"];
  const modesOf = (model: string): EvalThinkingMode[] => options.modelThinkingModes?.[model] ?? defaultModes;
  const now = options.now ?? (() => performance.now());
  const clock = options.clock ?? Date.now;
  const identity = createEvalRunIdentity(options);
  const key = (model: string, thinking: EvalThinkingMode, questionId: string): string => JSON.stringify([model, thinking, questionId]);
  const latest = new Map<string, EvalAnswerRecord>();
  for (const record of await options.store.open(identity)) latest.set(key(record.model, record.thinking, record.questionId), record);

  const total = options.models.reduce((sum, model) => sum + modesOf(model).length, 0) * questions.length;
  const isDone = (record: EvalAnswerRecord | undefined): boolean => record !== undefined && record.status !== "error";
  let completed = 0;
  for (const model of options.models)
    for (const thinking of modesOf(model))
      for (const question of questions) if (isDone(latest.get(key(model, thinking, question.id)))) completed++;

  const ask = async (model: string, thinking: EvalThinkingMode, question: EvalQuestion): Promise<EvalAnswerRecord> => {
    const startedAtMs = clock();
    const start = now();
    const expected = question.answer;
    let text = "";
    let usage: StreamUsage | undefined;
    let finishReason: string | undefined;
    const base = { model, thinking, questionId: question.id, expected };
    try {
      for await (const part of streamCompletion({
        baseUrl: options.baseUrl,
        apiKey: options.apiKey,
        endpoint: "chat",
        body: {
          model,
          messages: [{ role: "user", content: formatEvalPrompt(question) }],
          max_tokens: identity.maxTokens,
          temperature: identity.temperature,
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          ...thinkingRequestFields(thinking, options.thinkingBudgetTokens),
        },
        signal: options.signal,
        timeoutMs: options.timeoutMs ?? 600_000,
        fetch: options.fetch,
        now,
      })) {
        if (part.type === "text-delta") text += part.text;
        else if (part.type === "usage") usage = part.usage;
        else if (part.type === "finish") finishReason = part.finishReason;
      }
    } catch (error) {
      if (!(error instanceof CompletionApiError)) throw error;
      return {
        ...base,
        status: "error",
        errorCode: error.code,
        errorMessage: error.message,
        costMicroUsd: 0,
        cloudCostMicroUsd: 0,
        latencyMs: now() - start,
        startedAtMs,
      };
    }
    const latencyMs = now() - start;
    const score = scoreResponse(question, text);
    const price = options.pricer.price(
      model,
      {
        promptTokens: usage?.promptTokens ?? 0,
        cachedPromptTokens: usage?.cachedPromptTokens ?? 0,
        completionTokens: usage?.completionTokens ?? 0,
        reasoningTokens: usage?.reasoningTokens ?? 0,
      },
      startedAtMs,
    );
    const record: EvalAnswerRecord = {
      ...base,
      status: score.status,
      response: shorten(text),
      costMicroUsd: price.costMicroUsd,
      cloudCostMicroUsd: price.cloudCostMicroUsd,
      latencyMs,
      startedAtMs,
    };
    if (score.extracted !== undefined) record.extracted = score.extracted;
    if (finishReason !== undefined) record.finishReason = finishReason;
    if (price.cloudModel !== undefined) record.cloudModel = price.cloudModel;
    if (usage?.promptTokens !== undefined) record.promptTokens = usage.promptTokens;
    if (usage?.completionTokens !== undefined) record.completionTokens = usage.completionTokens;
    if (usage?.reasoningTokens !== undefined) record.reasoningTokens = usage.reasoningTokens;
    if (usage?.cachedPromptTokens !== undefined) record.cachedPromptTokens = usage.cachedPromptTokens;
    return record;
  };

  for (const model of options.models) {
    for (const thinking of modesOf(model)) {
      const pending = questions.filter((question) => !isDone(latest.get(key(model, thinking, question.id))));
      if (pending.length === 0) options.onProgress?.({ model, thinking, completed, total });
      await runPool(pending, { concurrency: options.concurrency ?? 4, signal: options.signal }, async (question) => {
        const record = await ask(model, thinking, question);
        // An abort that lands after the answer came keeps the answer; one that cut the request never gets here.
        await options.store.append(record);
        latest.set(key(model, thinking, question.id), record);
        completed++;
        options.onProgress?.({ model, thinking, completed, total, record });
      });
    }
  }

  const results = options.models.flatMap((model) =>
    modesOf(model).map((thinking) => {
      const records = questions
        .map((question) => latest.get(key(model, thinking, question.id)))
        .filter((record): record is EvalAnswerRecord => record !== undefined);
      return summarizeEvalMode(records, { model, thinking, questionCount: questions.length });
    }),
  );
  const costBasis = options.costBasis ?? "own";
  const report: EvalReport = {
    dataset: { path: options.dataset.path, sha256: options.dataset.sha256, questions: questions.length },
    settings: identity,
    costBasis,
    results: markParetoOptimal(results, costBasis),
    createdAt: new Date(clock()).toISOString(),
  };
  await options.store.saveReport(report);
  return report;
}
