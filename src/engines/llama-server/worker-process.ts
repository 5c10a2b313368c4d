import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { MoestroError } from "../../errors/index.js";
import type { WorkerInfo } from "../../spec/index.js";
import { UpstreamClient } from "../http/upstream-client.js";

/** Options of {@link LlamaServerWorker.start}. */
export interface LlamaServerWorkerOptions {
  /** Path of the llama-server binary, checked beforehand (`checkLlamaServerBinary`). */
  binary: string;
  /** What the binary says it is, for `ps` and logs. */
  version: string;
  /** Its arguments from `workerArgs` (without `--host`, `--port`, `--api-key`, which are added here). */
  args: readonly string[];
  /** The model id, on every log line of the worker. */
  modelId: string;
  logger: Logger;
  /** How long a start may take until `/health` says ready, ms (loading a large model from disk). Defaults to 10 minutes. */
  readyTimeoutMs?: number;
  /** Restarts allowed within `restartWindowMs` before the worker is given up. Defaults to 5. */
  maxRestarts?: number;
  /** The window of `maxRestarts`, ms. Defaults to 10 minutes. */
  restartWindowMs?: number;
  /** Called when a restarted worker is ready again (its slots' caches are empty). */
  onRestarted?: () => void;
}

/** The first wait before a restart, ms; it doubles with each restart in the window, up to {@link maxBackoffMs}. */
const firstBackoffMs = 250;
const maxBackoffMs = 8_000;
/** How long a stopping worker may take after SIGTERM before SIGKILL, ms. */
const stopGraceMs = 5_000;
/**
 * How long a planned restart ({@link LlamaServerWorker.restartWith}) waits for the streams under way on the old
 * process, ms: 2 minutes, about 900 tokens at the slowest speculating worker measured (7.7 tokens/s, docs/bench.md).
 * Streams still running then are cut and go on on the new process ({@link WorkerHold.isCut}).
 */
export const defaultDrainTimeoutMs = 120_000;
/** Log lines of a worker kept for the message of a failed start or a crash. */
const keptLogLines = 30;

/**
 * One stream's hold on a worker's running process (from {@link LlamaServerWorker.hold}): a planned restart waits for
 * the holds of the process it replaces before it stops it.
 */
export interface WorkerHold {
  /** The client of the process held. */
  readonly client: UpstreamClient;
  /**
   * Whether a planned restart stopped the process held (the drain's time ran out) while the stream ran: the stream was
   * cut on purpose, and the generation goes on on the new process, which {@link LlamaServerWorker.ready} waits for.
   */
  isCut(): boolean;
  /** Ends the hold. Idempotent. */
  release(): void;
}

/** One started process of a worker and the streams holding it. */
interface ProcessRecord {
  child: ChildProcess;
  /** Its holds not released yet; a planned restart that stops it marks them cut. */
  holds: Set<{ isCut: boolean }>;
  /** Called when its last hold ends (a planned restart waiting for it). */
  onDrained?: () => void;
}

/**
 * One llama-server process serving one model, supervised:
 * - started with an explicit `--host 127.0.0.1`, a free port and a random API key, so nothing else on the host can
 *   use it (llama-server checks the key on every endpoint but `/health` and `/models`);
 * - ready when its `/health` answers 200 (it answers 503 while the model loads);
 * - its log lines go to moestro's log with the model id (debug level; llama.cpp's warnings and errors at warn level);
 * - when it dies it is restarted, after a backoff (250 ms doubling to 8 s), at most `maxRestarts` times in
 *   `restartWindowMs`; requests in flight on it fail (their stream throws), later ones wait for {@link ready};
 * - a planned restart with other arguments ({@link restartWith}: a speculating worker that backs off) lets the streams
 *   under way finish first, while new ones wait for {@link ready}, and does not count toward `maxRestarts`;
 * - it never outlives moestro: a guard process (`sh`, a few hundred KiB) holds a pipe from moestro and kills the worker
 *   when that pipe closes, which the kernel does when moestro ends however it ends (`kill -9` included). Node cannot
 *   set `PR_SET_PDEATHSIG` on a child, which would do the same with no guard.
 */
