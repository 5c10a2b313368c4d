import type { Context } from "hono";
import { MoestroError, usageSoFarOf } from "../../errors/index.js";
import type { StreamPart, Usage, UsageCounts, UsageEvent, UsageRequest, UsageRun, UsageSink, UsageStart } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";

/** What a request's worst case is made of, known once it is admitted. */
export interface MeterAdmission {
  /** The most prompt tokens it can be billed for: the prompt's tokens (`GenerationStream.promptTokens`), or a bound. */
  maxPromptTokens: number;
  /** The most tokens it can generate over all its choices. */
  maxCompletionTokens: number;
  /** The prompt's tokens when known (the running row shows them from the start). Defaults to 0. */
  promptTokens?: number;
  /** The most prompt tokens it can write to an explicit context cache (see `UsageStart`). Defaults to 0. */
  maxCacheCreationTokens?: number;
}

/**
 * Measures one model request (time to first token, latency, tokens) and reports it to the app's usage sinks: its
 * admission once (`start`, which may refuse it), then its end exactly once, when `finish` or `finishDelivered` is first
 * called. The counts come from what it observes (`observe`, `observeUsage`): the exact usage of each finished choice,
 * and the parts of the choice under way. While it runs, sinks read its counts so far through `readCounts` (the
 * ledger's heartbeat).
 *
 * A response that is sent whole goes: `checkpoint` (the final counts on the running row) before its last bytes, then
 * `finishDelivered("ok")` once they left. A request that fails or is aborted while the model runs goes `finish` before
 * its error is sent; routes may call `finish` again from `finally` (later calls do nothing).
 */
export class RequestMeter {
  readonly #deps: AppDeps;
  readonly #base: UsageRequest;
  readonly #budget: UsageStart["budget"];
  readonly #signal: AbortSignal | undefined;
  readonly #startedAt = performance.now();
  #firstTokenAt: number | undefined;
  /** Whether the first part's arrival is a time to first token (not for an answer that arrives whole). */
  #timesFirstToken = true;
  #finished = false;
  /** Sinks started for this request, with their runs; the others get `record` at the end. */
  readonly #runs = new Map<UsageSink, UsageRun>();
  /** The prompt's tokens, once known. */
  #promptTokens = 0;
  /** The usage of every choice that finished. */
  readonly #finishedUsages: Usage[] = [];
  /** Tokens (and reasoning tokens) of the choice under way, counted from its parts. */
  #runningTokens = 0;
  #runningReasoningTokens = 0;
  /** The request's final counts, once `checkpoint` gave them. */
  #finalCounts: UsageCounts | undefined;

