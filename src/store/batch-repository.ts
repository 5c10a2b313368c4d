import type { Kysely, Selectable, Updateable } from "kysely";
import type { BatchesTable, Database } from "./database.js";

/** A file of the Files API, without its content. */
export interface StoredFile {
  /** `file-…`. */
  id: string;
  /** The API key that owns it (`admin` for the admin key); `undefined` when key checks are off. */
  keyId?: string;
  /** `batch` (an upload) or `batch_output` (a batch's output or error file). */
  purpose: string;
  filename: string;
  /** Size, UTF-8 bytes. */
  bytes: number;
  /** JSONL lines. */
  lineCount: number;
  /** Epoch ms. */
  createdAtMs: number;
  /** When it stops being served, epoch ms; `undefined`: never. */
  expiresAtMs?: number;
}

/** Which rows a caller may see: its own key's (every one when key checks are off), not expired at `nowMs`. */
export interface OwnerScope {
  /** The caller's key id; `undefined` when key checks are off. */
  keyId?: string;
  /** The time of the request, epoch ms. */
  nowMs: number;
}

/** The batch statuses, OpenAI's (https://platform.openai.com/docs/api-reference/batch/object). */
export type BatchStatus = "validating" | "in_progress" | "finalizing" | "completed" | "failed" | "expired" | "cancelling" | "cancelled";

/** Statuses a runner still has work in. */
export const activeBatchStatuses: readonly BatchStatus[] = ["validating", "in_progress", "finalizing", "cancelling"];

/** A batch row. Times are epoch ms. */
export interface StoredBatch {
  id: string;
  keyId?: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  status: BatchStatus;
  metadata?: Record<string, string>;
  /** Why it failed: OpenAI's `errors.data` entries. */
  errors?: Array<{ code: string; message: string; param?: string | null; line?: number | null }>;
  outputFileId?: string;
  errorFileId?: string;
  /** Lines of the input file. */
  total: number;
  createdAtMs: number;
  expiresAtMs: number;
  inProgressAtMs?: number;
  finalizingAtMs?: number;
  completedAtMs?: number;
  failedAtMs?: number;
  expiredAtMs?: number;
  cancellingAtMs?: number;
  cancelledAtMs?: number;
}

/** A finished line of a batch. */
export interface BatchLine {
  lineIndex: number;
  /** Whether its request succeeded (the output file) or not (the error file). */
  ok: boolean;
  /** Its line in the output or error file, as a JSON value. */
  result: unknown;
}

/** The fields of a batch that change while it runs. */
export type BatchUpdate = Partial<
  Pick<
    StoredBatch,
    | "status"
    | "errors"
    | "outputFileId"
    | "errorFileId"
    | "inProgressAtMs"
    | "finalizingAtMs"
    | "completedAtMs"
    | "failedAtMs"
    | "expiredAtMs"
    | "cancelledAtMs"
  >
>;

/**
 * The Files and Batch APIs' rows (tables `files`, `batches`, `batch_lines`, migration 0008). Works the same on SQLite
 * and PostgreSQL; several instances on one PostgreSQL share the files, and a batch is run by the instance holding its
 * lease ({@link claim}).
 */
export interface BatchRepository {
  /** Stores a file with its content. */
  insertFile(file: StoredFile, content: string): Promise<void>;
  /** The file `id` in `scope`, or `undefined` (absent, expired, another key's). */
  findFile(id: string, scope: OwnerScope): Promise<StoredFile | undefined>;
  /** The content of the file `id` in `scope`, or `undefined`. */
  fileContent(id: string, scope: OwnerScope): Promise<string | undefined>;
  /** Files in `scope`, newest first, at most `limit`, those created before the file `after` when given; of `purpose` when given. */
  listFiles(scope: OwnerScope, options: { limit: number; after?: string; purpose?: string }): Promise<StoredFile[]>;
  /** Deletes the file `id` in `scope`; resolves whether one was. */
  deleteFile(id: string, scope: OwnerScope): Promise<boolean>;
  /** Deletes the files expired at `nowMs`; resolves how many. */
  deleteExpiredFiles(nowMs: number): Promise<number>;