export class LlamaServerWorker {
  readonly #options: LlamaServerWorkerOptions;
  readonly #apiKey = randomBytes(24).toString("base64url");
  #process: ChildProcess | undefined;
  #guard: ChildProcess | undefined;
  #client: UpstreamClient | undefined;
  #args: string[] = [];
  /** The arguments of the next start (`args`, until a planned restart replaces them). */
  #baseArgs: readonly string[];
  #current: ProcessRecord | undefined;
  /** Processes a planned restart stopped: their exit is no crash. */
  readonly #stoppedOnPurpose = new WeakSet<ChildProcess>();
  #startedAtMs = 0;
  #restarts = 0;
  #restartTimes: number[] = [];
  #ready: Promise<void> = Promise.resolve();
  #stopping = false;
  #failure: Error | undefined;
  readonly #log: string[] = [];

  private constructor(options: LlamaServerWorkerOptions) {
    this.#options = options;
    this.#baseArgs = options.args;
  }

  /**
   * Starts a worker and waits until it is ready.
   *
   * @throws {MoestroError} `worker_failed` when the process exits or is not ready within `readyTimeoutMs`, with its
   *   last log lines (a model llama.cpp cannot load, a bad flag in `extraArgs`).
   */
  static async start(options: LlamaServerWorkerOptions): Promise<LlamaServerWorker> {
    const worker = new LlamaServerWorker(options);
    worker.#ready = worker.#launch();
    await worker.#ready;
    return worker;
  }

