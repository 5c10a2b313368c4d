import { fork, type ChildProcess } from "node:child_process";
import type { LlamaModel, Token } from "node-llama-cpp";
import type { Logger } from "pino";
import { MoestroError } from "../../errors/index.js";
import { modelUnloadingError } from "./model-unloading-error.js";
import { minimumTokens, promptLength, tokenizePrompt, type PromptText } from "./tokenize-prompt.js";
import { longestTokenBytes } from "./token-count-bound.js";

/** Options of {@link PromptTokenizer}. */
export interface PromptTokenizerOptions {
  /** The loaded model: its vocabulary bounds token counts, and it tokenizes short prompts. */
  model: LlamaModel;
  /** Path of the model's GGUF file, which the tokenizer process loads vocabulary-only. */
  modelPath: string;
  /** The model's id, in logs. */
  modelId: string;
  logger: Logger;
  /**
   * The longest prompt tokenized on the server's event loop, and the longest slice the tokenizer process tokenizes in
   * one call, in UTF-16 code units. Measured worst case at 8,192: about 10 ms (docs/engine.md, "Long prompts").
   * Defaults to 8192.
   */
  inlineMaxChars?: number;
  /** Long prompts that may wait for the tokenizer process; one more is answered 503 `server_busy`. Defaults to 64. */
  maxQueuedPrompts?: number;
  /**
   * How long the tokenizer process may take to answer the cancel of the prompt it holds, ms, before it is killed and
   * replaced: it looks for a cancel between slices only, and not at all while it tokenizes a prompt whole. Defaults
   * to 250.
   */
  cancelGraceMs?: number;
  /**
   * The longest one prompt may hold the tokenizer process, ms, from when the process receives it: past it, the process
   * is killed and replaced, and the prompt is refused (400 `invalid_request`). Defaults to 30,000 (docs/engine.md,
   * "Long prompts").
   */
  maxTokenizeMs?: number;
  /** Test seam: the script run as the tokenizer process. Defaults to `tokenizer-process.js` beside this module. */
  processScript?: URL;
}

/**
 * What {@link PromptTokenizer.tokenize} found:
 * - `tokens`: the prompt's exact tokens (it may fit);
 * - `atLeastTokens`: a lower bound on its token count, above `maxTokens`: it cannot fit and was not tokenized whole.
 */
export type PromptTokenization = { tokens: Token[] } | { atLeastTokens: number };

/** Tokens a slice's count may exceed its share of the whole prompt's count by (cuts lose a merge or mark a space). */
const slackTokensPerSlice = 16;

interface Job {
  id: number;
  message: { type: "tokenize"; id: number; prompt: unknown; maxTokens: number };
  resolve(result: PromptTokenization): void;
  reject(error: unknown): void;
  /** Whether the request already has its answer (aborted): the process's reply is then dropped. */
  settled: boolean;
  detach(): void;
  /** The request field named in the deadline's error. */
  param: string | undefined;
  /** Kills the process when it holds the job too long (its deadline, or the grace after a cancel). */
  timer?: NodeJS.Timeout;
}

type ProcessReply =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "log"; level: string; message: string }
  | { type: "done"; id: number; tokens?: Uint32Array; atLeastTokens?: number; cancelled?: boolean; error?: string };

/**
 * Turns prompts into tokens without stalling the server (issue 14, item 6): a short prompt is tokenized at once, a long
 * one is first bounded by its length, and only then tokenized in a child process that holds a vocabulary-only copy of
 * the model. That process counts a long prompt's tokens slice by slice and stops as soon as the count proves that it
 * cannot fit, so that a prompt of any size up to the body limit is refused quickly even where llama.cpp's tokenizer is
 * quadratic (SentencePiece); a prompt that may fit is tokenized whole, with the same ids as here.
 *
 * The process starts with the tokenizer (when the model loads) and is restarted after a crash; long prompts wait in a
 * bounded FIFO queue, one in the process at a time. A prompt that holds the process past its deadline, or that was
 * cancelled and is not let go of promptly, gets the process killed; the prompts behind it go to a new one.
 */
