import { setTimeout as sleep } from "node:timers/promises";
import { MoestroError } from "../../src/errors/index.js";
import type {
  BackendStats,
  EngineDetails,
  FinishReason,
  GenerateRequest,
  GenerationStream,
  ModelBackend,
  ModelInfo,
  StreamPart,
} from "../../src/spec/index.js";
import { SlotPool } from "../../src/util/slot-pool.js";

/** A part a script yields: any stream part; a `finish` ends the output early with that reason and usage. */
export type FakePart = StreamPart;

/**
 * What a fake generation produces, one part per "token".
 * - a string: text split after each space (`"Hello big world"` → `"Hello "`, `"big "`, `"world"`);
 * - an array of parts;
 * - a function of the request (and of the choice's call number, 0-based over the backend's life) returning parts,
 *   synchronously or as an async iterable (an endless one for abort tests: the fake stops it when the signal aborts).
 */
export type FakeScript =
  | string
  | readonly FakePart[]
  | ((request: GenerateRequest, call: number) => Iterable<FakePart> | AsyncIterable<FakePart>);

/** Options of {@link createFakeBackend}. */
export interface FakeBackendOptions {
  /** The model id. Defaults to `fake`. */
  id?: string;
  /** The output of every generation. Defaults to `"Hello from the fake model."`. */
  script?: FakeScript;
  /** Context window, tokens; a prompt (plus `maxTokens`) beyond it is refused with `context_length_exceeded`. Defaults to 256. */
  contextTokens?: number;
  /** Sequences that generate at once. Defaults to 2. */
  parallelSequences?: number;
  /** Requests that may wait for a sequence; one more is refused with `server_busy`. Defaults to 4. */
  maxQueuedRequests?: number;
  /** Throw `Error("injected engine failure")` instead of the part after this many parts. Defaults to never. */
  failAfterParts?: number;
  /** Pause before each part, ms. Defaults to 0 (a macrotask turn only). */
  partDelayMs?: number;
  /** Called when a request is admitted, before a sequence is taken; what it throws reaches the client before any byte. */
  admit?: (request: GenerateRequest) => void | Promise<void>;
  /** Whether the model can think / call tools (only reported in `info`). Defaults to true. */
  canThink?: boolean;
  canCallTools?: boolean;
  /**
   * What `engine()` answers: fixed details, or a function read on each call (a worker whose pid changes). Defaults to
   * the in-process engine on the CPU (`{kind: "inproc", placement: {description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0}}`).
   */
  engine?: EngineDetails | (() => EngineDetails);
  /** The backend's `scrapeMetrics` (a worker's own Prometheus text). Defaults to none (the method is absent). */
  scrapeMetrics?: () => Promise<string | undefined>;
}

/** A fake {@link ModelBackend} plus what tests inspect. */
export interface FakeBackend extends ModelBackend {
  /** Every request passed to `generate`, in order (one per choice). */
  readonly requests: GenerateRequest[];
  /** Streams closed or run to their end (their sequence was freed). */
  readonly finishedStreams: number;
}

/** The fake's prompt length: words of the text (chat: of every message, plus 2 per message for the template). */
export function fakePromptTokens(request: GenerateRequest): number {
  const words = (text: string): number => text.split(/\s+/).filter((word) => word.length > 0).length;
  if (request.input.kind === "completion") return Math.max(1, words(request.input.prompt));
  return request.input.messages.reduce((total, message) => total + 2 + words(message.text), 0);
}

/** Text split into one `text-delta` per word (each word keeps the space after it). */
export function textParts(text: string): FakePart[] {
  return (text.match(/\S+\s*|\s+/g) ?? []).map((piece) => ({ type: "text-delta", text: piece }));
}

/** An endless script: `"tick "` parts until the generation is stopped. */
export function endlessScript(): AsyncIterable<FakePart> {
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) yield { type: "text-delta", text: "tick " };
    },
  };
}

/**
 * A model-free {@link ModelBackend} for tests of the HTTP layer: it admits requests as the real engine does (context
 * check, then a sequence from a bounded queue; `server_busy` when the queue is full), then replays a script, one part per
 * token, ending with exactly one `finish` whose usage counts the parts. A request's abort signal ends the stream with
 * `finish` reason `abort`; closing or leaving the iteration early frees the sequence.
 */