  /**
   * @param fields what the events say of the request (`engine`: the serving backend's `engine().kind`, read once the
   *   model is held; `upstream` and `attempts`: the upstream that serves it; `requestedModel`: the model asked for when
   *   a fallback serves it), and its abort signal (`signal`): a request that fails after it
   *   aborted (the client left, or the server's shutdown ended it) is reported `aborted`, not `error`. Without a
   *   signal it never is.
   */
  constructor(
    deps: AppDeps,
    c: Context<AppEnv>,
    fields: Pick<UsageEvent, "model" | "endpoint" | "stream" | "engine" | "upstream" | "attempts" | "requestedModel"> & {
      signal?: AbortSignal;
    },
  ) {
    this.#deps = deps;
    // Field by field (no rest and spread: one of the meter's costs on every request, docs/gateway.md "Overhead").
    this.#base = {
      requestId: c.get("requestId"),
      keyId: c.get("keyId"),
      model: fields.model,
      endpoint: fields.endpoint,
      stream: fields.stream,
      engine: fields.engine,
      upstream: fields.upstream,
      attempts: fields.attempts,
      requestedModel: fields.requestedModel,
      startedAtMs: (deps.now ?? Date.now)(),
    };
    if (c.get("batch") !== undefined) this.#base.batch = true;
    this.#budget = c.get("budget");
    this.#signal = fields.signal;
  }

  /**
   * Reports the admitted request to the sinks that take starts (the ledger: a `running` row, and the budget's
   * reservation of its worst case), in order.
   *
   * @throws {MoestroError} what a sink refuses it with (`insufficient_quota`); the sinks started before it are then
   *   cancelled, and the request must end with that error, nothing else sent.
   */
  async start(admission: MeterAdmission): Promise<void> {
    this.#promptTokens = admission.promptTokens ?? 0;
    const start: UsageStart = {
      ...this.#base,
      maxPromptTokens: admission.maxPromptTokens,
      maxCompletionTokens: admission.maxCompletionTokens,
      maxCacheCreationTokens: admission.maxCacheCreationTokens,
      budget: this.#budget,
      readCounts: () => this.#counts(),
    };
    for (const sink of this.#deps.usageSinks ?? []) {
      if (sink.start === undefined) continue;
      try {
        this.#runs.set(sink, await sink.start(start));
      } catch (error) {
        await this.cancel();
        throw error;
      }
    }
  }

  /**
   * Names the upstream that serves a request admitted before it was sent (`ModelBackend.admissionBound`), and the
   * attempts it took: its end is recorded with them, and its running rows get them from their next write on. With `arrivesWhole` (the
   * upstream was asked for a whole answer, `GenerationStream.arrivesWhole`), no time to first token is recorded: its
   * first part comes with its last.
   */
  served(fields: Pick<UsageEvent, "upstream" | "attempts">, options: { arrivesWhole?: boolean } = {}): void {
    // In place: every start and event is a copy of `#base`.
    if ("upstream" in fields) this.#base.upstream = fields.upstream;
    if ("attempts" in fields) this.#base.attempts = fields.attempts;
    // The running rows name it too, from their next write on (`UsageRun.served`).
    for (const run of this.#runs.values()) run.served?.(fields);
    if (options.arrivesWhole === true) this.#timesFirstToken = false;
  }

  /**
   * Takes note of a part of the response: the first generated one marks the first token (TTFT); each counts toward the
   * running token count (a text part with log-probabilities counts its tokens, other parts one), and a `finish` part
   * gives its choice's exact usage (`observeUsage`).
   */
  observe(part: StreamPart): void {
    if (part.type === "finish") {
      this.observeUsage(part.usage);
      return;
    }
    this.#firstTokenAt ??= performance.now();
    const tokens = part.type === "text-delta" && part.logprobs !== undefined ? Math.max(1, part.logprobs.length) : 1;
    this.#runningTokens += tokens;
    if (part.type === "reasoning-delta") this.#runningReasoningTokens += tokens;
  }

  /** Takes note of the exact usage of a finished choice (an embedding request has one, with no parts). */
  observeUsage(usage: Usage): void {
    this.#finishedUsages.push(usage);
    this.#runningTokens = 0;
    this.#runningReasoningTokens = 0;
  }

  /** The request's usage from the choices finished so far (every choice, once they all ended), as {@link sumUsage} sums it. */
  get usage(): Usage {
    return sumUsage(this.#finishedUsages);
  }

  /**
   * Forgets a started request that was refused before the model ran it (input the model rejected with a 4xx): the
   * started sinks cancel it (no ledger row); the others hear nothing. Ends the meter like `finish`.
   */
  async cancel(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    for (const run of this.#runs.values()) await run.cancel();
  }

  /**
   * Ends a started request whose model call threw before it produced anything: a 4xx refusal of the input cancels it
   * (no row, as for requests refused before admission); anything else ends it as {@link fail} does, with no tokens.
   */
  async endWithError(error: unknown): Promise<void> {
    if (error instanceof MoestroError && error.status < 500 && !this.#signal?.aborted) return await this.cancel();
    await this.fail(error);
  }

  /**
   * Reports, once, the end of a request that failed with `error` after the model ran: `aborted` when its signal aborted
   * (the client left, or the server's shutdown: whatever the work threw then), else `error` with the error's code
   * (`internal_error` for an error that is not a `MoestroError`); the counts are those of the choices that finished,
   * plus the usage the error carries of a choice that broke off part way (`withUsageSoFar`: an upstream's stream).
   * Later calls do nothing.
   *
   * @throws what a sink throws (as `finish`).
   */
  async fail(error: unknown): Promise<void> {
    // An answer that broke off part way (an upstream's stream) bills what was produced (`withUsageSoFar`).
    const produced = usageSoFarOf(error);
    if (produced !== undefined && !this.#finished) this.observeUsage(produced);
    await this.finish(this.#signal?.aborted ? "aborted" : "error", error instanceof MoestroError ? error.code : "internal_error");
  }

  /** Whether the request was already reported. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Records the request's final counts (its finished choices') with the sinks that started it (`UsageRun.checkpoint`:
   * the ledger's running row gets them, its status still `running`), before the response's last bytes are written.
   * From here on `readCounts` returns these counts. Does nothing once the request was reported.
   *
   * @throws what a sink throws; the request must then end with an error, its last bytes unsent.
   */
  async checkpoint(): Promise<void> {
    if (this.#finished) return;
    this.#finalCounts = countsOf(this.#finishedUsages);
    for (const run of this.#runs.values()) await run.checkpoint();
  }

  /**
   * Reports the request's end once, with the counts of the choices that finished. Later calls do nothing.
   *
   * @throws what a sink throws (the sinks after it are not told).
   */
  async finish(status: UsageEvent["status"], errorCode?: string): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const sinks = this.#deps.usageSinks ?? [];
    if (sinks.length === 0) return;
    const event = this.#event(status, countsOf(this.#finishedUsages), errorCode);
    for (const sink of sinks) {
      const run = this.#runs.get(sink);
      await (run === undefined ? sink.record(event) : run.finish(event));
    }
  }

  /**
   * Reports, once, the end of a request whose response was written: `ok` once its last byte was handed to the socket,
   * `aborted` when the client went away first. Every sink is told at once, not one after another: what each does without
   * waiting (the SQLite ledger's settlement, the in-memory token counter) is done before the client can send another
   * request. Never throws: the response can no longer change, so a sink that fails is logged and the others are still
   * told (the ledger's row then stays `running`, with the counts of `checkpoint`, until its recovery settles it as
   * `interrupted`).
   */
  async finishDelivered(status: "ok" | "aborted"): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const sinks = this.#deps.usageSinks ?? [];
    if (sinks.length === 0) return;
    const event = this.#event(status, countsOf(this.#finishedUsages), undefined);
    await Promise.all(
      sinks.map(async (sink) => {
        const run = this.#runs.get(sink);
        try {
          await (run === undefined ? sink.record(event) : run.finish(event));
        } catch (error) {
          this.#deps.logger.error(
            { err: error, requestId: this.#base.requestId, status },
            "usage sink failed after the response was sent; a ledger row stays running until its recovery settles it as interrupted",
          );
        }
      }),
    );
  }

  #event(status: UsageEvent["status"], counts: UsageCounts, errorCode: string | undefined): UsageEvent {
    // One spread, then fields (a second spread into the same literal takes V8's slow path; docs/gateway.md, "Overhead").
    const event = { ...this.#base } as UsageEvent;
    assignCounts(event, counts);
    event.status = status;
    event.timeToFirstTokenMs =
      this.#firstTokenAt === undefined || !this.#timesFirstToken ? undefined : this.#firstTokenAt - this.#startedAt;
    event.latencyMs = performance.now() - this.#startedAt;
    event.errorCode = errorCode;
    return event;
  }

  /** The counts so far: the final ones once checkpointed, else finished choices exactly and the choice under way by its parts. */
  #counts(): UsageCounts {
    if (this.#finalCounts !== undefined) return this.#finalCounts;
    const finished = countsOf(this.#finishedUsages);
    const counts: UsageCounts = {
      promptTokens: this.#finishedUsages.length > 0 ? finished.promptTokens : this.#promptTokens,
      cachedPromptTokens: finished.cachedPromptTokens,
      completionTokens: finished.completionTokens + this.#runningTokens,
      reasoningTokens: finished.reasoningTokens + this.#runningReasoningTokens,
    };
    addExplicitCache(counts, finished);
    if (finished.draftTokens !== undefined) {
      counts.draftTokens = finished.draftTokens;
      counts.acceptedDraftTokens = finished.acceptedDraftTokens;
    }
    if (finished.engineTimeMs !== undefined) counts.engineTimeMs = finished.engineTimeMs;
    return counts;
  }
}

/**
 * Sums the usage of the `n` choices of one request: the prompt is counted once (the first choice's, its cached part
 * too: every choice has the same prompt), completions and reasoning add up. `cachedPromptTokens` stays `undefined` when
 * the first choice's is unknown. Speculative decoding's drafted and accepted tokens add up over the choices that
 * speculated, and stay `undefined` when none did; so does the engine time (`engineTimeMs`, over the choices that
 * measured it). The explicit cache's creation and read are the first choice's (the prompt's), `undefined` when it
 * marked none. `estimated` is set when any choice's
 * counts are estimates.
 */
export function sumUsage(usages: readonly Usage[]): Usage {
  // Built field by field (no spreads of optional parts): the meter sums its usages a few times per request.
  const first = usages[0];
  let completionTokens = 0;
  let reasoningTokens = 0;
  let draftTokens: number | undefined;
  let acceptedDraftTokens = 0;
  let engineTimeMs: number | undefined;
  let estimated = false;
  for (const usage of usages) {
    completionTokens += usage.completionTokens;
    reasoningTokens += usage.reasoningTokens ?? 0;
    if (usage.draftTokens !== undefined) {
      draftTokens = (draftTokens ?? 0) + usage.draftTokens;
      acceptedDraftTokens += usage.acceptedDraftTokens ?? 0;
    }
    if (usage.engineTimeMs !== undefined) engineTimeMs = (engineTimeMs ?? 0) + usage.engineTimeMs;
    // One estimated choice makes the request's counts estimates.
    if (usage.estimated === true) estimated = true;
  }
  const sum: Usage = {
    promptTokens: first?.promptTokens ?? 0,
    completionTokens,
    cachedPromptTokens: first?.cachedPromptTokens,
    reasoningTokens,
  };
  if (first !== undefined) addExplicitCache(sum, first);
  if (draftTokens !== undefined) {
    sum.draftTokens = draftTokens;
    sum.acceptedDraftTokens = acceptedDraftTokens;
  }
  if (engineTimeMs !== undefined) sum.engineTimeMs = engineTimeMs;
  if (estimated) sum.estimated = true;
  return sum;
}

/** Sets the explicit cache's counts of `usage` on `target`, when it has them (both then, an unknown one as 0). */
function addExplicitCache(target: Partial<UsageCounts>, usage: Pick<Usage, "cacheCreationInputTokens" | "cacheReadInputTokens">): void {
  if (usage.cacheCreationInputTokens === undefined && usage.cacheReadInputTokens === undefined) return;
  target.cacheCreationInputTokens = usage.cacheCreationInputTokens ?? 0;
  target.cacheReadInputTokens = usage.cacheReadInputTokens ?? 0;
}

/** Sets `counts`' fields on `target`: the four counts, and each optional one that `counts` has. */
function assignCounts(target: UsageCounts, counts: UsageCounts): void {
  target.promptTokens = counts.promptTokens;
  target.cachedPromptTokens = counts.cachedPromptTokens;
  target.completionTokens = counts.completionTokens;
  target.reasoningTokens = counts.reasoningTokens;
  if ("cacheCreationInputTokens" in counts) target.cacheCreationInputTokens = counts.cacheCreationInputTokens;
  if ("cacheReadInputTokens" in counts) target.cacheReadInputTokens = counts.cacheReadInputTokens;
  if ("draftTokens" in counts) target.draftTokens = counts.draftTokens;
  if ("acceptedDraftTokens" in counts) target.acceptedDraftTokens = counts.acceptedDraftTokens;
  if ("engineTimeMs" in counts) target.engineTimeMs = counts.engineTimeMs;
  if ("usageEstimated" in counts) target.usageEstimated = counts.usageEstimated;
}

/**
 * The counts the usage sinks take ({@link sumUsage}, an unknown count as 0; draft counts only when some choice
 * speculated; the engine time only when some choice measured it; `usageEstimated` only when some choice's counts
 * are estimates).
 */
function countsOf(usages: readonly Usage[]): UsageCounts {
  const sum = sumUsage(usages);
  const counts: UsageCounts = {
    promptTokens: sum.promptTokens,
    cachedPromptTokens: sum.cachedPromptTokens ?? 0,
    completionTokens: sum.completionTokens,
    reasoningTokens: sum.reasoningTokens ?? 0,
  };
  addExplicitCache(counts, sum);
  if (sum.draftTokens !== undefined) {
    counts.draftTokens = sum.draftTokens;
    counts.acceptedDraftTokens = sum.acceptedDraftTokens ?? 0;
  }
  if (sum.engineTimeMs !== undefined) counts.engineTimeMs = sum.engineTimeMs;
  if (sum.estimated === true) counts.usageEstimated = true;
  return counts;
}

/**
 * The admission of a generation: its prompt's tokens, and at most `n` choices of `maxTokens` each, or of the context's
 * remainder when `maxTokens` is not set (or larger).
 */
export function generationAdmission(options: {
  promptTokens: number;
  contextTokens: number;
  maxTokens: number | undefined;
  n: number;
  /** Whether the request marks prompt parts for the explicit context cache (`cache_control`). Defaults to false. */
  explicitCache?: boolean;
}): MeterAdmission {
  const remainder = Math.max(0, options.contextTokens - options.promptTokens);
  const perChoice = Math.min(options.maxTokens ?? remainder, remainder);
  const admission: MeterAdmission = {
    promptTokens: options.promptTokens,
    maxPromptTokens: options.promptTokens,
    maxCompletionTokens: options.n * perChoice,
  };
  // A cache write bills its prompt part at the creation rate (125% of input by default): the reservation covers it.
  if (options.explicitCache === true) admission.maxCacheCreationTokens = options.promptTokens;
  return admission;
}

/**
 * The admission of a generation sent to another server, reserved before it is sent (`ModelBackend.admissionBound`,
 * docs/gateway.md "Usage, budgets and the ledger"): with the prompt's exact count, as {@link generationAdmission};
 * with a bound (no tokenizer here), the bound plus `n × maxTokens`, or `n ×` the whole context window when `maxTokens`
 * is not set (the bound overstates the prompt, so the window's remainder after it would understate the completion).
 */
export function boundedAdmission(
  bound: { promptTokens: number; exact: boolean; contextTokens: number },
  options: { maxTokens: number | undefined; n: number },
): MeterAdmission {
  if (bound.exact) return generationAdmission({ promptTokens: bound.promptTokens, contextTokens: bound.contextTokens, ...options });
  return { maxPromptTokens: bound.promptTokens, maxCompletionTokens: options.n * (options.maxTokens ?? bound.contextTokens) };
}

/**
 * The admission of an embedding request, before its inputs are tokenized: at most one token per UTF-8 byte of a text
 * input plus 4 (begin and end markers, and SentencePiece's leading space), the length of a token-id input; nothing
 * generated.
 */
export function embeddingAdmission(inputs: ReadonlyArray<string | readonly number[]>): MeterAdmission {
  let maxPromptTokens = 0;
  for (const input of inputs) maxPromptTokens += typeof input === "string" ? Buffer.byteLength(input, "utf8") + 4 : input.length;
  return { maxPromptTokens, maxCompletionTokens: 0 };
}
