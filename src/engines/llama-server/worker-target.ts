import type { Token } from "node-llama-cpp";
import type { Logger } from "pino";
import { MoestroError } from "../../errors/index.js";
import type { SamplingOptions, TokenLogprob } from "../../spec/index.js";
import type { EngineTimeClock } from "../engine-time.js";
import type { ActiveGrammar, GenerationTarget } from "../inproc/generation-loop.js";
import { defaultTopK } from "../inproc/sampling-options.js";
import type { GeneratedToken } from "../inproc/token-source.js";
import { type AcceptanceWatch, StreamDraftCounts } from "./worker-speculation.js";
import { UpstreamHttpError } from "../http/upstream-client.js";
import type { TokenRecovery } from "./token-recovery.js";
import type { WorkerHold } from "./worker-process.js";

/** One slot of a worker (llama-server's `id_slot`), with the tokens its KV cache holds as far as moestro knows. */
export interface WorkerSlot {
  /** llama-server's slot index, 0 to `-np` − 1. */
  readonly id: number;
  /** The tokens last sent to or generated on this slot (the prompt cache's content); emptied when the worker restarts. */
  tokens: Token[];
}

/** What the slots of one worker share. */
export interface WorkerTargetShared {
  /**
   * Holds the worker's running process for one stream (`LlamaServerWorker.hold`; its client changes when the worker
   * restarts); throws when the worker is restarting. Called right after {@link ready}, in the same tick.
   */
  hold(): WorkerHold;
  /** Waits until the worker can take requests. */
  ready(): Promise<void>;
  /** A token's raw bytes (logprobs), and the ids of tokens llama-server withheld (see {@link TokenRecovery}). */
  tokenBytes: (token: Token) => number[];
  recovery: TokenRecovery;
  /** The model's detokenizer, for logprob texts. */
  detokenize: (tokens: Token[]) => string;
  /** Context window per slot, tokens. */
  contextTokens: number;
  modelId: string;
  logger: Logger;
  /**
   * Counts the worker's streams under way (weight 1 each), to share a stream's decode time among the slots that
   * decoded beside it (`engineTimeMs`); without it, each stream is charged its whole time.
   */
  clock?: EngineTimeClock;
  /**
   * Whether the worker decodes speculatively now (models[].speculative; server-wide; false once it backed off): each
   * generation with a stream started while it did reports the tokens drafted and accepted from llama-server's
   * `timings.draft_n` and `draft_n_accepted`. Read at each stream's start. Defaults to false.
   */
  speculates?: boolean;
  /**
   * Told the tokens drafted and accepted as each stream reports them (step by step), when the worker speculates: backs
   * it off when speculation slows it down.
   */
  acceptanceWatch?: AcceptanceWatch;
}

/**
 * The start of the error llama-server sends in place of a stream's last event when its own parse of the output with the
 * chat format it detected fails (`common/chat.cpp`, `common_chat_peg_parse`), which happens on random-weight models'
 * output; moestro does not use that parse.
 */
const outputFormatError = "The model produced output that does not match the expected";

/** The logprob reported for a token whose probability is 0 (OpenAI reports -9999.0 for such tokens). */
const minimumLogprob = -9999;

/** One streamed chunk of llama-server's `POST /completion` (tools/server/README.md; the fields moestro reads). */
interface CompletionChunk {
  content?: string;
  tokens?: number[];
  stop?: boolean;
  /** Why the task ended (final chunk): `eos`, `limit` (n_predict or the context), `word` (a stop string), `none`. */
  stop_type?: string;
  tokens_predicted?: number;
  /**
   * The task's timings: `cache_n` prompt tokens reused; `prompt_ms` and `predicted_ms`, the slot's prefill and decode
   * time; with speculative decoding, `draft_n` tokens drafted and `draft_n_accepted` of them accepted so far (absent
   * until a token was drafted; `server_slot_stats::to_json` in tools/server/server-common.cpp).
   */
  timings?: { cache_n?: number; prompt_ms?: number; predicted_ms?: number; draft_n?: number; draft_n_accepted?: number };
  /** An error in place of the last event (`{"error": {"code", "message", "type"}}`). */
  error?: { code?: number; message?: string; type?: string };
  completion_probabilities?: Array<{
    id: number;
    logprob: number;
    bytes?: number[];
    top_logprobs?: Array<{ id: number; logprob: number; bytes?: number[] }>;
  }>;
}

