import type { Context } from "hono";
import type {
  EngineKind,
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelLease,
  StreamPart,
  TokenLogprob,
  ToolCall,
  UpstreamServed,
  Usage,
  UsageEvent,
} from "../../spec/index.js";
import { MoestroError } from "../../errors/index.js";
import { attemptsOf } from "../../gateway/fallbacks.js";
import { sessionOf } from "../../gateway/session-affinity.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { boundedAdmission, generationAdmission, RequestMeter } from "./request-meter.js";
import { type RequestAbortController, requestSignal } from "./request-abort.js";
import type { OutputCheck, SchemaParamNames, SchemaValidator } from "./schema-validator.js";
import { servedModelName } from "./served-model-name.js";

/** What {@link startGeneration} needs besides the request's context. */
export interface StartGenerationOptions {
  /** The model's id or alias, as the client sent it (read by `servedModelName`: `NAME:latest` reaches `NAME`). */
  model: string;
  /** This request's keep-alive for the model, ms (Ollama's `keep_alive`). Defaults to the model's. */
  keepAliveMs?: number;
  /** The dialect's request, converted; its `signal` is ignored (the request's own abort signal is passed to the engine). */
  request: GenerateRequest;
  /** How many choices to generate, one after another. */
  n: number;
  /** The app's one schema validator. */
  validator: SchemaValidator;
  /** How the dialect names the request's schemas in errors. */
  schemaParams: SchemaParamNames;
  /** The endpoint, as the usage ledger records it. */
  endpoint: UsageEvent["endpoint"];
  /** Whether the response is streamed, as the usage ledger records it. */
  stream: boolean;
}

/** A generation admitted for a request: its model, its parts, its abort controller and the usage so far. */
export interface StartedGeneration {
  /** The model that generates. */
  backend: ModelBackend;
  /**
   * The parts of every choice, one choice after another. A finished answer or tool call that breaks its schema is
   * thrown as `invalid_model_output` (500) in place of its part.
   */
  parts: ChoiceParts;
  /** Aborts the generation; linked to the client's connection and the server's shutdown. */
  abort: RequestAbortController;
  /**
   * The request's usage meter, its admission reported: its `running` ledger row is written and its budget reservation
   * taken. It observes every part as the parts are read, before the output check (a choice whose output fails its
   * check is counted).
   */
  meter: RequestMeter;
  /** The id of the model that answers when a fallback does (docs/gateway.md, "Fallbacks"); `undefined` otherwise. */
  fallback?: string;
}

/**
 * Admits a request's generation. In order: compiles the request's JSON schemas (before any model is held, so that a bad
 * schema costs nothing), holds the model (loading it if needed), and admits the first of `n` choices (so that a request
 * that cannot run fails before any streamed byte). The request's abort signal (client gone, server shutting down) is
 * passed to the engine with the request. Last, the admission is reported to the usage meter, which reserves the worst
 * case (prompt plus `n × max_tokens`, or the context's remainder) against the key's budget. A backend that sends the
 * request to another server (`ModelBackend.admissionBound`: an upstream pool) is reserved for first, before anything is
 * sent (its prompt's bound, or a local tokenizer's exact count, plus `n × max_tokens` or `n ×` its window), so that a
 * request its budget refuses never reaches the upstream; a failed attempt releases it before a fallback is tried. Each
 * fallback taken is counted on `/metrics` (`moestro_gateway_fallbacks_total`). From here on the model
 * lease and the abort controller are released exactly once: when the parts end or are closed, or at once when this
 * throws.
 *
 * @throws {MoestroError} `invalid_request` for a schema that cannot be compiled or is too large (see `SchemaValidator`);
 *   `model_not_found`, `insufficient_memory`, `context_length_exceeded`, `server_busy` (what acquiring the model and
 *   admitting the generation throw); `server_shutting_down` when the server's shutdown ended the wait;
 *   `insufficient_quota` (429) when the key's budget cannot cover the request's worst case; `unsupported_parameter`
 *   naming `request.refusedLocally.param` when a local engine serves a request that carries it.
 */
