import { Hono, type Context } from "hono";
import { adminKeyId } from "../../../auth/rate-limiter.js";
import { MoestroError } from "../../../errors/index.js";
import type { OwnerScope, StoredBatch, StoredFile } from "../../../store/index.js";
import type { AppDeps, AppEnv, BatchDeps } from "../../app-env.js";
import { batchEndpoints, parseBatchInput } from "../../batch/batch-input.js";
import { randomId, toWireBatch, toWireFile } from "../../batch/batch-wire.js";
import { readJsonBody } from "../../serving/json-body.js";

/** How long an uploaded batch file is kept by default: 30 days, as OpenAI keeps files of purpose `batch`. */
export const defaultFileRetentionMs = 30 * 86_400_000;

/** The completion window of a batch: `24h`, the only one OpenAI offers. */
const completionWindowMs = 24 * 3_600_000;

/**
 * Which rows a caller sees: its own key's; every one for the admin key and when key checks are off (the console and
 * `moestro batch` show them all).
 */
function scopeOf(c: Context<AppEnv>, nowMs: number): OwnerScope {
  const keyId = c.get("keyId");
  return keyId === undefined || keyId === adminKeyId ? { nowMs } : { keyId, nowMs };
}

function requireBatches(deps: AppDeps): BatchDeps {
  if (deps.batches === undefined) throw new MoestroError("not_found", "The Files and Batch APIs need the server's store.");
  return deps.batches;
}

/** `limit` of a list request: 1 to 10000, `fallback` when absent. */
function readLimit(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new MoestroError("invalid_request", `limit must be an integer from 1 to 10000, not '${value}'.`, { param: "limit" });
  return limit;
}

/**
 * The Files API for batches (OpenAI API reference: Files): `POST /v1/files` (multipart: `file`, `purpose` `batch`,
 * optional `expires_after[anchor]` `created_at` and `expires_after[seconds]` from 3600 to 2592000), `GET /v1/files`,
 * `GET /v1/files/{id}`, `GET /v1/files/{id}/content`, `DELETE /v1/files/{id}`. An upload is checked whole
 * (`parseBatchInput`): a bad line is a 400 naming it. Files are kept in the store (every instance on one PostgreSQL
 * serves them) for 30 days unless `expires_after` says otherwise (docs/batch.md).
 */
export function createFilesRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  routes.post("/", async (c) => {
    const { repository, fileRetentionMs } = requireBatches(deps);
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("multipart/form-data"))
      throw new MoestroError("invalid_request", "Upload a file as multipart/form-data, with the fields 'file' and 'purpose'.");
    let form: Record<string, string | File | (string | File)[]>;
    try {
      form = await c.req.parseBody({ all: true });
    } catch (error) {
      throw new MoestroError("invalid_request", `The multipart body cannot be read: ${(error as Error).message}`, { cause: error });
    }
    const purpose = form.purpose;
    if (purpose !== "batch") {
      throw new MoestroError(
        "invalid_request",
        `purpose must be 'batch' (the only purpose this server takes), not ${JSON.stringify(purpose ?? null)}.`,
        {
          param: "purpose",
        },
      );
    }
    const file = form.file;
    if (!(file instanceof File))
      throw new MoestroError("invalid_request", "The upload has no 'file' field holding a file.", { param: "file" });
    const bytes = new Uint8Array(await file.arrayBuffer());
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new MoestroError("invalid_request", "The batch input file is not UTF-8 text.", { param: "file" });
    }
    const lines = parseBatchInput(text);
    let retentionMs = fileRetentionMs;
    const anchor = form["expires_after[anchor]"];
    const secondsField = form["expires_after[seconds]"];
    if (anchor !== undefined || secondsField !== undefined) {
      const seconds = Number(secondsField);
      if (anchor !== "created_at")
        throw new MoestroError("invalid_request", "expires_after[anchor] must be 'created_at'.", { param: "expires_after.anchor" });
      if (!Number.isInteger(seconds) || seconds < 3600 || seconds > 2_592_000) {
        throw new MoestroError("invalid_request", "expires_after[seconds] must be an integer from 3600 (1 hour) to 2592000 (30 days).", {
          param: "expires_after.seconds",
        });
      }
      retentionMs = seconds * 1000;
    }
    const createdAtMs = now();
    const keyId = c.get("keyId");
    const stored: StoredFile = {
      id: randomId("file-"),
      purpose,
      filename: file.name.length > 0 ? file.name : "batch.jsonl",
      bytes: bytes.byteLength,
      lineCount: lines.length,
      createdAtMs,
      expiresAtMs: createdAtMs + retentionMs,
    };
    if (keyId !== undefined) stored.keyId = keyId;
    await repository.insertFile(stored, text);
    return c.json(toWireFile(stored));
  });
  routes.get("/", async (c) => {
    const { repository } = requireBatches(deps);
    const limit = readLimit(c.req.query("limit"), 10_000);
    const purpose = c.req.query("purpose");
    const files = await repository.listFiles(scopeOf(c, now()), { limit: limit + 1, after: c.req.query("after"), purpose });
    const data = files.slice(0, limit).map(toWireFile);
    return c.json({
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: files.length > limit,
    });
  });
  const findFile = async (c: Context<AppEnv>): Promise<StoredFile> => {
    const id = c.req.param("id")!;
    const file = await requireBatches(deps).repository.findFile(id, scopeOf(c, now()));
    if (file === undefined) throw new MoestroError("not_found", `No such File object: ${id}`, { param: "id" });
    return file;
  };
  routes.get("/:id", async (c) => c.json(toWireFile(await findFile(c))));
  routes.get("/:id/content", async (c) => {
    const id = c.req.param("id");
    const content = await requireBatches(deps).repository.fileContent(id, scopeOf(c, now()));
    if (content === undefined) throw new MoestroError("not_found", `No such File object: ${id}`, { param: "id" });
    return c.body(content, 200, { "content-type": "application/jsonl" });
  });
  routes.delete("/:id", async (c) => {
    const id = c.req.param("id");
    const deleted = await requireBatches(deps).repository.deleteFile(id, scopeOf(c, now()));
    if (!deleted) throw new MoestroError("not_found", `No such File object: ${id}`, { param: "id" });
    return c.json({ id, object: "file", deleted: true });
  });
  return routes;
}

