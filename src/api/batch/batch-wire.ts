import type { StoredBatch, StoredFile } from "../../store/index.js";

/** OpenAI's File object (API reference: Files, "The file object"). Times are Unix seconds. */
export interface WireFile {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  /** When the file stops being served; `null`: never. */
  expires_at: number | null;
  filename: string;
  /** `batch` (an upload) or `batch_output` (a batch's output or error file). */
  purpose: string;
  /** Always `processed`: a file is checked whole when uploaded. */
  status: "processed";
  status_details: null;
}

/** OpenAI's Batch object (API reference: Batch, "The batch object"). Times are Unix seconds, `null` until they happen. */
export interface WireBatch {
  id: string;
  object: "batch";
  endpoint: string;
  errors: { object: "list"; data: Array<{ code: string; message: string; param: string | null; line: number | null }> } | null;
  input_file_id: string;
  completion_window: string;
  status: StoredBatch["status"];
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  /** Lines in the input file, and how many of them succeeded and failed so far. */
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);
const maybeSeconds = (ms: number | undefined): number | null => (ms === undefined ? null : seconds(ms));

/** A stored file in OpenAI's shape. */
export function toWireFile(file: StoredFile): WireFile {
  return {
    id: file.id,
    object: "file",
    bytes: file.bytes,
    created_at: seconds(file.createdAtMs),
    expires_at: maybeSeconds(file.expiresAtMs),
    filename: file.filename,
    purpose: file.purpose,
    status: "processed",
    status_details: null,
  };
}

/** A stored batch in OpenAI's shape, with its line counts so far. */
export function toWireBatch(batch: StoredBatch, counts: { completed: number; failed: number }): WireBatch {
  return {
    id: batch.id,
    object: "batch",
    endpoint: batch.endpoint,
    errors:
      batch.errors === undefined
        ? null
        : { object: "list", data: batch.errors.map((error) => ({ param: null, line: null, ...error, code: error.code })) },
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: batch.outputFileId ?? null,
    error_file_id: batch.errorFileId ?? null,
    created_at: seconds(batch.createdAtMs),
    in_progress_at: maybeSeconds(batch.inProgressAtMs),
    expires_at: seconds(batch.expiresAtMs),
    finalizing_at: maybeSeconds(batch.finalizingAtMs),
    completed_at: maybeSeconds(batch.completedAtMs),
    failed_at: maybeSeconds(batch.failedAtMs),
    expired_at: maybeSeconds(batch.expiredAtMs),
    cancelling_at: maybeSeconds(batch.cancellingAtMs),
    cancelled_at: maybeSeconds(batch.cancelledAtMs),
    request_counts: { total: batch.total, ...counts },
    metadata: batch.metadata ?? null,
  };
}

/** A random id: `prefix` and 24 hex digits. */
export function randomId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`;
}