export async function startGeneration(c: Context<AppEnv>, deps: AppDeps, options: StartGenerationOptions): Promise<StartedGeneration> {
  const { validator } = options;
  const check = validator.checkRequest(options.request, options.schemaParams);
  // `stories260K:latest` (as `/api/tags` lists it) reaches `stories260K`; the Ollama port reads names as Ollama does.
  const requested = await servedModelName(c, deps, options.model);
  const abort = requestSignal(c, deps);
  const affinity = deps.routing?.affinity;
  const request: GenerateRequest = {
    ...options.request,
    signal: abort.signal,
    requestId: c.get("requestId"),
    // A non-streamed response collects the answer whole: an upstream may send it in one piece.
    whole: !options.stream,
    session:
      affinity === undefined ? undefined : sessionOf(c.req.header(affinity.header), options.request.passthrough?.user, affinity.userField),
  };
  // A batch line yields the model to interactive requests (docs/batch.md).
  if (c.get("batch") !== undefined) request.priority = "batch";
  // The meter is made once the first choice is admitted, so that its clock (TTFT, latency) leaves out the wait for a
  // sequence; the parts are read only after that.
  let meter: RequestMeter | undefined;
  // Fallbacks by error kind (docs/gateway.md, "Fallbacks"): a model that fails before the first byte with an error a
  // pool's rules name hands the request to the next model of the plan; nothing has reached the client yet.
  const plan = deps.routing?.fallbacks?.plan(requested);
  /** The request's meter on `backend` (its fields as the ledger records them). */
  const newMeter = (backend: ModelBackend, served: Pick<UsageEvent, "upstream" | "attempts"> = {}): RequestMeter =>
    new RequestMeter(deps, c, {
      model: backend.info.id,
      endpoint: options.endpoint,
      stream: options.stream,
      engine: engineKindOf(backend),
      // The model the client asked for, when a fallback serves the request (docs/gateway.md, "Fallbacks").
      requestedModel: plan !== undefined && plan.taken > 0 ? options.model : undefined,
      ...served,
      signal: abort.signal,
    });
  let model = requested;
  let priorAttempts = 0;
  let lease: ModelLease;
  let parts: Awaited<ReturnType<typeof startChoices>>;
  for (;;) {
    let held: ModelLease;
    try {
      held = await deps.models.acquire(model, { signal: abort.signal, keepAliveMs: options.keepAliveMs });
    } catch (error) {
      const next = abort.signal.aborted ? undefined : plan?.next(model, error);
      if (next !== undefined) {
        deps.metrics?.countFallback(model, next, codeOf(error));
        deps.logger.warn({ model, fallback: next, err: (error as Error).message }, "model unavailable: trying its fallback");
        model = next;
        continue;
      }
      abort.detach();
      throw abort.errorFor(error);
    }
    // An option only a remote server can honour (`refusedLocally`: OpenAI's audio, predicted outputs…) is refused here
    // when a local engine would serve it, never dropped; an upstream gets it in `passthrough` (docs/api.md).
    if (request.refusedLocally !== undefined && engineKindOf(held.backend) !== "upstream") {
      held.release();
      abort.detach();
      throw new MoestroError("unsupported_parameter", request.refusedLocally.message, { param: request.refusedLocally.param });
    }
    // A backend that sends the request elsewhere (an upstream pool) is admitted before it sends anything: the worst
    // case is reserved against the key's budget first, so a request the budget refuses never reaches a server that
    // may bill for it (docs/gateway.md, "Usage, budgets and the ledger"). Its clock then counts the upstream's wait.
    let early: RequestMeter | undefined;
    if (held.backend.admissionBound !== undefined) {
      try {
        const bound = await held.backend.admissionBound(request);
        early = newMeter(held.backend);
        await early.start(boundedAdmission(bound, { maxTokens: request.maxTokens, n: options.n }));
      } catch (error) {
        held.release();
        abort.detach();
        throw abort.errorFor(error);
      }
    }
    let admitted = false;
    try {
      parts = await startChoices(held.backend, request, options.n, { check, observe: (part) => meter?.observe(part) }, () => {
        held.release();
        // A failed attempt keeps the request's abort controller for the fallback; it is detached once, at the end.
        if (admitted) abort.detach();
      });
      admitted = true;
      lease = held;
      meter = early;
      break;
    } catch (error) {
      // Nothing was generated: the reservation is released and no row is kept (as for a request refused before).
      await early?.cancel();
      const next = abort.signal.aborted ? undefined : plan?.next(model, error, held.backend.info.id);
      if (next !== undefined) {
        deps.metrics?.countFallback(model, next, codeOf(error));
        priorAttempts += attemptsOf(error);
        deps.logger.warn(
          { model: held.backend.info.id, fallback: next, err: (error as Error).message },
          "model failed: trying its fallback",
        );
        model = next;
        continue;
      }
      abort.detach();
      throw abort.errorFor(error);
    }
  }
  const { info } = lease.backend;
  const { servedBy } = parts;
  // Which upstream answers (as LiteLLM's x-litellm-model-api-base): set before any byte, on JSON and streams alike.
  if (servedBy !== undefined) c.header("x-moestro-upstream", servedBy.upstream);
  // Which model answers, when a fallback does (the response's `model` field says it too).
  if (plan !== undefined && plan.taken > 0) c.header("x-moestro-fallback-from", options.model);
  const served = {
    upstream: servedBy?.upstream,
    attempts: servedBy === undefined ? (priorAttempts > 0 ? priorAttempts + 1 : undefined) : servedBy.attempts + priorAttempts,
  };
  if (meter !== undefined) meter.served(served, { arrivesWhole: parts.arrivesWhole === true });
  else {
    meter = newMeter(lease.backend, served);
    const admission = {
      promptTokens: parts.promptTokens,
      contextTokens: info.contextTokens,
      maxTokens: request.maxTokens,
      n: options.n,
      explicitCache: (request.cacheBreakpoints?.length ?? 0) > 0,
    };
    try {
      await meter.start(generationAdmission(admission));
    } catch (error) {
      await parts.return(undefined);
      throw error;
    }
  }
  return { backend: lease.backend, parts, abort, meter, fallback: plan !== undefined && plan.taken > 0 ? info.id : undefined };
}