export class PromptTokenizer {
  /** The most input bytes one token stands for (see `longestTokenBytes`); undefined when the vocabulary gives no bound. */
  readonly longestTokenBytes: number | undefined;
  /** The longest prompt tokenized at once, UTF-16 code units (see {@link PromptTokenizerOptions.inlineMaxChars}). */
  readonly inlineMaxChars: number;
  readonly #model: LlamaModel;
  readonly #options: PromptTokenizerOptions;
  readonly #maxQueued: number;
  readonly #cancelGraceMs: number;
  readonly #maxTokenizeMs: number;
  readonly #queue: Job[] = [];
  #running: Job | undefined;
  #process: ChildProcess | undefined;
  #ready = false;
  #nextId = 1;
  #disposed = false;

  constructor(options: PromptTokenizerOptions) {
    this.#model = options.model;
    this.#options = options;
    this.inlineMaxChars = options.inlineMaxChars ?? 8192;
    this.#maxQueued = options.maxQueuedPrompts ?? 64;
    this.#cancelGraceMs = options.cancelGraceMs ?? 250;
    this.#maxTokenizeMs = options.maxTokenizeMs ?? 30_000;
    const ggml = options.model.fileInfo.metadata.tokenizer?.ggml as
      | { model?: string; tokens?: readonly string[]; token_type?: readonly number[] }
      | undefined;
    this.longestTokenBytes = longestTokenBytes({ model: ggml?.model, tokens: ggml?.tokens, tokenTypes: ggml?.token_type });
    this.#start();
  }

  /**
   * Tokenizes `prompt`, or finds that it has more than `maxTokens` tokens.
   *
   * @param options.maxTokens - the most prompt tokens that can fit the context (with the room the completion needs).
   * @param options.signal - aborting it frees the prompt's place in the queue, or stops the process's count at the next
   *   slice (the process is killed if it does not stop within `cancelGraceMs`); the promise then rejects with the
   *   signal's reason.
   * @param options.param - the request field that holds the prompt, named in the deadline's error. Defaults to none.
   * @throws {MoestroError} `server_busy` (503) when `maxQueuedPrompts` long prompts are waiting already;
   *   `server_unavailable` (503) once the tokenizer is disposed (the model is unloading); `invalid_request` (400) when
   *   the prompt held the tokenizer process longer than `maxTokenizeMs`.
   * @throws {Error} when the tokenizer process fails to start or dies while it holds this prompt.
   */
  async tokenize(prompt: PromptText, options: { maxTokens: number; signal?: AbortSignal; param?: string }): Promise<PromptTokenization> {
    this.#ensureNotDisposed();
    const length = promptLength(prompt);
    if (length <= this.inlineMaxChars) return { tokens: tokenizePrompt(this.#model, prompt) };
    const atLeastTokens = this.boundByLength(length, options.maxTokens);
    if (atLeastTokens !== undefined) return { atLeastTokens };
    return await this.#enqueue(prompt, options);
  }

  /**
   * Whether a long text cannot fit by its length alone: a lower bound on its tokens when it is longer than
   * `inlineMaxChars` and the bound exceeds `maxTokens` (a short text is tokenized instead, for its exact count).
   *
   * @param length - UTF-16 code units: never more than the text's UTF-8 bytes, so the bound holds, and known without
   *   reading the text.
   * @returns tokens, or undefined when the length does not rule the text out.
   */
  boundByLength(length: number, maxTokens: number): number | undefined {
    if (length <= this.inlineMaxChars) return undefined;
    const atLeastTokens = minimumTokens(length, this.longestTokenBytes);
    return atLeastTokens > maxTokens ? atLeastTokens : undefined;
  }

  /** Stops the tokenizer process and fails the prompts it holds or queues. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const unloading = modelUnloadingError();
    for (const job of this.#queue.splice(0)) this.#settle(job, () => job.reject(unloading));
    if (this.#running !== undefined) this.#settle(this.#running, () => this.#running!.reject(unloading));
    clearTimeout(this.#running?.timer);
    const child = this.#process;
    this.#process = undefined;
    // A process that could not be spawned has no pid and never emits 'exit' (only 'error').
    if (child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      // Held, so that awaiting its exit keeps the event loop alive. SIGKILL: it holds nothing worth a clean exit, and a
      // SIGTERM would wait for the tokenizer call it is in.
      child.ref();
      child.kill("SIGKILL");
      await exited;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #enqueue(
    prompt: PromptText,
    { maxTokens, signal, param }: { maxTokens: number; signal?: AbortSignal; param?: string },
  ): Promise<PromptTokenization> {
    signal?.throwIfAborted();
    if (this.#queue.length >= this.#maxQueued) {
      throw new MoestroError(
        "server_busy",
        `The server is busy: ${this.#queue.length} long prompts are waiting to be tokenized for model '${this.#options.modelId}'. Retry later.`,
        { retryAfterSeconds: 1 },
      );
    }
    const id = this.#nextId++;
    const wirePrompt = prompt.kind === "template" ? { kind: "template", json: prompt.text.toJSON() } : prompt;
    return new Promise<PromptTokenization>((resolve, reject) => {
      const job: Job = {
        id,
        message: { type: "tokenize", id, prompt: wirePrompt, maxTokens },
        resolve,
        reject,
        settled: false,
        detach: () => {},
        param,
      };
      if (signal !== undefined) {
        const onAbort = () => this.#abort(job, signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        job.detach = () => signal.removeEventListener("abort", onAbort);
      }
      this.#queue.push(job);
      if (this.#process === undefined) this.#start();
      this.#pump();
      this.#holdProcess();
    });
  }

  #abort(job: Job, reason: unknown): void {
    const index = this.#queue.indexOf(job);
    if (index >= 0) this.#queue.splice(index, 1);
    else if (this.#running === job) {
      this.#process?.send({ type: "cancel", id: job.id });
      // The count stops at the next slice, but a prompt being tokenized whole cannot be stopped: the prompts behind it
      // must not wait for that.
      this.#armTimer(job, this.#cancelGraceMs, () => this.#replaceProcess("a cancelled prompt was not let go of in time"));
    }
    this.#settle(job, () => job.reject(reason));
    this.#holdProcess();
  }

  /** Runs `onExpiry` if `job` still holds the process after `delayMs`; replaces the job's earlier timer. */
  #armTimer(job: Job, delayMs: number, onExpiry: () => void): void {
    clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      if (this.#running === job) onExpiry();
    }, delayMs);
    // A timer alone never keeps the server's process alive (see #holdProcess).
    job.timer.unref();
  }

