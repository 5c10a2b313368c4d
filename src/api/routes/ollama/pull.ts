import type { Context } from "hono";
import { stream } from "hono/streaming";
import { findOllamaModel, ollamaPullReference } from "../../../dialects/ollama/model-names.js";
import { ollamaPullRequestSchema } from "../../../dialects/ollama/schemas.js";
import type { OllamaWirePullProgress } from "../../../dialects/ollama/wire.js";
import { parseWith } from "../../../dialects/openai/convert-request.js";
import { MoestroError } from "../../../errors/index.js";
import type { PullProgress } from "../../../models/pull-model.js";
import type { AppEnv } from "../../app-env.js";
import { dialectError } from "../../error-response.js";
import { readJsonBody } from "../../serving/json-body.js";
import { requestSignal } from "../../serving/request-abort.js";
import { ollamaNdjson } from "../../serving/respond.js";
import type { OllamaContext } from "./ollama-context.js";

/** moestro's pull progress as Ollama's lines (docs/api.md "Pull a Model"). */
function toOllamaProgress(progress: PullProgress): OllamaWirePullProgress[] {
  switch (progress.status) {
    case "resolving":
      return [{ status: "pulling manifest" }];
    case "downloading": {
      // moestro counts bytes over all of a model's files; the file's name stands in for Ollama's layer digest.
      const file = progress.file ?? progress.model;
      const line: OllamaWirePullProgress = { status: `pulling ${file}`, digest: file, completed: progress.completedBytes };
      if (progress.totalBytes !== undefined) line.total = progress.totalBytes;
      return [line];
    }
    case "done":
      return [{ status: "verifying sha256 digest" }, { status: "writing manifest" }, { status: "success" }];
    default:
      return progress.status satisfies never;
  }
}

/**
 * `POST /api/pull` `{model}` (or `name`, as ollama-js sends it), through moestro's pull (the same as `POST
 * /v1/moestro/pull`): `hf.co/owner/repo:QUANT` pulls `hf:owner/repo:QUANT`, a config alias pulls its target, a name
 * already served answers success at once. Progress streams as NDJSON (`{"status", "digest", "total", "completed"}`,
 * ending with `{"status": "success"}`, or `{"error": "…"}` after a failure); `stream: false` answers one object at the
 * end.
 *
 * @throws {MoestroError} `invalid_request` (400) for an Ollama library name that is no alias (the message says what to
 *   pull instead), before any byte; `not_found` (404) when the server has no model store; with `stream: false`, what
 *   the pull throws.
 */
export function createOllamaPullHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const { deps } = context;
    const body = parseWith(ollamaPullRequestSchema, await readJsonBody(c));
    const name = (body.model ?? body.name)!;
    const streamed = body.stream ?? true;
    const alreadyServed = findOllamaModel(name, await deps.models.listEntries(), context.copies) !== undefined;
    if (alreadyServed) return streamed ? ndjsonResponse(c, [{ status: "success" }]) : c.json({ status: "success" });
    const reference = ollamaPullReference(name, deps.ollama?.aliases ?? {});
    const puller = deps.puller;
    if (puller === undefined) throw new MoestroError("not_found", "This server has no model store to pull into.");
    puller.checkRef(reference);
    if (!streamed) {
      const abort = requestSignal(c, deps);
      try {
        for await (const _progress of puller.pull(reference, { signal: abort.signal })) {
          // Only the end is answered.
        }
      } catch (error) {
        throw abort.errorFor(error);
      } finally {
        abort.detach();
      }
      return c.json({ status: "success" });
    }
    for (const [header, value] of Object.entries(ollamaNdjson.headers)) c.header(header, value);
    return stream(c, async (output) => {
      // Ends with the client's connection or the server's shutdown.
      const abort = requestSignal(c, deps);
      output.onAbort(() => abort.abort());
      try {
        for await (const progress of puller.pull(reference, { signal: abort.signal })) {
          for (const line of toOllamaProgress(progress)) await output.write(ollamaNdjson.frame(line));
        }
      } catch (error) {
        const reported = abort.errorFor(error);
        const requestId = c.get("requestId");
        if (!(reported instanceof MoestroError) && !abort.signal.aborted) deps.logger.error({ err: error, requestId }, "pull failed");
        if (!output.aborted) await output.write(ollamaNdjson.frame(dialectError("ollama", reported, requestId).body));
      } finally {
        abort.detach();
      }
    });
  };
}

/** An NDJSON response of fixed lines. */
function ndjsonResponse(c: Context<AppEnv>, lines: readonly object[]): Response {
  return c.body(lines.map((line) => ollamaNdjson.frame(line)).join(""), 200, { ...ollamaNdjson.headers });
}
