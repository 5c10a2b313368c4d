import type { Context } from "hono";
import type {
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelLease,
  StreamPart,
  TokenLogprob,
  ToolCall,
  Usage,
} from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { type RequestAbortController, requestSignal } from "./request-abort.js";

/**
 * Holds the model a request names for as long as the request runs, loading it first when needed (a request for a model
 * that is loading waits for it). The caller must `release` the lease when the response is done.
 *
 * @throws {MoestroError} `model_not_found` (404) when no model has that id or alias; `insufficient_memory` (503);
 *   the reason a load failed.
 */
export async function acquireModel(deps: AppDeps, id: string, options: { signal: AbortSignal; keepAliveMs?: number }): Promise<ModelLease> {
  return await deps.models.acquire(id, options);
}

/** A generation admitted for a request: its model, its parts, and its abort controller. */
export interface StartedGeneration {
  backend: ModelBackend;
  parts: AsyncGenerator<ChoicePart, void, undefined>;
  abort: RequestAbortController;
}

/**
 * Holds the model (loading it if needed) and admits the first of `n` choices. From here on the model lease and the
 * abort controller are released exactly once: when the parts end or are closed, or at once when this throws.
 *
 * @throws {MoestroError} `model_not_found`, `insufficient_memory`, `context_length_exceeded`, `server_busy` (what
 *   acquiring the model and admitting the generation throw).
 */
export async function startGeneration(
  c: Context<AppEnv>,
  deps: AppDeps,
  options: { model: string; keepAliveMs?: number; request: GenerateRequest; n: number },
): Promise<StartedGeneration> {
  const abort = requestSignal(c, deps);
  options.request.signal = abort.signal;
  const lease = await acquireModel(deps, options.model, { signal: abort.signal, keepAliveMs: options.keepAliveMs }).catch(
    (error: unknown) => {
      abort.detach();
      throw error;
    },
  );
  const parts = await startChoices(lease.backend, options.request, options.n, () => {
    lease.release();
    abort.detach();
  });
  return { backend: lease.backend, parts, abort };
}

/** One choice's part, tagged with the choice index. */
export type ChoicePart = StreamPart & { index: number };

/**
 * Admits the first of `n` choices (so that a bad request fails before any streamed byte) and returns an iterator over
 * the parts of all `n` choices, one after another. Choice `i` uses seed `seed + i` when a seed is given, so that `n`
 * sampled choices differ while a seeded request stays reproducible.
 *
 * The iterator frees every sequence it holds when it ends or is closed early, and then calls `onEnd` (which releases the
 * model). When this function throws, `onEnd` has been called.
 *
 * @throws what `backend.generate` throws for the first choice.
 */
export async function startChoices(
  backend: ModelBackend,
  request: GenerateRequest,
  n: number,
  onEnd: () => void,
): Promise<AsyncGenerator<ChoicePart, void, undefined>> {
  let first: GenerationStream;
  try {
    first = await backend.generate(request);
  } catch (error) {
    onEnd();
    throw error;
  }
  const generator = runChoices(backend, request, n, first, onEnd);
  // A generator that never started skips its finally; closing it before the first step must still free the sequence and the model.
  let started = false;
  const guarded: AsyncGenerator<ChoicePart, void, undefined> = {
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
  return guarded;
}

async function* runChoices(
  backend: ModelBackend,
  request: GenerateRequest,
  n: number,
  first: GenerationStream,
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
      for await (const part of current!) yield { index, ...part };
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
  usage: Usage;
}