  /** The client of the running process; replaced on restart, so read it for each request. */
  get client(): UpstreamClient {
    if (this.#client === undefined) throw this.#unavailable();
    return this.#client;
  }

  /**
   * Resolves when the worker can take requests: at once unless it is restarting, a planned restart included (from its
   * decision on, while the old process still finishes its streams). Call {@link hold} right after, in the same tick.
   *
   * @throws when it was given up.
   */
  async ready(): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const ready = this.#ready;
      await ready;
      // A restart decided meanwhile (a planned one, while this call waited for nothing) replaced the promise: wait again.
      if (ready === this.#ready) break;
    }
    if (this.#failure) throw this.#failure;
  }

  /**
   * Holds the running process for one stream until `release`: a planned restart waits for it.
   *
   * @throws {MoestroError} `worker_failed` (retryable) while the worker restarts or after it was given up.
   */
  hold(): WorkerHold {
    const record = this.#current;
    const client = this.#client;
    if (record === undefined || client === undefined || this.#failure !== undefined) throw this.#unavailable();
    const state = { isCut: false };
    record.holds.add(state);
    return {
      client,
      isCut: () => state.isCut,
      release: () => {
        if (!record.holds.delete(state)) return;
        if (record.holds.size === 0) record.onDrained?.();
      },
    };
  }

  /**
   * Restarts the worker with other arguments, as planned (not a crash): from the call on, {@link ready} waits for the
   * new process; the streams holding the old one ({@link hold}) may finish first, for at most `drainTimeoutMs`; then the
   * old process is stopped (SIGTERM, then SIGKILL after 5 s) and the new one started. Streams still under way then are
   * cut ({@link WorkerHold.isCut}). Does not count toward `maxRestarts`, nor in `restarts`; a crash restart after it
   * uses the new arguments. `onRestarted` is called when the new process is ready.
   *
   * @param args - the new arguments, as `LlamaServerWorkerOptions.args`.
   * @param options.drainTimeoutMs - the longest wait for the streams under way, ms. Defaults to
   *   {@link defaultDrainTimeoutMs} (2 minutes).
   * @returns when the new process is ready.
   * @throws {MoestroError} `worker_failed` when the new process does not start; the worker is then given up, as after a
   *   failed crash restart.
   */
  async restartWith(args: readonly string[], options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.#baseArgs = args;
    const previous = this.#ready;
    const restart = (async () => {
      // A restart under way (a crash) ends first; then the process it started is the one replaced.
      await previous.catch(() => undefined);
      const record = this.#current;
      if (this.#stopping || this.#failure !== undefined || record === undefined) return;
      await drain(record, options.drainTimeoutMs ?? defaultDrainTimeoutMs);
      const { child } = record;
      // It died meanwhile: its crash restart, already under way with the new arguments, replaces it.
      if (this.#stopping || child.exitCode !== null || child.signalCode !== null || this.#current !== record) return;
      for (const hold of record.holds) hold.isCut = true;
      this.#stoppedOnPurpose.add(child);
      this.#options.logger.info(
        { model: this.#options.modelId, pid: child.pid, streamsCut: record.holds.size },
        "llama-server worker stopping for a planned restart",
      );
      this.#client?.close();
      this.#client = undefined;
      this.#current = undefined;
      await stopChild(child);
      if (this.#stopping) return;
      await this.#launch();
      this.#options.onRestarted?.();
    })();
    this.#ready = restart;
    restart.catch((error: unknown) => {
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.#options.logger.error({ model: this.#options.modelId, err: error }, "llama-server worker could not be restarted; given up");
    });
    await restart;
  }

  /** Whether the process runs and answered `/health` since its last start. */
  get isReady(): boolean {
    return this.#client !== undefined && this.#failure === undefined && !this.#stopping;
  }

  /** The process as `ps` shows it; the API key is never shown. */
  info(): WorkerInfo {
    return {
      pid: this.#process?.pid ?? null,
      binary: this.#options.binary,
      version: this.#options.version,
      args: this.#args.map((arg, index) => (this.#args[index - 1] === "--api-key" ? "***" : arg)),
      restarts: this.#restarts,
      startedAtMs: this.#startedAtMs,
    };
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and its guard. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#client?.close();
    this.#client = undefined;
    if (this.#current !== undefined) this.#current.onDrained?.();
    if (this.#process) await stopChild(this.#process);
    this.#guard?.kill("SIGKILL");
  }

  async #launch(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#startOnce();
        return;
      } catch (error) {
        // Another process may have taken the free port between the probe and llama-server's bind: try another.
        if (attempt < 3 && !this.#stopping && /bind|address already in use/i.test(this.#log.join("\n"))) continue;
        throw error;
      }
    }
  }

  async #startOnce(): Promise<void> {
    const { binary, logger, modelId } = this.#options;
    const port = await freePort();
    this.#args = [...this.#baseArgs, "--host", "127.0.0.1", "--port", String(port), "--api-key", this.#apiKey];
    this.#log.length = 0;
    const child = spawn(binary, this.#args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#process = child;
    this.#startedAtMs = Date.now();
    this.#guard?.kill("SIGKILL");
    this.#guard = child.pid === undefined ? undefined : startGuard(child.pid);
    for (const stream of [child.stdout, child.stderr]) forwardLines(stream, (line) => this.#onLogLine(line));
    const exited = new Promise<string>((resolve) => {
      child.once("error", (error) => resolve(`could not be started: ${error.message}`));
      child.once("exit", (code, signal) => resolve(describeWorkerExit(code, signal)));
    });
    logger.info({ model: modelId, pid: child.pid, port, args: this.info().args }, "llama-server worker starting");
    const client = new UpstreamClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: this.#apiKey });
    const readyTimeoutMs = this.#options.readyTimeoutMs ?? 10 * 60_000;
    const outcome = await Promise.race([
      exited.then((how) => ({ ready: false as const, how })),
      waitHealthy(client, readyTimeoutMs).then((ok) =>
        ok ? { ready: true as const } : { ready: false as const, how: `was not ready in ${readyTimeoutMs} ms` },
      ),
    ]);
    if (!outcome.ready) {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      this.#guard?.kill("SIGKILL");
      throw new MoestroError(
        "worker_failed",
        `the llama-server worker of model '${modelId}' ${outcome.how} before it was ready. Its last lines:\n${this.#log.slice(-12).join("\n")}`,
      );
    }
    this.#client = client;
    this.#current = { child, holds: new Set() };
    logger.info({ model: modelId, pid: child.pid, port, ms: Date.now() - this.#startedAtMs }, "llama-server worker ready");
    void exited.then((how) => this.#onExit(child, how));
  }

  #onExit(child: ChildProcess, how: string): void {
    if (this.#stopping || child !== this.#process || this.#stoppedOnPurpose.has(child)) return;
    const { logger, modelId } = this.#options;
    this.#client?.close();
    this.#client = undefined;
    // A planned restart waiting for this process's streams (they fail now) goes on at once, and finds it dead.
    const record = this.#current;
    this.#current = undefined;
    record?.onDrained?.();
    this.#guard?.kill("SIGKILL");
    const now = Date.now();
    const windowMs = this.#options.restartWindowMs ?? 10 * 60_000;
    this.#restartTimes = this.#restartTimes.filter((time) => now - time < windowMs);
    const maxRestarts = this.#options.maxRestarts ?? 5;
    if (this.#restartTimes.length >= maxRestarts) {
      this.#failure = new MoestroError(
        "worker_failed",
        `the llama-server worker of model '${modelId}' ${how}, and it was restarted ${maxRestarts} times in ${Math.round(windowMs / 60_000)} minutes; it is given up. Unload the model (moestro unload ${modelId}) to start it again. Its last lines:\n${this.#log.slice(-12).join("\n")}`,
      );
      logger.error({ model: modelId, pid: child.pid, lastLines: this.#log.slice(-12) }, `llama-server worker ${how}; given up`);
      return;
    }
    const backoffMs = Math.min(firstBackoffMs * 2 ** this.#restartTimes.length, maxBackoffMs);
    this.#restartTimes.push(now);
    this.#restarts++;
    logger.error(
      { model: modelId, pid: child.pid, restart: this.#restarts, backoffMs, lastLines: this.#log.slice(-8) },
      `llama-server worker ${how}; restarting`,
    );
    this.#ready = (async () => {
      await sleep(backoffMs);
      if (this.#stopping) return;
      await this.#launch();
      this.#options.onRestarted?.();
    })();
    // A failed restart gives the worker up; requests then get its error from `ready()`.
    this.#ready.catch((error: unknown) => {
      this.#failure = error instanceof Error ? error : new Error(String(error));
      logger.error({ model: modelId, err: error }, "llama-server worker could not be restarted; given up");
    });
  }

  #onLogLine(line: string): void {
    this.#log.push(line);
    if (this.#log.length > keptLogLines) this.#log.shift();
    const { logger, modelId } = this.#options;
    // llama.cpp's log lines start with a time and a level letter (`0.00.023.780 W srv ...`); lines printed before its
    // logger starts have none (`warning: no usable GPU found`).
    const level = /^\d+\.\d+\.\d+\.\d+ ([DIWE]) /.exec(line)?.[1];
    const loud = level === undefined ? /\berror\b|\bfailed\b|\bwarning\b/i.test(line) : level === "W" || level === "E";
    if (loud) logger.warn({ model: modelId, source: "llama-server" }, line);
    else logger.debug({ model: modelId, source: "llama-server" }, line);
  }

  #unavailable(): Error {
    return (
      this.#failure ??
      new MoestroError(
        "worker_failed",
        `the llama-server worker of model '${this.#options.modelId}' is restarting; retry in a few seconds.`,
        {
          retryAfterSeconds: 2,
        },
      )
    );
  }
}

/** Resolves when `record` has no hold left, or after `timeoutMs`. */
async function drain(record: ProcessRecord, timeoutMs: number): Promise<void> {
  if (record.holds.size === 0) return;
  const abort = new AbortController();
  await Promise.race([
    new Promise<void>((resolve) => {
      record.onDrained = resolve;
    }),
    sleep(timeoutMs, undefined, { signal: abort.signal }).catch(() => undefined),
  ]);
  abort.abort();
  record.onDrained = undefined;
}

/** Stops a process: SIGTERM, then SIGKILL after {@link stopGraceMs}; resolves when it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const killed = await Promise.race([exited.then(() => true), sleep(stopGraceMs).then(() => false)]);
  if (!killed) {
    child.kill("SIGKILL");
    await exited;
  }
}

/** A free TCP port on 127.0.0.1, from the kernel (bind to port 0, read it, close). */
async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the guard of a worker: `sh` reads its stdin, a pipe whose other end only this process holds, until end of
 * file, then kills the worker. The kernel closes the pipe when this process ends, however it ends.
 */
function startGuard(pid: number): ChildProcess {
  const guard = spawn("sh", ["-c", 'cat >/dev/null; kill -9 "$1" 2>/dev/null', "moestro-worker-guard", String(pid)], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  // Neither the guard nor its pipe keeps moestro's event loop alive.
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  guard.on("error", () => undefined);
  return guard;
}

/** Polls `/health` every 50 ms until it answers 200 (true) or `timeoutMs` passes (false). */
async function waitHealthy(client: UpstreamClient, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await client.get("/health", { timeoutMs: 2_000 }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return true;
    await sleep(50);
  }
  return false;
}

/** Calls `onLine` with each line of `stream` (without its line end). */
function forwardLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) if (line.trim().length > 0) onLine(line.trimEnd());
  });
  stream.on("end", () => {
    if (rest.trim().length > 0) onLine(rest.trimEnd());
  });
}

/**
 * How a worker's exit reads in errors and logs: `exited with code N`, or `was killed by SIGNAL`; SIGILL adds what it
 * almost always means here (an instruction the CPU or VM does not run, such as AMX in a VM that lists it, see
 * amx-probe.ts) and the fix.
 */
export function describeWorkerExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (!signal) return `exited with code ${code}`;
  if (signal === "SIGILL")
    return "was killed by SIGILL (the binary uses an instruction this CPU or virtual machine does not run; rebuild it here with `moestro engine build`, which leaves out AMX where it faults)";
  return `was killed by ${signal}`;
}