/**
 * Admits a generation like {@link startGeneration}; when its `maxTokens` does not fit beside the prompt in the model's
 * context window, admits it again with `maxTokens` lowered to what the window leaves (`clampedToContext`). For the
 * dialects whose reference servers do not refuse such a request: Anthropic's clients send a `max_tokens` chosen for
 * Anthropic's models (Claude Code sends 32000 whatever the model), and Anthropic's API ends an answer that fills the
 * window with `stop_reason: "model_context_window_exceeded"` (Messages reference, `stop_reason`); Ollama (and
 * llama-server) cap `num_predict` at what the context holds. A prompt that leaves no room at all is still refused.
 *
 * @throws what `startGeneration` throws; `context_length_exceeded` (400) when the prompt alone fills the window.
 */
export async function startGenerationClamped(
  c: Context<AppEnv>,
  deps: AppDeps,
  options: StartGenerationOptions,
): Promise<{ generation: StartedGeneration; clampedToContext: boolean }> {
  try {
    return { generation: await startGeneration(c, deps, options), clampedToContext: false };
  } catch (error) {
    if (!(error instanceof MoestroError) || error.code !== "context_length_exceeded" || options.request.maxTokens === undefined)
      throw error;
    // The prompt's tokens, counted without max_tokens (the engine keeps the tokenization of this input for the retry).
    const lease = await deps.models.acquire(await servedModelName(c, deps, options.model));
    let room: number;
    try {
      const promptTokens = await countPromptTokens(lease.backend, { ...options.request, maxTokens: undefined });
      room = lease.backend.info.contextTokens - promptTokens;
    } finally {
      lease.release();
    }
    if (room < 1 || room >= options.request.maxTokens) throw error;
    const request = { ...options.request, maxTokens: room };
    return { generation: await startGeneration(c, deps, { ...options, request }), clampedToContext: true };
  }
}

/**
 * The prompt's tokens: from the backend's counter, or (a backend without one) by admitting a generation of one token
 * and closing it.
 *
 * @throws what `backend.countPromptTokens` or `backend.generate` throws for the request.
 */
export async function countPromptTokens(backend: ModelBackend, request: GenerateRequest): Promise<number> {
  if (backend.countPromptTokens !== undefined) return await backend.countPromptTokens(request);
  const stream = await backend.generate({ ...request, maxTokens: 1 });
  await stream.close();
  return stream.promptTokens;
}

/** One choice's part, tagged with the choice index. */
export type ChoicePart = StreamPart & { index: number };

/** The parts of every choice, with the prompt's tokens (known once the first choice is admitted). */
export type ChoiceParts = AsyncGenerator<ChoicePart, void, undefined> & {
  readonly promptTokens: number;
  /** The first choice's prompt cache counts, once its engine knows them (`GenerationStream.promptCacheUsage`). */
  readonly promptCacheUsage?: GenerationStream["promptCacheUsage"];
};