/**
 * The Batch API (OpenAI API reference: Batch): `POST /v1/batches` (`input_file_id`, `endpoint`, `completion_window`
 * `24h`, optional `metadata`), `GET /v1/batches/{id}`, `GET /v1/batches` (`limit`, `after`), `POST
 * /v1/batches/{id}/cancel`. The batch runner (`api/batch/batch-runner.ts`) runs the lines in the background, under
 * the key that created the batch.
 */
export function createBatchesRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const counted = async (batches: StoredBatch[]) => {
    const counts = await requireBatches(deps).repository.lineCounts(batches.map((batch) => batch.id));
    return batches.map((batch) => toWireBatch(batch, counts.get(batch.id) ?? { completed: 0, failed: 0 }));
  };
  routes.post("/", async (c) => {
    const { repository, wake } = requireBatches(deps);
    const body = await readJsonBody(c);
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new MoestroError("invalid_request", "The request body must be a JSON object.");
    const { input_file_id: inputFileId, endpoint, completion_window: window, metadata } = body as Record<string, unknown>;
    if (typeof inputFileId !== "string")
      throw new MoestroError("invalid_request", "input_file_id is required: the id of a file uploaded with purpose 'batch'.", {
        param: "input_file_id",
      });
    if (typeof endpoint !== "string" || !(batchEndpoints as readonly string[]).includes(endpoint))
      throw new MoestroError("invalid_request", `endpoint must be one of ${batchEndpoints.join(", ")}.`, { param: "endpoint" });
    if (window !== "24h")
      throw new MoestroError("invalid_request", "completion_window must be '24h' (the only window offered).", {
        param: "completion_window",
      });
    if (
      metadata !== undefined &&
      metadata !== null &&
      (typeof metadata !== "object" ||
        Array.isArray(metadata) ||
        Object.keys(metadata).length > 16 ||
        Object.entries(metadata).some(([key, value]) => key.length > 64 || typeof value !== "string" || value.length > 512))
    ) {
      throw new MoestroError(
        "invalid_request",
        "metadata must be an object of at most 16 string values (keys up to 64 characters, values up to 512).",
        {
          param: "metadata",
        },
      );
    }
    const nowMs = now();
    const scope = scopeOf(c, nowMs);
    const file = await repository.findFile(inputFileId, scope);
    if (file === undefined || file.purpose !== "batch") {
      throw new MoestroError("invalid_request", `No batch input file has the id '${inputFileId}' (upload one with purpose 'batch').`, {
        param: "input_file_id",
      });
    }
    const lines = parseBatchInput((await repository.fileContent(inputFileId, scope)) ?? "");
    const other = lines.findIndex((line) => line.url !== endpoint);
    if (other !== -1) {
      throw new MoestroError(
        "invalid_request",
        `Request ${other + 1} of the input file (custom_id '${lines[other]!.custom_id}') has url ${lines[other]!.url}, not the batch's endpoint ${endpoint}.`,
        { param: "endpoint" },
      );
    }
    const keyId = c.get("keyId");
    const batch: StoredBatch = {
      id: randomId("batch_"),
      endpoint,
      inputFileId,
      completionWindow: "24h",
      status: "validating",
      total: lines.length,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + completionWindowMs,
    };
    if (keyId !== undefined) batch.keyId = keyId;
    if (metadata !== undefined && metadata !== null) batch.metadata = metadata as Record<string, string>;
    await repository.insertBatch(batch);
    wake?.();
    return c.json((await counted([batch]))[0]);
  });
  routes.get("/", async (c) => {
    const limit = readLimit(c.req.query("limit"), 20);
    const batches = await requireBatches(deps).repository.listBatches(scopeOf(c, now()), { limit: limit + 1, after: c.req.query("after") });
    const data = await counted(batches.slice(0, limit));
    return c.json({
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: batches.length > limit,
    });
  });
  routes.get("/:id", async (c) => {
    const id = c.req.param("id");
    const batch = await requireBatches(deps).repository.findBatch(id, scopeOf(c, now()));
    if (batch === undefined) throw new MoestroError("not_found", `No such Batch object: ${id}`, { param: "id" });
    return c.json((await counted([batch]))[0]);
  });
  routes.post("/:id/cancel", async (c) => {
    const { repository, wake } = requireBatches(deps);
    const id = c.req.param("id");
    const batch = await repository.requestCancel(id, scopeOf(c, now()), now());
    if (batch === undefined) throw new MoestroError("not_found", `No such Batch object: ${id}`, { param: "id" });
    wake?.();
    return c.json((await counted([batch]))[0]);
  });
  return routes;
}
