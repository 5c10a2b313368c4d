import type { Logger } from "pino";
import { MoestroError, withUsageSoFar } from "../../errors/index.js";
import { withAttempts } from "../../gateway/fallbacks.js";
import type {
  AdmissionBound,
  BackendStats,
  EngineDetails,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  StreamPart,
  UpstreamServed,
  Usage,
} from "../../spec/index.js";
import { estimatePromptTokens, promptTokenBound, toUpstreamRequest } from "./openai-request.js";
import { UpstreamChunkParser, UpstreamStreamReader, type WireUpstreamChunk } from "./openai-stream.js";
import { asksWhole, type OpenedStream, openWhole } from "./upstream-whole.js";
import { LocalMember } from "./local-member.js";
import type { UpstreamGateway } from "./upstream-gateway.js";
import { type PoolMember, UpstreamTarget } from "./upstream-target.js";
import { type AttemptFailure, classifyFailure, rateLimitedError } from "./upstream-failure.js";

/** Options of {@link createUpstreamBackend}. */
export interface UpstreamBackendOptions {
  /** The upstreams and their pools. */
  gateway: UpstreamGateway;
  /** The pool's model id (as clients and the upstreams name it). */
  modelId: string;
  /**
   * The local model of the same id (`--model`, or a pulled one), loaded: a member of the pool beside the upstreams. It
   * gives the pool its facts (context window, thinking, tools), counts tokens and embeds. Defaults to none.
   */
  local?: ModelBackend;
  /** The local member's balancing weight (`pools.*.localWeight`). Defaults to 1. */
  localWeight?: number;
  /**
   * Whether the pool has fallbacks for when it cannot take a request (`pools.*.fallbacks`): then a request finding no
   * available member fails at once (to go to the fallback) instead of trying an ejected one as a last resort.
   * Defaults to false.
   */
  hasFallbacks?: boolean;
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * The backend of one model served by upstreams (a pool): each generation goes to the pool's next upstream
 * (`UpstreamGateway.next`: fewest outstanding requests per unit of weight), as an OpenAI request streamed with its
 * usage (`toUpstreamRequest`), and its chunks come back as stream parts (`UpstreamStreamReader`); a request whose
 * answer is collected whole (`request.whole`: the client did not ask for a stream) is sent without streaming (but to a
 * llama-server, `asksWhole`) and its one JSON answer read as the same parts (`askWhole`), `answerTimeoutMs` bounding it
 * instead of `timeoutMs`.
 *
 * Failover happens only before the first part reaches the serving layer, that is before any byte reaches the client:
 * `generate` resolves once the upstream sent its first part. Until then a refused connection, a timeout (`timeoutMs`
 * before the first event), a 5xx, a 429 (its `Retry-After` honoured: that upstream is left out meanwhile), a 404 (the
 * model left that upstream), a broken stream or an error event move the request to the next upstream, at most
 * `gateway.maxAttempts` upstreams in all. A 4xx (other than 404, 408 and 429) is the request's fault: it is answered as
 * the upstream said (its code kept where it is one of moestro's, such as `context_length_exceeded`), never retried.
 * After the first part, an upstream failure is thrown from the stream as `upstream_failed` (`upstream_timeout` when it
 * sent nothing for `timeoutMs`), which the dialects send as their error event: never a silent half answer.
 */
export function createUpstreamBackend(options: UpstreamBackendOptions): ModelBackend {
  const { gateway, modelId, logger } = options;
  const now = options.now ?? Date.now;
  const local = options.local === undefined ? undefined : new LocalMember(options.local, options.localWeight);
  const localMembers: PoolMember[] = local === undefined ? [] : [local];
  const upstreamInfo: ModelInfo = {
    id: modelId,
    path: "",
    architecture: "upstream",
    contextTokens: gateway.contextTokens(modelId),
    parallelSequences: 0,
    chatWrapperName: "upstream",
    hasChatTemplate: true,
    // The upstream's model decides; moestro passes the switch on and reads what comes back.
    canThink: true,
    thinksByDefault: false,
    canCallTools: true,
    embeddingDimensions: 0,
    vocabularySize: 0,
    createdAtSeconds: Math.floor(now() / 1000),
  };
  // With a local member, its facts; its window unless an upstream's is smaller (a request must fit every member).
  const info: ModelInfo =
    local === undefined
      ? upstreamInfo
      : {
          ...local.backend.info,
          contextTokens: Math.min(local.backend.info.contextTokens, gateway.contextTokens(modelId)),
        };
  const running = new Set<AbortController>();
  // The pool's local member's tokenizer: counts what an upstream that sends no usage read and generated.
  const tokenizer = local?.backend.countPromptTokens === undefined ? undefined : local.backend;
  /** The local tokenizer's tokens for a text with none (its begin-of-sequence marker, if any), counted once. */
  let textOverhead: Promise<number> | undefined;

  /** A text's tokens by the local member's tokenizer (the text as a raw prompt, less its begin-of-sequence marker). */
  async function countText(text: string): Promise<number> {
    if (text.length === 0) return 0;
    const count = (prompt: string) => tokenizer!.countPromptTokens!({ input: { kind: "completion", prompt }, sampling: {}, stop: [] });
    // A tokenizer that refuses an empty prompt (no begin-of-sequence marker) adds nothing to a text.
    textOverhead ??= count("").catch(() => 0);
    return Math.max(0, (await count(text)) - (await textOverhead));
  }

  /**
   * The usage a stream ends with: the upstream's when it sent one; else, where the pool has a local member, the prompt
   * and the generated text counted with its tokenizer (exact for the same model, docs/gateway.md); else the reader's
   * estimate, marked `estimated`.
   */
  async function finalUsage(reader: UpstreamStreamReader, request: GenerateRequest): Promise<Usage> {
    const estimate = reader.usage();
    if (reader.hasUsage || tokenizer === undefined) return estimate;
    try {
      const { reasoning, answer } = reader.generatedText;
      const [promptTokens, reasoningTokens, answerTokens] = await Promise.all([
        tokenizer.countPromptTokens!({ ...request, signal: undefined }),
        countText(reasoning),
        countText(answer),
      ]);
      return { promptTokens, completionTokens: reasoningTokens + answerTokens, reasoningTokens };
    } catch (error) {
      logger.warn(
        { model: modelId, err: (error as Error).message },
        "counting an upstream's answer with the local tokenizer failed: estimated",
      );
      return estimate;
    }
  }
  let generatedTokensTotal = 0;
  let warnedNoUsage = false;

  /**
   * Runs `run` on the pool's members in order until one succeeds, as the failover rules say; the local member only
   * when `members` is `all`.
   */
  async function withFailover<T>(
    signal: AbortSignal | undefined,
    run: (target: PoolMember, attempt: number) => Promise<T>,
    members: "all" | "upstreams" = "upstreams",
    session?: string,
  ): Promise<T> {
    const tried = new Set<PoolMember>();
    let lastFailure: AttemptFailure | undefined;
    for (let attempt = 1; attempt <= gateway.rules.maxAttempts; attempt++) {
      const target = gateway.next(modelId, tried, members === "all" ? localMembers : [], session);
      if (target === undefined) break;
      // Every upstream left is waiting out a 429: trying one more would only get another.
      if (!target.isAvailable() && target.isRateLimited()) {
        lastFailure = { error: rateLimitedError(modelId, target, now()), retry: false };
        break;
      }
      // No member left is available: a generation in a pool with fallbacks goes to them at once rather than try an
      // ejected member (embeddings and token counts have no fallbacks: they keep the last resort).
      if (!target.isAvailable() && options.hasFallbacks === true && members === "all") {
        lastFailure ??= {
          error: new MoestroError("upstream_failed", `No member of the model '${modelId}' pool is available now (all ejected).`, {
            retryAfterSeconds: 1,
          }),
          retry: false,
        };
        break;
      }
      tried.add(target);
      try {
        const result = await run(target, attempt);
        gateway.rememberSession(modelId, session, target);
        return result;
      } catch (error) {
        signal?.throwIfAborted();
        // The local model's own refusals (its queue full: server_busy) move the request on; its 4xx do not.
        if (!(target instanceof UpstreamTarget)) {
          if (!(error instanceof MoestroError && error.retryable && error.status >= 500)) throw withAttempts(error, attempt);
          lastFailure = { error, retry: true };
          continue;
        }
        const failure = classifyFailure(error, target, modelId);
        logger.warn(
          { model: modelId, upstream: target.name, attempt, err: failure.error.message, detail: failure.detail, retry: failure.retry },
          "upstream attempt failed",
        );
        if (!failure.retry) throw withAttempts(failure.error, attempt);
        lastFailure = failure;
      }
    }
    // The attempts made travel with the error: a fallback's ledger row counts them (docs/gateway.md, "Fallbacks").
    if (lastFailure !== undefined) throw withAttempts(lastFailure.error, tried.size);
    throw withAttempts(new MoestroError("upstream_failed", `No upstream serves the model '${modelId}' now.`, { retryAfterSeconds: 1 }), 0);
  }

  /** Opens an upstream's stream and reads it until its first part (or its end). */
  async function open(target: UpstreamTarget, request: GenerateRequest): Promise<OpenedStream> {
    const { path, body } = toUpstreamRequest(request, { model: modelId, kind: target.kind, stream: true });
    request.signal?.throwIfAborted();
    const cancel = new AbortController();
    let timedOut = false;
    const onAbort = (): void => cancel.abort(request.signal?.reason);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const endAttempt = target.begin();
    const end = (): void => {
      endAttempt();
      request.signal?.removeEventListener("abort", onAbort);
    };
    const startedAt = performance.now();
    const timer = setTimeout(() => {
      timedOut = true;
      cancel.abort(Object.assign(new Error(`no answer within ${target.timeoutMs} ms`), { name: "TimeoutError" }));
    }, target.timeoutMs);
    // The chunks of each socket read come together (`streamJsonBatches`): one step of the iterator per read.
    // Each chunk parsed by the stream's own parser: a text delta costs the parse of its text only (UpstreamChunkParser).
    const parser = new UpstreamChunkParser();
    const iterator = target.client.streamJsonBatches<WireUpstreamChunk>(path, body, {
      parse: (data) => parser.parse(data),
      signal: cancel.signal,
      headers: request.requestId === undefined ? undefined : { "x-request-id": request.requestId },
    });
    const reader = new UpstreamStreamReader({
      upstream: target.name,
      estimatedPromptTokens: estimatePromptTokens(request),
      keepText: tokenizer !== undefined,
    });
    const pending: StreamPart[] = [];
    let rest: WireUpstreamChunk[] = [];
    let done = false;
    try {
      while (pending.length === 0) {
        if (rest.length === 0) {
          const next = await iterator.next();
          // The timeout covers the wait for each read: the first (a long prefill included), then every gap between two.
          timer.refresh();
          if (next.done) {
            pending.push(...reader.end());
            done = true;
            break;
          }
          rest = next.value;
          continue;
        }
        // Chunk by chunk, up to the first that has parts: the rest of the read is the stream's (`rest`), read after them.
        pending.push(...reader.read(rest[0]!));
        rest = rest.slice(1);
      }
    } catch (error) {
      clearTimeout(timer);
      end();
      await iterator.return(undefined).catch(() => undefined);
      if (timedOut && !request.signal?.aborted)
        throw new MoestroError(
          "upstream_timeout",
          `The upstream '${target.name}' sent nothing within ${target.timeoutMs} ms (timeoutMs).`,
          { retryAfterSeconds: 1, cause: error },
        );
      throw error;
    }
    target.recordLatency(performance.now() - startedAt);
    if (done) {
      clearTimeout(timer);
      target.recordSuccess();
    }
    return { target, iterator, reader, pending, rest, done, end, cancel, timedOut: () => timedOut, timer };
  }

  /** The rest of an opened stream as stream parts; ends the upstream request however it ends. */
  async function* parts(opened: OpenedStream, request: GenerateRequest): AsyncGenerator<StreamPart, void, undefined> {
    const { target, iterator, reader } = opened;
    running.add(opened.cancel);
    try {
      for (const pendingPart of opened.pending) {
        const part = pendingPart.type === "finish" ? { ...pendingPart, usage: await finalUsage(reader, request) } : pendingPart;
        if (part.type === "finish") generatedTokensTotal += part.usage.completionTokens;
        yield part;
      }
      if (opened.done) return;
      // The chunks of the read under way (those left from opening first), read one at a time.
      let chunks = opened.rest;
      let position = 0;
      for (;;) {
        let ended = false;
        let chunkParts: StreamPart[];
        try {
          while (position === chunks.length) {
            const next = await iterator.next();
            opened.timer?.refresh();
            if (next.done) {
              ended = true;
              break;
            }
            chunks = next.value;
            position = 0;
          }
          chunkParts = ended ? reader.end() : reader.read(chunks[position++]!);
        } catch (error) {
          if (request.signal?.aborted) {
            yield { type: "finish", finishReason: "abort", usage: await finalUsage(reader, request) };
            return;
          }
          target.recordFailure("the stream broke off");
          // What the upstream produced before it broke off is billed as a disconnect's would be: its chunks counted
          // (or its text, with a local member's tokenizer), the prompt estimated (docs/gateway.md).
          const usage = await finalUsage(reader, request);
          if (opened.timedOut())
            throw withUsageSoFar(
              new MoestroError(
                "upstream_timeout",
                `The upstream '${target.name}' sent nothing for ${target.timeoutMs} ms (timeoutMs) during the stream.`,
                { retryAfterSeconds: 1, cause: error },
              ),
              usage,
            );
          if (error instanceof MoestroError) throw withUsageSoFar(error, usage);
          throw withUsageSoFar(
            new MoestroError("upstream_failed", `The upstream '${target.name}' failed during the stream: ${(error as Error).message}`, {
              retryAfterSeconds: 1,
              cause: error,
            }),
            usage,
          );
        }
        for (const chunkPart of chunkParts) {
          const part = chunkPart.type === "finish" ? { ...chunkPart, usage: await finalUsage(reader, request) } : chunkPart;
          if (part.type === "finish") {
            target.recordSuccess();
            generatedTokensTotal += part.usage.completionTokens;
            if (!reader.hasUsage && !warnedNoUsage) {
              warnedNoUsage = true;
              logger.warn(
                { model: modelId, upstream: target.name },
                tokenizer === undefined
                  ? "the upstream sent no usage (stream_options.include_usage): the ledger counts its chunks and estimates the prompt, marked estimated"
                  : "the upstream sent no usage (stream_options.include_usage): the ledger counts its text with the local model's tokenizer",
              );
            }
          }
          yield part;
        }
        if (ended) return;
      }
    } finally {
      clearTimeout(opened.timer);
      running.delete(opened.cancel);
      opened.end();
      await iterator.return(undefined).catch(() => undefined);
    }
  }

  const backend: ModelBackend = {
    info,
    engine(): EngineDetails {
      const upstreams = gateway.info(modelId);
      const count = `${upstreams.length} upstream${upstreams.length === 1 ? "" : "s"}`;
      if (local === undefined) return { kind: "upstream", placement: { description: count, gpuLayers: 0, cpuMoeLayers: 0 }, upstreams };
      // The local member's placement, with the upstreams beside it.
      const { placement } = local.backend.engine();
      return {
        kind: "upstream",
        placement: { ...placement, description: `local: ${placement.description}; and ${count}` },
        upstreams: [local.info(), ...upstreams],
      };
    },
    async generate(request: GenerateRequest): Promise<GenerationStream> {
      return await withFailover(
        request.signal,
        async (member, attempt) =>
          member instanceof LocalMember
            ? await member.generate(request, attempt)
            : upstreamStream(
                await (asksWhole(member as UpstreamTarget, request)
                  ? openWhole(member as UpstreamTarget, request, { model: modelId, keepText: tokenizer !== undefined })
                  : open(member as UpstreamTarget, request)),
                request,
                {
                  upstream: member.name,
                  attempts: attempt,
                },
              ),
        "all",
        request.session,
      );
    },
    async admissionBound(request: GenerateRequest): Promise<AdmissionBound> {
      // The window the pool knows now (its upstreams' model lists may have been read since the backend was made).
      const contextTokens =
        local === undefined ? gateway.contextTokens(modelId) : Math.min(local.backend.info.contextTokens, gateway.contextTokens(modelId));
      // The local member's tokenizer counts exactly, in this process, for free; never the upstream (that would send it).
      if (local?.backend.countPromptTokens !== undefined) {
        try {
          return { promptTokens: await local.backend.countPromptTokens(request), exact: true, contextTokens };
        } catch {
          // A prompt the local model refuses (too long for its window) may still go to an upstream: bound it.
        }
      }
      return { promptTokens: promptTokenBound(request), exact: false, contextTokens };
    },
    async countPromptTokens(request: GenerateRequest): Promise<number> {
      // The local model counts exactly and for free; else the upstream counts.
      if (local?.backend.countPromptTokens !== undefined) return await local.backend.countPromptTokens(request);
      return await countOnUpstream(request);
    },
    stats(): BackendStats {
      const localStats = local?.backend.stats();
      return {
        sequencesInUse: running.size + (localStats?.sequencesInUse ?? 0),
        queuedRequests: localStats?.queuedRequests ?? 0,
        activeGenerations: running.size + (localStats?.activeGenerations ?? 0),
        generatedTokensTotal: generatedTokensTotal + (localStats?.generatedTokensTotal ?? 0),
      };
    },
    async embed(inputs, embedOptions = {}) {
      if (local !== undefined) return await local.backend.embed(inputs, embedOptions);
      return await embedOnUpstream(inputs, embedOptions);
    },
    async dispose() {
      for (const cancel of running) cancel.abort(new Error("the model was unloaded"));
      await local?.backend.dispose();
    },
  };
  if (local?.backend.scrapeMetrics !== undefined) backend.scrapeMetrics = () => local.backend.scrapeMetrics!();
  return backend;

  /** An opened upstream stream as a generation stream. */
  function upstreamStream(opened: OpenedStream, request: GenerateRequest, served: UpstreamServed): GenerationStream {
    let iterated = false;
    let generator: AsyncGenerator<StreamPart, void, undefined> | undefined;
    return {
      promptTokens: promptTokenBound(request),
      servedBy: served,
      arrivesWhole: opened.whole === true,
      [Symbol.asyncIterator]() {
        if (iterated) throw new Error("a generation stream is iterated once");
        iterated = true;
        generator = parts(opened, request);
        return generator;
      },
      async close() {
        clearTimeout(opened.timer);
        opened.cancel.abort(new Error("closed"));
        if (generator !== undefined) await generator.return(undefined);
        else {
          opened.end();
          await opened.iterator.return(undefined).catch(() => undefined);
        }
      },
    };
  }

  /** The prompt's tokens as an upstream counts them: one non-streamed token, whose usage gives the templated prompt's. */
  async function countOnUpstream(request: GenerateRequest): Promise<number> {
    return await withFailover(request.signal, async (member) => {
      const target = member as UpstreamTarget;
      const { path, body } = toUpstreamRequest({ ...request, maxTokens: 1 }, { model: modelId, kind: target.kind });
      delete body.stream;
      delete body.stream_options;
      const end = target.begin();
      const startedAt = performance.now();
      try {
        const answer = await target.client.postJson<{ usage?: { prompt_tokens?: number } }>(path, body, {
          signal: request.signal,
          timeoutMs: target.timeoutMs,
        });
        target.recordLatency(performance.now() - startedAt);
        target.recordSuccess();
        return answer.usage?.prompt_tokens ?? estimatePromptTokens(request);
      } finally {
        end();
      }
    });
  }

  /** Embeddings from an upstream's `/v1/embeddings`. */
  async function embedOnUpstream(
    inputs: ReadonlyArray<string | readonly number[]>,
    embedOptions: { signal?: AbortSignal },
  ): Promise<{ embeddings: Float32Array[]; promptTokens: number }> {
    return await withFailover(embedOptions.signal, async (member) => {
      const target = member as UpstreamTarget;
      const end = target.begin();
      const startedAt = performance.now();
      try {
        const answer = await target.client.postJson<{
          data?: Array<{ index?: number; embedding?: number[] }>;
          usage?: { prompt_tokens?: number };
        }>(
          "/v1/embeddings",
          { model: modelId, input: inputs.map((input) => (typeof input === "string" ? input : [...input])), encoding_format: "float" },
          { signal: embedOptions.signal, timeoutMs: target.timeoutMs },
        );
        target.recordLatency(performance.now() - startedAt);
        target.recordSuccess();
        const data = [...(answer.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
        if (data.length !== inputs.length || data.some((item) => !Array.isArray(item.embedding)))
          throw new MoestroError(
            "upstream_failed",
            `The upstream '${target.name}' answered ${data.length} embeddings for ${inputs.length} inputs.`,
          );
        return { embeddings: data.map((item) => Float32Array.from(item.embedding!)), promptTokens: answer.usage?.prompt_tokens ?? 0 };
      } finally {
        end();
      }
    });
  }
}