  /** Refuses the running prompt for holding the process past `maxTokenizeMs`, and replaces the process. */
  #onDeadline(job: Job): void {
    const seconds = this.#maxTokenizeMs / 1000;
    const error = new MoestroError(
      "invalid_request",
      `The prompt took more than ${seconds} s to tokenize for model '${this.#options.modelId}' and was refused; shorten it (long runs of characters without spaces are the slowest to tokenize).`,
      { param: job.param },
    );
    this.#settle(job, () => job.reject(error));
    this.#replaceProcess(`a prompt held it more than ${seconds} s`);
  }

  /**
   * Kills the process, which holds a prompt it cannot let go of, and starts a new one for the prompts waiting. From here
   * on the old process's replies and exit are ignored, so none of them can reach a later prompt.
   */
  #replaceProcess(reason: string): void {
    const child = this.#process;
    if (child === undefined) return;
    const running = this.#running;
    clearTimeout(running?.timer);
    this.#process = undefined;
    this.#ready = false;
    this.#running = undefined;
    this.#options.logger.warn({ model: this.#options.modelId, reason }, "tokenizer process killed and replaced");
    child.kill("SIGKILL");
    if (this.#queue.length > 0) this.#start();
    this.#holdProcess();
  }

  /** A tokenizer with prompts to answer keeps the server's process alive; an idle one does not (its channel is unref'd). */
  #holdProcess(): void {
    const channel = this.#process?.channel;
    if (this.#queue.length > 0 || (this.#running !== undefined && !this.#running.settled)) channel?.ref();
    else channel?.unref();
  }

  /** Answers a job once; the process's later reply to it is dropped. */
  #settle(job: Job, answer: () => void): void {
    if (job.settled) return;
    job.settled = true;
    job.detach();
    answer();
  }

  #pump(): void {
    const child = this.#process;
    if (!this.#ready || child === undefined || this.#running !== undefined) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    this.#running = job;
    try {
      child.send(job.message);
      this.#armTimer(job, this.#maxTokenizeMs, () => this.#onDeadline(job));
    } catch (error) {
      // Serializing the message failed (a closed channel is reported as an 'error' event, then 'exit').
      this.#running = undefined;
      this.#settle(job, () => job.reject(error));
      this.#pump();
    }
  }

  #start(): void {
    if (this.#disposed) return;
    const script = this.#options.processScript ?? new URL("./tokenizer-process.js", import.meta.url);
    const child = fork(
      script,
      [this.#options.modelPath, String(this.longestTokenBytes ?? "none"), String(this.inlineMaxChars), String(slackTokensPerSlice)],
      // No inherited flags (a test runner's loaders), no stdout (llama.cpp's logs come as messages); stderr is kept for a
      // crash's last words.
      { serialization: "advanced", execArgv: [], stdio: ["ignore", "ignore", "inherit", "ipc"] },
    );
    this.#process = child;
    this.#ready = false;
    // An idle tokenizer never keeps the server's process alive; a busy one holds its channel (see #holdProcess).
    child.unref();
    child.channel?.unref();
    child.on("message", (reply: ProcessReply) => this.#onReply(child, reply));
    child.on("error", (error) => {
      this.#options.logger.error({ err: error, model: this.#options.modelId }, "tokenizer process error");
      // A process that could not be spawned emits no 'exit'.
      if (child.pid === undefined) this.#onExit(child, null, null);
    });
    child.on("exit", (code, signal) => this.#onExit(child, code, signal));
  }

  #onReply(child: ChildProcess, reply: ProcessReply): void {
    if (child !== this.#process) return;
    const logger = this.#options.logger;
    switch (reply.type) {
      case "ready":
        this.#ready = true;
        this.#pump();
        return;
      case "failed":
        this.#failQueued(new Error(`The tokenizer process of model '${this.#options.modelId}' could not load the model: ${reply.message}`));
        return;
      case "log":
        // The same vocabulary's warnings were logged when the model itself loaded: only errors are worth repeating.
        if (reply.level === "error" || reply.level === "fatal")
          logger.error({ source: "llama.cpp", model: this.#options.modelId }, reply.message);
        else logger.debug({ source: "llama.cpp", model: this.#options.modelId }, reply.message);
        return;
      case "done": {
        const job = this.#running;
        if (job === undefined || job.id !== reply.id) return;
        clearTimeout(job.timer);
        this.#running = undefined;
        this.#settle(job, () => {
          if (reply.tokens !== undefined) job.resolve({ tokens: Array.from(reply.tokens) as Token[] });
          else if (reply.atLeastTokens !== undefined) job.resolve({ atLeastTokens: reply.atLeastTokens });
          else job.reject(new Error(`The tokenizer process of model '${this.#options.modelId}' failed: ${reply.error ?? "cancelled"}`));
        });
        this.#pump();
        this.#holdProcess();
        return;
      }
      default:
        reply satisfies never;
    }
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#process) return;
    this.#process = undefined;
    const wasReady = this.#ready;
    this.#ready = false;
    const running = this.#running;
    clearTimeout(running?.timer);
    this.#running = undefined;
    const when = running !== undefined ? "while it tokenized a prompt" : wasReady ? "while idle" : "before it was ready";
    const error = new Error(`The tokenizer process of model '${this.#options.modelId}' exited (code ${code}, signal ${signal}) ${when}.`);
    this.#options.logger.error({ err: error, model: this.#options.modelId }, "tokenizer process exited");
    if (running !== undefined) this.#settle(running, () => running.reject(error));
    // A process that never got ready would fail again at once: fail the queue rather than restart in a loop. After a
    // crash in the middle of a prompt, the prompts behind it get a new process.
    if (!wasReady) this.#failQueued(error);
    else if (this.#queue.length > 0) this.#start();
    this.#holdProcess();
  }

  #failQueued(error: Error): void {
    for (const job of this.#queue.splice(0)) this.#settle(job, () => job.reject(error));
  }

  #ensureNotDisposed(): void {
    if (this.#disposed) throw modelUnloadingError();
  }
}