/**
 * A generation on one slot of a llama-server worker: moestro renders the prompt and parses the output as in-process
 * (the same output parser, injections and grammars), and the worker evaluates and samples, driven through its native
 * completion endpoint with token ids (`POST /completion` with `prompt` as ids, `cache_prompt`, `id_slot`, `grammar`,
 * `logit_bias`, `n_probs`, streamed).
 *
 * Each call of the token source sends the slot's whole history (prompt, tokens generated, tokens injected) and
 * llama-server reuses the longest prefix its slot holds (`cache_prompt`), so an injection or a change of grammar (the
 * thought ends and a JSON answer starts; a tool call opens) costs one new request and the evaluation of the new tokens
 * only. The grammar of each request is the GBNF text of the grammar active at its start; when the parser moves to
 * another grammar mid-stream, the stream is cut and a new one starts with it.
 */
export function workerTarget(slot: WorkerSlot, shared: WorkerTargetShared): GenerationTarget {
  let reportedCached: number | undefined;
  /** The engine time charged to the generation so far, ms (see `engineTimeMs`); `undefined` until a stream reported timings. */
  let engineMs: number | undefined;
  /** Tokens drafted and accepted over the generation's streams, when the worker speculates. */
  const draftCounts = { draftTokens: 0, acceptedDraftTokens: 0 };
  /** Whether a stream of this generation started while the worker speculated (its counts are then reported). */
  let speculated = false;
  return {
    async reusePrefix() {
      // The whole history goes with every request; llama-server finds the prefix it holds and says how much it reused.
      return 0;
    },
    reportedCachedPromptTokens: () => reportedCached,
    /**
     * The engine time of the generation's streams, from llama-server's own timings: each stream's `prompt_ms` whole,
     * plus its `predicted_ms` times the mean of 1 / (streams running on the worker) over the stream's life, since
     * llama-server decodes its busy slots in one batch and reports each slot the batch's whole time. An approximation
     * (docs/studio.md, "Cost of local tokens"): a prompt evaluated beside other slots' decodes is charged whole, the
     * concurrency is that of moestro's streams, not of llama-server's batches, and a stream cut before it reported
     * timings is charged its wall time shared the same way.
     */
    engineTimeMs: () => engineMs,
    /**
     * The tokens llama-server drafted and accepted for this generation, summed over its streams (each a task of its own,
     * whose `timings` count from 0); `undefined` when no stream of it ran on a speculating worker (the worker does not
     * speculate, or it backed off before). Each stream of a speculating worker asks for timings with every token, so
     * that a stream moestro cuts (a stop sequence, a change of grammar) counts too.
     */
    draftCounts: () => (speculated || shared.speculates === true ? { ...draftCounts } : undefined),
    createTokenSource({ request, prepared, grammar }) {
      const history: Token[] = [];
      let promptLength: number | undefined;
      let pendingLast: Token | undefined;
      let heldAtLimit: number | undefined;
      const sampling = samplingFields(request.sampling);
      const logitBias = prepared.logitBias ?? [];
      const nProbs = request.logprobs === undefined ? 0 : Math.max(1, request.logprobs.top);
      const toLogprob = (
        token: Token,
        entry: NonNullable<CompletionChunk["completion_probabilities"]>[number] | undefined,
      ): TokenLogprob => {
        const top = (entry?.top_logprobs ?? []).slice(0, request.logprobs?.top ?? 0).map((candidate) => ({
          token: shared.detokenize([candidate.id as Token]),
          logprob: Math.max(candidate.logprob, minimumLogprob),
          bytes: shared.tokenBytes(candidate.id as Token),
        }));
        return {
          token: shared.detokenize([token]),
          logprob: entry && Number.isFinite(entry.logprob) ? Math.max(entry.logprob, minimumLogprob) : minimumLogprob,
          bytes: shared.tokenBytes(token),
          top,
        };
      };
      return {
        takesInjections: true,
        heldAtLimit: () => heldAtLimit,
        async *tokens(input) {
          // The last token yielded before an injection comes back first in `input`: it is not in `history` yet.
          pendingLast = undefined;
          history.push(...input);
          promptLength ??= history.length;
          const maxNew = request.maxTokens ?? shared.contextTokens - promptLength;
          for (;;) {
            await shared.ready();
            // In the same tick as `ready`: a planned restart decided later waits for this stream.
            const hold = shared.hold();
            const speculates = shared.speculates === true;
            speculated ||= speculates;
            const active: ActiveGrammar | undefined = grammar();
            const body = {
              prompt: history,
              stream: true,
              cache_prompt: true,
              id_slot: slot.id,
              // Exactly what is left: the worker then ends the task itself with the last token and frees its slot at
              // once (one more, cut by closing the connection, held the slot a token longer: +2 ms TTFT for the next
              // request at concurrency 1, docs/bench.md). The loop stops at the same token and says "length".
              n_predict: Math.max(1, maxNew - (history.length - promptLength)),
              ...sampling,
              ...(active ? { grammar: active.grammar.grammar } : {}),
              ...(logitBias.length > 0 ? { logit_bias: logitBias } : {}),
              ...(nProbs > 0 ? { n_probs: nProbs } : {}),
              timings_per_token: reportedCached === undefined || speculates,
            };
            slot.tokens = history.slice();
            let received = 0;
            let changedGrammar = false;
            /** The stream was cut by a planned restart (a back-off): the generation goes on on the new process. */
            let cutByRestart = false;
            let timings: CompletionChunk["timings"];
            const streamDrafts = new StreamDraftCounts();
            const mark = shared.clock?.begin(1);
            const streamStartedAt = performance.now();
            try {
              for await (const chunk of hold.client.streamJson<CompletionChunk>("/completion", body, { signal: request.signal })) {
                if (reportedCached === undefined && chunk.timings?.cache_n !== undefined) reportedCached = chunk.timings.cache_n;
                if (chunk.timings !== undefined) timings = chunk.timings;
                // Judged as the stream goes, not when it ends: a long generation with a bad draft backs off within
                // its first window. A back-off here restarts the worker; this stream drains or is cut (`hold.isCut`).
                const drafts = streamDrafts.advance(chunk.timings);
                if (drafts !== undefined && speculates) shared.acceptanceWatch?.record(drafts.draftTokens, drafts.acceptedDraftTokens);
                if (chunk.error !== undefined) {
                  // llama-server parses every finished output with the chat format it detected, and when that fails it
                  // sends this error in place of its last event: every token was streamed before it, and moestro parses
                  // the output itself, so the task ended well. Any other error ends the request with it.
                  if (chunk.error.message?.startsWith(outputFormatError) === true) return;
                  throw workerError(
                    shared.modelId,
                    new Error(`it answered an error mid-stream: ${chunk.error.message ?? JSON.stringify(chunk.error)}`),
                  );
                }
                const tokens = (chunk.tokens ?? []) as Token[];
                if (tokens.length === 0) {
                  if (chunk.stop) {
                    // The worker's token limit (n_predict, or its context) with tokens it never sent: see `heldAtLimit`.
                    if (chunk.stop_type === "limit") heldAtLimit = Math.max(0, (chunk.tokens_predicted ?? received) - received);
                    return;
                  }
                  continue;
                }
                // llama-server holds back a token that ends inside a UTF-8 character and sends only the next one; the
                // count of tokens it sampled says how many were held back, and their bytes are in `content`.
                const withheld = (chunk.tokens_predicted ?? received + tokens.length) - received - tokens.length;
                const recovered = withheld > 0 ? shared.recovery.recover(chunk.content ?? "", tokens, withheld) : [];
                if (withheld > 0 && recovered.length !== withheld) {
                  shared.logger.debug(
                    { model: shared.modelId, withheld, recovered: recovered.length },
                    "tokens held back by llama-server not recovered",
                  );
                }
                received += withheld + tokens.length;
                const all = [...recovered, ...tokens];
                for (const [index, token] of all.entries()) {
                  if (pendingLast !== undefined) history.push(pendingLast);
                  pendingLast = token;
                  const isLast = index === all.length - 1;
                  const generated: GeneratedToken =
                    nProbs > 0 ? { token, logprob: toLogprob(token, isLast ? chunk.completion_probabilities?.[0] : undefined) } : { token };
                  yield generated;
                  slot.tokens.push(token);
                  if (grammar() !== active) {
                    changedGrammar = true;
                    break;
                  }
                }
                if (changedGrammar) break;
                if (chunk.stop) return;
              }
            } catch (error) {
              // The client went away: end quietly, and the generation loop reports `abort` with what was generated.
              if (request.signal?.aborted) return;
              if (!hold.isCut()) throw workerError(shared.modelId, error);
              cutByRestart = true;
            } finally {
              hold.release();
              draftCounts.draftTokens += streamDrafts.draftTokens;
              draftCounts.acceptedDraftTokens += streamDrafts.acceptedDraftTokens;
              const shareMs = mark === undefined ? undefined : shared.clock!.end(mark, 1);
              const wallMs = performance.now() - streamStartedAt;
              const decodeShare = shareMs === undefined || wallMs <= 0 ? 1 : Math.min(1, shareMs / wallMs);
              // A stream cut before its last event (a stop sequence moestro found, a change of grammar) has no timings
              // when only the first stream asks for them per token: its wall time stands in, shared the same way.
              engineMs =
                (engineMs ?? 0) +
                (timings?.prompt_ms !== undefined || timings?.predicted_ms !== undefined
                  ? (timings.prompt_ms ?? 0) + (timings.predicted_ms ?? 0) * decodeShare
                  : wallMs * decodeShare);
            }
            if (!changedGrammar && !cutByRestart) {
              if (request.signal?.aborted) return;
              // llama-server ends every task with a `stop` event: a stream without one was cut (the process died), unless
              // a planned restart stopped it on purpose.
              if (!hold.isCut()) throw workerError(shared.modelId, new Error("its stream ended before the task's last event"));
            }
            // The parser moved to another grammar, or a planned restart cut the stream: go on from here (the new process
            // gets the whole history, as after a change of grammar).
            if (pendingLast !== undefined) history.push(pendingLast);
            pendingLast = undefined;
          }
        },
      };
    },
  };
}