/** What the choice iterator does besides yielding: meter every part, then check the output. */
interface ChoiceBookkeeping {
  check: OutputCheck;
  observe(part: StreamPart): void;
}

/**
 * Admits the first of `n` choices and returns an iterator over the parts of all `n` choices, one after another. Choice
 * `i` uses seed `seed + i` when a seed is given, so that `n` sampled choices differ while a seeded request stays
 * reproducible.
 *
 * The iterator frees every sequence it holds when it ends or is closed early, and then calls `onEnd` (which releases the
 * model). When this function throws, `onEnd` has been called.
 *
 * @throws what `backend.generate` throws for the first choice.
 */
async function startChoices(
  backend: ModelBackend,
  request: GenerateRequest,
  n: number,
  bookkeeping: ChoiceBookkeeping,
  onEnd: () => void,
): Promise<ChoiceParts & { readonly servedBy?: UpstreamServed; readonly arrivesWhole?: boolean }> {
  let first: GenerationStream;
  try {
    first = await backend.generate(request);
  } catch (error) {
    onEnd();
    throw error;
  }
  const generator = runChoices(backend, request, n, first, bookkeeping, onEnd);
  // A generator that never started skips its finally; closing it before the first step must still free the sequence and the model.
  let started = false;
  const guarded: ChoiceParts = {
    promptTokens: first.promptTokens,
    get promptCacheUsage() {
      return first.promptCacheUsage;
    },
    next: (...args) => {
      started = true;
      return generator.next(...args);
    },
    return: async (value) => {
      if (!started) {
        started = true;
        await first.close();
        onEnd();
      }
      return await generator.return(value);
    },
    throw: (error) => generator.throw(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  // The upstream that serves the first choice (upstream backends only), for the response's header and the ledger.
  return Object.assign(guarded, { servedBy: first.servedBy, arrivesWhole: first.arrivesWhole });
}

async function* runChoices(
  backend: ModelBackend,
  request: GenerateRequest,
  n: number,
  first: GenerationStream,
  { check, observe }: ChoiceBookkeeping,
  onEnd: () => void,
): AsyncGenerator<ChoicePart, void, undefined> {
  let current: GenerationStream | undefined = first;
  try {
    for (let index = 0; index < n; index++) {
      if (index > 0) {
        const seed = request.sampling.seed;
        current = await backend.generate({
          ...request,
          sampling: { ...request.sampling, seed: seed === undefined ? undefined : seed + index },
        });
      }
      let answer = "";
      for await (const part of current!) {
        // Metered before the check: tokens produced count even when their output breaks its schema.
        observe(part);
        // Checked once, here, after decoding: a part that breaks its schema is never handed to a dialect.
        if (part.type === "text-delta" && check.checksAnswer) answer += part.text;
        else if (part.type === "tool-call") check.toolCall(part.toolCall);
        // A cut answer ("length", "abort") is incomplete JSON by nature; only a finished one must match.
        else if (part.type === "finish" && part.finishReason === "stop") check.answer(answer);
        yield { index, ...part };
      }
      current = undefined;
    }
  } finally {
    await current?.close();
    onEnd();
  }
}

/** The collected result of one choice. */
export interface CollectedChoice {
  index: number;
  /** The answer. */
  text: string;
  /** The thought, `""` when the model did not think. */
  reasoning: string;
  /** Tool calls, in order. */
  toolCalls: ToolCall[];
  /** Log-probabilities of the answer tokens, when asked for. */
  logprobs: TokenLogprob[] | undefined;
  finishReason: FinishReason;
  /** The stop text that ended a `stop` finish, when one did (see the `finish` part). */
  stopSequence?: string;
  usage: Usage;
}

/**
 * The kind of engine that serves `backend` (`engine().kind`), read once per backend: its kind never changes, while
 * `engine()` gathers more than the kind on every call (an upstream pool's state of every upstream, their median
 * latencies sorted: about 0.1 ms a request, docs/gateway.md "Overhead").
 */
const engineKinds = new WeakMap<ModelBackend, EngineKind>();
function engineKindOf(backend: ModelBackend): EngineKind {
  let kind = engineKinds.get(backend);
  if (kind === undefined) {
    kind = backend.engine().kind;
    engineKinds.set(backend, kind);
  }
  return kind;
}

/** A fallback's reason, as `moestro_gateway_fallbacks_total` labels it: the error's code (only codes move a request). */
function codeOf(error: unknown): string {
  return error instanceof MoestroError ? error.code : "internal_error";
}