  /** Stores a new batch. */
  insertBatch(batch: StoredBatch): Promise<void>;
  /** The batch `id` in `scope` (batches do not expire from view), or `undefined`. */
  findBatch(id: string, scope: Pick<OwnerScope, "keyId">): Promise<StoredBatch | undefined>;
  /** Batches in `scope`, newest first, at most `limit`, those created before the batch `after` when given. */
  listBatches(scope: Pick<OwnerScope, "keyId">, options: { limit: number; after?: string }): Promise<StoredBatch[]>;
  /**
   * Moves the batch `id` in `scope` to `cancelling` when it is `validating` or `in_progress`; resolves the batch as it
   * is then (unchanged when it was in another status), or `undefined` when there is no such batch.
   */
  requestCancel(id: string, scope: Pick<OwnerScope, "keyId">, atMs: number): Promise<StoredBatch | undefined>;
  /**
   * Takes the lease of up to `limit` active batches ({@link activeBatchStatuses}) that nobody holds, or whose lease ran
   * out before `nowMs`, for `ownerId` until `leaseUntilMs`; resolves their ids, oldest first. Atomic per batch: of two
   * instances claiming one batch, one gets it.
   */
  claim(ownerId: string, nowMs: number, leaseUntilMs: number, limit: number): Promise<string[]>;
  /** The active batches held by a runner, with their holder: the runner checks whether a holder is gone (`releaseLease`). */
  heldBatches(): Promise<Array<{ id: string; ownerId: string }>>;
  /** Renews `ownerId`'s lease of batch `id`; resolves false when it lost it (another instance took it over). */
  renewLease(id: string, ownerId: string, leaseUntilMs: number): Promise<boolean>;
  /** Gives up `ownerId`'s lease of batch `id`. */
  releaseLease(id: string, ownerId: string): Promise<void>;
  /**
   * Updates the batch `id` (its runner's transitions), only while its status is one of `from` when given (a
   * cancellation that came in between wins); resolves whether it did.
   */
  updateBatch(id: string, update: BatchUpdate, from?: readonly BatchStatus[]): Promise<boolean>;
  /**
   * Records the answer of one line, once: resolves false when the line was already answered (the answer stays the
   * first one).
   */
  insertLine(batchId: string, line: BatchLine, atMs: number): Promise<boolean>;
  /** The indexes of the answered lines of batch `batchId`. */
  answeredLines(batchId: string): Promise<Set<number>>;
  /** The answered lines of batch `batchId`, in line order. */
  lines(batchId: string): Promise<BatchLine[]>;
  /** How many lines of each batch of `batchIds` succeeded and failed so far. */
  lineCounts(batchIds: readonly string[]): Promise<Map<string, { completed: number; failed: number }>>;
}