export function createFakeBackend(options: FakeBackendOptions = {}): FakeBackend {
  const parallelSequences = options.parallelSequences ?? 2;
  const pool = new SlotPool(
    Array.from({ length: parallelSequences }, (_, index) => index),
    { maxWaiting: options.maxQueuedRequests ?? 4 },
  );
  const info: ModelInfo = {
    id: options.id ?? "fake",
    path: `/models/${options.id ?? "fake"}.gguf`,
    architecture: "fake",
    contextTokens: options.contextTokens ?? 256,
    parallelSequences,
    chatWrapperName: "Fake",
    hasChatTemplate: true,
    canThink: options.canThink ?? true,
    thinksByDefault: false,
    canCallTools: options.canCallTools ?? true,
    embeddingDimensions: 4,
    vocabularySize: 1000,
    createdAtSeconds: 1_700_000_000,
  };
  const requests: GenerateRequest[] = [];
  let activeGenerations = 0;
  let generatedTokensTotal = 0;
  let finishedStreams = 0;
  let calls = 0;
  let disposed = false;

  const scriptFor = (request: GenerateRequest, call: number): Iterable<FakePart> | AsyncIterable<FakePart> => {
    const script = options.script ?? "Hello from the fake model.";
    if (typeof script === "string") return textParts(script);
    if (typeof script === "function") return script(request, call);
    return script;
  };

  async function* run(
    request: GenerateRequest,
    signal: AbortSignal | undefined,
    promptTokens: number,
    call: number,
  ): AsyncGenerator<StreamPart, void, undefined> {
    activeGenerations++;
    let completionTokens = 0;
    let reasoningTokens = 0;
    let toolCalls = 0;
    let finishReason: FinishReason | undefined;
    try {
      for await (const part of scriptFor(request, call)) {
        await (options.partDelayMs ? sleep(options.partDelayMs, undefined, { signal }).catch(() => undefined) : sleep(0));
        if (signal?.aborted) {
          finishReason = "abort";
          break;
        }
        if (part.type === "finish") {
          yield part;
          return;
        }
        if (options.failAfterParts !== undefined && completionTokens >= options.failAfterParts) throw new Error("injected engine failure");
        completionTokens++;
        generatedTokensTotal++;
        if (part.type === "reasoning-delta") reasoningTokens++;
        if (part.type === "tool-call") toolCalls++;
        yield part;
        if (request.maxTokens !== undefined && completionTokens >= request.maxTokens) {
          finishReason = "length";
          break;
        }
      }
      if (signal?.aborted) finishReason = "abort";
      yield {
        type: "finish",
        finishReason: finishReason ?? (toolCalls > 0 ? "tool_calls" : "stop"),
        usage: { promptTokens, completionTokens, cachedPromptTokens: 0, reasoningTokens },
      };
    } finally {
      activeGenerations--;
    }
  }

  return {
    info,
    engine: (): EngineDetails => {
      const engine = options.engine ?? { kind: "inproc", placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 } };
      return typeof engine === "function" ? engine() : engine;
    },
    ...(options.scrapeMetrics === undefined ? {} : { scrapeMetrics: options.scrapeMetrics }),
    requests,
    get finishedStreams() {
      return finishedStreams;
    },
    stats: (): BackendStats => ({
      sequencesInUse: pool.inUse,
      queuedRequests: pool.waiting,
      activeGenerations,
      generatedTokensTotal,
    }),
    async generate(request: GenerateRequest): Promise<GenerationStream> {
      if (disposed) throw new MoestroError("server_unavailable", "The model is being unloaded.", { retryAfterSeconds: 1 });
      const { signal } = request;
      requests.push(request);
      const call = calls++;
      await options.admit?.(request);
      const promptTokens = fakePromptTokens(request);
      const window = info.contextTokens;
      const param = request.input.kind === "chat" ? "messages" : "prompt";
      if (promptTokens + (request.maxTokens ?? 0) > window || promptTokens >= window) {
        throw new MoestroError(
          "context_length_exceeded",
          `This model's maximum context length is ${window} tokens. However, you requested ${promptTokens + (request.maxTokens ?? 0)} tokens.`,
          { param },
        );
      }
      const slot = await pool.acquire(signal);
      if (slot === undefined) {
        throw new MoestroError("server_busy", `The server is busy: model '${info.id}' has no free sequence. Retry later.`, {
          retryAfterSeconds: 1,
        });
      }
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        finishedStreams++;
        pool.release(slot);
      };
      const parts = (async function* (): AsyncGenerator<StreamPart, void, undefined> {
        try {
          yield* run(request, signal, promptTokens, call);
        } finally {
          release();
        }
      })();
      return {
        promptTokens,
        [Symbol.asyncIterator]: () => parts,
        close: async () => {
          await parts.return(undefined);
          release();
        },
      };
    },
    async embed(inputs) {
      return { embeddings: inputs.map(() => new Float32Array([1, 0, 0, 0])), promptTokens: inputs.length };
    },
    async dispose() {
      disposed = true;
    },
  };
}