/**
 * The sampling fields of a `/completion` request: every sampler set, so that llama-server's own defaults (temperature
 * 0.8, top-p 0.95, min-p 0.05) never apply and both engines sample alike: OpenAI's defaults (temperature 1, top-p 1),
 * top-k 40 as the in-process engine, penalties over the last 64 tokens as `toEvaluateOptions`, and llama.cpp's other
 * samplers off (typical-p 1, XTC 0, DRY 0, top-n-sigma −1, Mirostat 0).
 */
export function samplingFields(sampling: SamplingOptions): Record<string, number> {
  const fields: Record<string, number> = {
    temperature: sampling.temperature ?? 1,
    top_p: sampling.topP ?? 1,
    top_k: sampling.topK ?? defaultTopK,
    min_p: sampling.minP ?? 0,
    presence_penalty: sampling.presencePenalty ?? 0,
    frequency_penalty: sampling.frequencyPenalty ?? 0,
    repeat_penalty: 1,
    repeat_last_n: 64,
    typical_p: 1,
    xtc_probability: 0,
    dry_multiplier: 0,
    top_n_sigma: -1,
    mirostat: 0,
  };
  if (sampling.seed !== undefined) fields.seed = sampling.seed;
  return fields;
}

/** The error a request gets when its worker fails under it: 502 `worker_failed`, retryable. */
function workerError(modelId: string, error: unknown): MoestroError {
  if (error instanceof MoestroError) return error;
  const reason =
    error instanceof UpstreamHttpError
      ? `answered ${error.status}: ${error.body.slice(0, 300)}`
      : `failed: ${error instanceof Error ? error.message : String(error)} (the process may have died; it is restarted)`;
  return new MoestroError("worker_failed", `The llama-server worker of model '${modelId}' ${reason}. Retry the request.`, {
    retryAfterSeconds: 2,
    cause: error,
  });
}