/** The {@link BatchRepository} over the store's tables. */
export function createBatchRepository(db: Kysely<Database>): BatchRepository {
  const files = (scope: OwnerScope) => {
    let query = db
      .selectFrom("files")
      .select(["id", "key_id", "purpose", "filename", "bytes", "line_count", "created_at", "expires_at"])
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", scope.nowMs)]));
    if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
    return query;
  };
  const batches = (scope: Pick<OwnerScope, "keyId">) => {
    let query = db.selectFrom("batches").selectAll();
    if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
    return query;
  };
  return {
    async insertFile(file, content) {
      await db
        .insertInto("files")
        .values({
          id: file.id,
          key_id: file.keyId ?? null,
          purpose: file.purpose,
          filename: file.filename,
          bytes: file.bytes,
          line_count: file.lineCount,
          content,
          created_at: file.createdAtMs,
          expires_at: file.expiresAtMs ?? null,
        })
        .execute();
    },
    async findFile(id, scope) {
      const row = await files(scope).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : fileOf(row);
    },
    async fileContent(id, scope) {
      let query = db
        .selectFrom("files")
        .select("content")
        .where("id", "=", id)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", scope.nowMs)]));
      if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
      return (await query.executeTakeFirst())?.content;
    },
    async listFiles(scope, options) {
      let query = files(scope);
      if (options.purpose !== undefined) query = query.where("purpose", "=", options.purpose);
      if (options.after !== undefined) {
        const after = await db.selectFrom("files").select(["created_at", "id"]).where("id", "=", options.after).executeTakeFirst();
        if (after !== undefined)
          query = query.where((eb) =>
            eb.or([eb("created_at", "<", after.created_at), eb.and([eb("created_at", "=", after.created_at), eb("id", "<", after.id)])]),
          );
      }
      const rows = await query.orderBy("created_at", "desc").orderBy("id", "desc").limit(options.limit).execute();
      return rows.map(fileOf);
    },
    async deleteFile(id, scope) {
      let query = db
        .deleteFrom("files")
        .where("id", "=", id)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", scope.nowMs)]));
      if (scope.keyId !== undefined) query = query.where("key_id", "=", scope.keyId);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    async deleteExpiredFiles(nowMs) {
      const result = await db.deleteFrom("files").where("expires_at", "<=", nowMs).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async insertBatch(batch) {
      await db
        .insertInto("batches")
        .values({
          id: batch.id,
          key_id: batch.keyId ?? null,
          endpoint: batch.endpoint,
          input_file_id: batch.inputFileId,
          completion_window: batch.completionWindow,
          status: batch.status,
          metadata_json: batch.metadata === undefined ? null : JSON.stringify(batch.metadata),
          errors_json: batch.errors === undefined ? null : JSON.stringify(batch.errors),
          output_file_id: batch.outputFileId ?? null,
          error_file_id: batch.errorFileId ?? null,
          total: batch.total,
          created_at: batch.createdAtMs,
          expires_at: batch.expiresAtMs,
          in_progress_at: null,
          finalizing_at: null,
          completed_at: null,
          failed_at: null,
          expired_at: null,
          cancelling_at: null,
          cancelled_at: null,
          owner_id: null,
          lease_until: null,
        })
        .execute();
    },
    async findBatch(id, scope) {
      const row = await batches(scope).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : batchOf(row);
    },
    async listBatches(scope, options) {
      let query = batches(scope);
      if (options.after !== undefined) {
        const after = await db.selectFrom("batches").select(["created_at", "id"]).where("id", "=", options.after).executeTakeFirst();
        if (after !== undefined)
          query = query.where((eb) =>
            eb.or([eb("created_at", "<", after.created_at), eb.and([eb("created_at", "=", after.created_at), eb("id", "<", after.id)])]),
          );
      }
      const rows = await query.orderBy("created_at", "desc").orderBy("id", "desc").limit(options.limit).execute();
      return rows.map(batchOf);
    },
    async requestCancel(id, scope, atMs) {
      let update = db
        .updateTable("batches")
        .set({ status: "cancelling", cancelling_at: atMs })
        .where("id", "=", id)
        .where("status", "in", ["validating", "in_progress"]);
      if (scope.keyId !== undefined) update = update.where("key_id", "=", scope.keyId);
      await update.execute();
      const row = await batches(scope).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : batchOf(row);
    },
    async claim(ownerId, nowMs, leaseUntilMs, limit) {
      const candidates = await db
        .selectFrom("batches")
        .select("id")
        .where("status", "in", [...activeBatchStatuses])
        .where((eb) => eb.or([eb("owner_id", "is", null), eb("lease_until", "<", nowMs)]))
        .orderBy("created_at")
        .limit(limit)
        .execute();
      const claimed: string[] = [];
      for (const { id } of candidates) {
        // The same condition again, in the update: of two instances that saw the batch free, one updates it.
        const result = await db
          .updateTable("batches")
          .set({ owner_id: ownerId, lease_until: leaseUntilMs })
          .where("id", "=", id)
          .where("status", "in", [...activeBatchStatuses])
          .where((eb) => eb.or([eb("owner_id", "is", null), eb("lease_until", "<", nowMs)]))
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) claimed.push(id);
      }
      return claimed;
    },
    async heldBatches() {
      const rows = await db
        .selectFrom("batches")
        .select(["id", "owner_id"])
        .where("status", "in", [...activeBatchStatuses])
        .where("owner_id", "is not", null)
        .execute();
      return rows.map((row) => ({ id: row.id, ownerId: row.owner_id! }));
    },
    async renewLease(id, ownerId, leaseUntilMs) {
      const result = await db
        .updateTable("batches")
        .set({ lease_until: leaseUntilMs })
        .where("id", "=", id)
        .where("owner_id", "=", ownerId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async releaseLease(id, ownerId) {
      await db
        .updateTable("batches")
        .set({ owner_id: null, lease_until: null })
        .where("id", "=", id)
        .where("owner_id", "=", ownerId)
        .execute();
    },
    async updateBatch(id, update, from) {
      const set: Updateable<BatchesTable> = {};
      if (update.status !== undefined) set.status = update.status;
      if (update.errors !== undefined) set.errors_json = JSON.stringify(update.errors);
      if (update.outputFileId !== undefined) set.output_file_id = update.outputFileId;
      if (update.errorFileId !== undefined) set.error_file_id = update.errorFileId;
      if (update.inProgressAtMs !== undefined) set.in_progress_at = update.inProgressAtMs;
      if (update.finalizingAtMs !== undefined) set.finalizing_at = update.finalizingAtMs;
      if (update.completedAtMs !== undefined) set.completed_at = update.completedAtMs;
      if (update.failedAtMs !== undefined) set.failed_at = update.failedAtMs;
      if (update.expiredAtMs !== undefined) set.expired_at = update.expiredAtMs;
      if (update.cancelledAtMs !== undefined) set.cancelled_at = update.cancelledAtMs;
      let query = db.updateTable("batches").set(set).where("id", "=", id);
      if (from !== undefined) query = query.where("status", "in", [...from]);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
    async insertLine(batchId, line, atMs) {
      const result = await db
        .insertInto("batch_lines")
        .values({
          batch_id: batchId,
          line_index: line.lineIndex,
          ok: line.ok ? 1 : 0,
          result_json: JSON.stringify(line.result),
          finished_at: atMs,
        })
        .onConflict((conflict) => conflict.columns(["batch_id", "line_index"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    async answeredLines(batchId) {
      const rows = await db.selectFrom("batch_lines").select("line_index").where("batch_id", "=", batchId).execute();
      return new Set(rows.map((row) => Number(row.line_index)));
    },
    async lines(batchId) {
      const rows = await db
        .selectFrom("batch_lines")
        .select(["line_index", "ok", "result_json"])
        .where("batch_id", "=", batchId)
        .orderBy("line_index")
        .execute();
      return rows.map((row) => ({
        lineIndex: Number(row.line_index),
        ok: Number(row.ok) === 1,
        result: JSON.parse(row.result_json) as unknown,
      }));
    },
    async lineCounts(batchIds) {
      const counts = new Map<string, { completed: number; failed: number }>();
      for (const id of batchIds) counts.set(id, { completed: 0, failed: 0 });
      if (batchIds.length === 0) return counts;
      const rows = await db
        .selectFrom("batch_lines")
        .select((eb) => ["batch_id", "ok", eb.fn.countAll().as("count")])
        .where("batch_id", "in", [...batchIds])
        .groupBy(["batch_id", "ok"])
        .execute();
      for (const row of rows) {
        const entry = counts.get(row.batch_id)!;
        if (Number(row.ok) === 1) entry.completed += Number(row.count);
        else entry.failed += Number(row.count);
      }
      return counts;
    },
  };
}

function fileOf(row: {
  id: string;
  key_id: string | null;
  purpose: string;
  filename: string;
  bytes: number;
  line_count: number;
  created_at: number;
  expires_at: number | null;
}): StoredFile {
  const file: StoredFile = {
    id: row.id,
    purpose: row.purpose,
    filename: row.filename,
    bytes: Number(row.bytes),
    lineCount: Number(row.line_count),
    createdAtMs: Number(row.created_at),
  };
  if (row.key_id !== null) file.keyId = row.key_id;
  if (row.expires_at !== null) file.expiresAtMs = Number(row.expires_at);
  return file;
}

function batchOf(row: Selectable<BatchesTable>): StoredBatch {
  const optional = (value: number | null): number | undefined => (value === null ? undefined : Number(value));
  const batch: StoredBatch = {
    id: row.id,
    endpoint: row.endpoint,
    inputFileId: row.input_file_id,
    completionWindow: row.completion_window,
    status: row.status as BatchStatus,
    total: Number(row.total),
    createdAtMs: Number(row.created_at),
    expiresAtMs: Number(row.expires_at),
  };
  const times = {
    inProgressAtMs: optional(row.in_progress_at),
    finalizingAtMs: optional(row.finalizing_at),
    completedAtMs: optional(row.completed_at),
    failedAtMs: optional(row.failed_at),
    expiredAtMs: optional(row.expired_at),
    cancellingAtMs: optional(row.cancelling_at),
    cancelledAtMs: optional(row.cancelled_at),
  };
  for (const [field, value] of Object.entries(times)) if (value !== undefined) (batch as unknown as Record<string, number>)[field] = value;
  if (row.key_id !== null) batch.keyId = row.key_id;
  if (row.metadata_json !== null) batch.metadata = JSON.parse(row.metadata_json) as Record<string, string>;
  if (row.errors_json !== null) batch.errors = JSON.parse(row.errors_json) as StoredBatch["errors"];
  if (row.output_file_id !== null) batch.outputFileId = row.output_file_id;
  if (row.error_file_id !== null) batch.errorFileId = row.error_file_id;
  return batch;
}
