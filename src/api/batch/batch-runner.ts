import type { Logger } from "pino";
import type { BatchLine, BatchRepository, StoredBatch, StoredFile } from "../../store/index.js";
import type { BatchCaller } from "../app-env.js";
import { parseBatchInput, type BatchInputLine } from "./batch-input.js";
import { randomId } from "./batch-wire.js";

/** Inputs of {@link startBatchRunner}. */
export interface BatchRunnerOptions {
  /** Files, batches and answered lines. */
  repository: BatchRepository;
  /**
   * The app's own `fetch` (`createApp(...).fetch`): every line is a request to it, with `{moestroBatch}` as its env, so
   * that it goes through the same path as a client's (key checks, limits, budget, ledger, model admission).
   */
  fetch: (request: Request, env: { moestroBatch: BatchCaller }) => Response | Promise<Response>;
  /** This runner's id in the batches' leases: the server instance's id. */
  ownerId: string;
  /** Whether the runner `ownerId` of a lease is gone (the server instance's `isGone`), so that its batches are taken over at once. */
  isGone?: (ownerId: string) => Promise<boolean>;
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Lines of one batch run at once. Defaults to 4 (the engine's default parallel sequences). */
  concurrency?: number;
  /** How often the runner looks for batches to run (and at its leases), ms. Defaults to 1000. */
  pollMs?: number;
  /** How long a lease holds without renewal, ms. Defaults to 30000; renewed every third of it. */
  leaseMs?: number;
  /** How long output and error files are kept, ms. Defaults to 30 days. */
  outputRetentionMs?: number;
}

/** The running batch runner. */
export interface BatchRunner extends AsyncDisposable {
  /** Looks for work now (a batch was created or cancelled). */
  wake(): void;
  /**
   * Stops: no new line starts, the lines under way are aborted (they are not answered, and run again when the batch
   * resumes), the leases are given up. Idempotent.
   */
  dispose(): Promise<void>;
}

/** A line's answer, or `undefined` when it was not answered (the runner stops, the batch is cancelled or expires). */
type LineOutcome = Omit<BatchLine, "lineIndex"> | undefined;

/**
 * Starts the batch runner of a server (docs/batch.md): every `pollMs` it takes the lease of an active batch that no
 * live runner holds (several instances on one PostgreSQL share the work; a lease whose holder is gone, or that was not
 * renewed for `leaseMs`, is taken over), and runs it:
 *
 * - `validating` → `in_progress`: the input file is read and checked again (a missing or invalid file fails the batch);
 * - its lines that have no answer yet run, `concurrency` at a time, each as a request to the app under the batch's key;
 *   each answer is stored once (`insertLine`) as soon as it is known, so that a batch cut by a crash or a restart
 *   resumes from the lines not answered, and every line is answered exactly once. A line refused by a rate limit
 *   (429 `rate_limit_exceeded`) or a busy model (503) waits (its `Retry-After`) and runs again; any other answer,
 *   errors included (`insufficient_quota` when the key's budget is spent), is the line's answer;
 * - `finalizing` → `completed`: the output file (answers with status 200) and the error file (the others) are written,
 *   in line order; `cancelling` → `cancelled` once the lines under way ended (the lines answered so far are in the files);
 *   a batch whose 24-hour window ends first is `expired`, its unanswered lines in the error file as `batch_expired`.
 *
 * Expired files are deleted hourly.
 */
export function startBatchRunner(options: BatchRunnerOptions): BatchRunner {
  const { repository, logger, ownerId } = options;
  const now = options.now ?? Date.now;
  const concurrency = options.concurrency ?? 4;
  const leaseMs = options.leaseMs ?? 30_000;
  const outputRetentionMs = options.outputRetentionMs ?? 30 * 86_400_000;
  const stop = new AbortController();
  let busy: Promise<void> | undefined;
  let again = false;
  let lastSweepMs = 0;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (stop.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        stop.signal.removeEventListener("abort", done);
        resolve();
      }
      stop.signal.addEventListener("abort", done, { once: true });
    });

  const runLine = async (batch: StoredBatch, line: BatchInputLine, state: { cancelled: boolean }): Promise<LineOutcome> => {
    const requestId = randomId("batch_req_");
    for (;;) {
      if (stop.signal.aborted || state.cancelled || now() >= batch.expiresAtMs) return undefined;
      let status: number;
      let body: unknown;
      let retryAfter: string | null = null;
      try {
        const response = await options.fetch(
          new Request(`http://moestro.batch${line.url}`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-request-id": requestId },
            body: JSON.stringify(line.body),
            signal: stop.signal,
          }),
          { moestroBatch: batch.keyId === undefined ? { batchId: batch.id } : { batchId: batch.id, keyId: batch.keyId } },
        );
        status = response.status;
        retryAfter = response.headers.get("retry-after");
        const text = await response.text();
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text;
        }
      } catch (error) {
        if (stop.signal.aborted) return undefined;
        logger.warn({ err: error, batchId: batch.id, customId: line.custom_id }, "batch line failed");
        status = 500;
        body = {
          error: { message: "The line's request failed inside the server.", type: "server_error", param: null, code: "internal_error" },
        };
      }
      // Cut by the shutdown: not an answer; the line runs again when the batch resumes.
      if (stop.signal.aborted) return undefined;
      const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
      if ((status === 429 && code !== "insufficient_quota") || status === 503) {
        const seconds = Number(retryAfter);
        await sleep(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : 1000);
        continue;
      }
      return {
        ok: status === 200,
        result: { id: requestId, custom_id: line.custom_id, response: { status_code: status, request_id: requestId, body }, error: null },
      };
    }
  };

  const writeFiles = async (batch: StoredBatch): Promise<Pick<StoredBatch, "outputFileId" | "errorFileId">> => {
    const lines = await repository.lines(batch.id);
    const hex = batch.id.slice("batch_".length);
    const files: Pick<StoredBatch, "outputFileId" | "errorFileId"> = {};
    for (const [ok, suffix, field] of [
      [true, "output", "outputFileId"],
      [false, "errors", "errorFileId"],
    ] as const) {
      const chosen = lines.filter((line) => line.ok === ok);
      if (chosen.length === 0) continue;
      const content = `${chosen.map((line) => JSON.stringify(line.result)).join("\n")}\n`;
      const createdAtMs = now();
      const file: StoredFile = {
        id: `file-${hex}-${suffix}`,
        purpose: "batch_output",
        filename: `${batch.id}_${suffix}.jsonl`,
        bytes: Buffer.byteLength(content, "utf8"),
        lineCount: chosen.length,
        createdAtMs,
        expiresAtMs: createdAtMs + outputRetentionMs,
      };
      if (batch.keyId !== undefined) file.keyId = batch.keyId;
      // Written again when a finalisation was cut by a crash: the same id, the same lines.
      await repository.deleteFile(file.id, { nowMs: createdAtMs });
      await repository.insertFile(file, content);
      files[field] = file.id;
    }
    return files;
  };

  const runBatch = async (id: string): Promise<void> => {
    let batch = await repository.findBatch(id, {});
    if (batch === undefined) return;
    const state = { cancelled: batch.status === "cancelling", lost: false };
    // Renews the lease every third of it, and hears of a cancellation within a poll, while the lines run.
    let lastRenewMs = now();
    const renew = setInterval(
      () => {
        void (async () => {
          if (now() - lastRenewMs >= leaseMs / 3) {
            lastRenewMs = now();
            if (!(await repository.renewLease(id, ownerId, now() + leaseMs))) state.lost = true;
          }
          if ((await repository.findBatch(id, {}))?.status === "cancelling") state.cancelled = true;
        })().catch((error: unknown) => logger.warn({ err: error, batchId: id }, "renewing a batch lease failed"));
      },
      Math.min(options.pollMs ?? 1000, leaseMs / 3),
    );
    renew.unref();
    try {
      const fail = async (code: string, message: string): Promise<void> => {
        await repository.updateBatch(id, { status: "failed", failedAtMs: now(), errors: [{ code, message, param: null, line: null }] });
      };
      let lines: BatchInputLine[] = [];
      if (batch.status === "validating" || batch.status === "in_progress" || batch.status === "cancelling") {
        const content = await repository.fileContent(batch.inputFileId, { nowMs: now() });
        if (content === undefined) return await fail("input_file_missing", `The input file ${batch.inputFileId} was deleted or expired.`);
        try {
          lines = parseBatchInput(content);
        } catch (error) {
          return await fail("invalid_input_file", (error as Error).message);
        }
      }
      if (batch.status === "validating") {
        if (await repository.updateBatch(id, { status: "in_progress", inProgressAtMs: now() }, ["validating"]))
          batch = { ...batch, status: "in_progress", inProgressAtMs: now() };
        else state.cancelled = true;
      }
      if (batch.status === "in_progress") {
        const answered = await repository.answeredLines(id);
        const pending = lines.map((_, index) => index).filter((index) => !answered.has(index));
        let next = 0;
        const current = batch;
        const worker = async (): Promise<void> => {
          while (!stop.signal.aborted && !state.lost && !state.cancelled) {
            const index = pending[next++];
            if (index === undefined) return;
            const outcome = await runLine(current, lines[index]!, state);
            if (outcome === undefined) return;
            await repository.insertLine(id, { lineIndex: index, ...outcome }, now());
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
        if (stop.signal.aborted || state.lost) return;
        if (!state.cancelled) {
          if (now() >= batch.expiresAtMs) {
            const done = await repository.answeredLines(id);
            for (let index = 0; index < lines.length; index++) {
              if (done.has(index)) continue;
              const result = {
                id: randomId("batch_req_"),
                custom_id: lines[index]!.custom_id,
                response: null,
                error: { code: "batch_expired", message: "This request could not be executed before the completion window expired." },
              };
              await repository.insertLine(id, { lineIndex: index, ok: false, result }, now());
            }
            const files = await writeFiles(batch);
            await repository.updateBatch(id, { status: "expired", expiredAtMs: now(), ...files }, ["in_progress"]);
            return;
          }
          if (await repository.updateBatch(id, { status: "finalizing", finalizingAtMs: now() }, ["in_progress"]))
            batch = { ...batch, status: "finalizing" };
          else state.cancelled = true;
        }
      }
      if (state.cancelled || batch.status === "cancelling") {
        const files = await writeFiles(batch);
        await repository.updateBatch(id, { status: "cancelled", cancelledAtMs: now(), ...files });
        return;
      }
      if (batch.status === "finalizing") {
        const files = await writeFiles(batch);
        await repository.updateBatch(id, { status: "completed", completedAtMs: now(), ...files });
      }
    } finally {
      clearInterval(renew);
      await repository.releaseLease(id, ownerId).catch(() => undefined);
    }
  };

  const takeOverGone = async (): Promise<void> => {
    if (options.isGone === undefined) return;
    for (const held of await repository.heldBatches()) {
      if (held.ownerId !== ownerId && (await options.isGone(held.ownerId))) await repository.releaseLease(held.id, held.ownerId);
    }
  };

  const work = async (): Promise<void> => {
    do {
      again = false;
      if (now() - lastSweepMs >= 3_600_000) {
        lastSweepMs = now();
        const deleted = await repository.deleteExpiredFiles(now());
        if (deleted > 0) logger.info({ deleted }, "expired batch files deleted");
      }
      await takeOverGone();
      const claimed = await repository.claim(ownerId, now(), now() + leaseMs, 1);
      for (const id of claimed) {
        if (stop.signal.aborted) {
          await repository.releaseLease(id, ownerId);
          continue;
        }
        await runBatch(id);
        again = true;
      }
    } while (again && !stop.signal.aborted);
  };

  const wake = (): void => {
    if (stop.signal.aborted) return;
    if (busy !== undefined) {
      again = true;
      return;
    }
    busy = work()
      .catch((error: unknown) => logger.warn({ err: error }, "the batch runner failed; it tries again at its next poll"))
      .finally(() => (busy = undefined));
  };
  const timer = setInterval(wake, options.pollMs ?? 1000);
  timer.unref();
  wake();
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      clearInterval(timer);
      stop.abort(new Error("the batch runner stopped"));
      await busy;
    })());
  return { wake, dispose, [Symbol.asyncDispose]: dispose };
}
