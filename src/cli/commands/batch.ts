import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command, Option } from "commander";
import { batchEndpoints, parseBatchInput } from "../../api/batch/batch-input.js";
import type { WireBatch, WireFile } from "../../api/batch/batch-wire.js";
import { apiErrorFromResponse } from "../../client/api-error.js";
import { MoestroError } from "../../errors/index.js";
import { apiKeyFromFlagOrEnv } from "../api-key-option.js";
import { CountProgressBar } from "../count-progress-bar.js";
import { parseInteger } from "../parse.js";

/** Where `moestro batch` sends its calls. */
interface ServerFlags {
  /** The server (else env MOESTRO_URL, else http://127.0.0.1:8080). */
  url?: string;
  /** The API key (else env MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY; none when key checks are off). */
  apiKey?: string;
  json?: boolean;
}

/** The statuses a batch ends in. */
const finalStatuses: ReadonlySet<string> = new Set(["completed", "failed", "expired", "cancelled"]);

function withServerOptions(command: Command): Command {
  return command
    .option("--url <url>", "the moestro server (default: env MOESTRO_URL, else http://127.0.0.1:8080)")
    .option("--api-key <key>", "the API key the batch runs under (default: env MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY)")
    .option("--json", "print JSON");
}

/** The server's Files and Batch APIs, over fetch. */
function clientOf(flags: ServerFlags) {
  const base = (flags.url ?? process.env.MOESTRO_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  const key = apiKeyFromFlagOrEnv(flags.apiKey);
  const call = async (method: string, route: string, body?: string | FormData, contentType?: string): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    if (contentType !== undefined) headers["content-type"] = contentType;
    let response: Response;
    try {
      response = await fetch(`${base}/v1${route}`, { method, headers, body });
    } catch (error) {
      throw new MoestroError("server_unavailable", `Cannot reach ${base}: ${(error as Error).message}. Is 'moestro serve' running there?`, {
        cause: error,
      });
    }
    // The server's error as it sent it (code, type, param, status), printed so by the CLI's error handler (`cli-error.ts`).
    if (!response.ok) throw apiErrorFromResponse(response, await response.text().catch(() => ""), `${method} /v1${route}`);
    return response;
  };
  const json = async <T>(method: string, route: string, body?: unknown): Promise<T> =>
    (await (
      await call(method, route, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : "application/json")
    ).json()) as T;
  return {
    async upload(file: string, bytes: Buffer): Promise<WireFile> {
      const form = new FormData();
      form.set("purpose", "batch");
      form.set("file", new File([bytes], path.basename(file)));
      return (await (await call("POST", "/files", form)).json()) as WireFile;
    },
    create: (body: Record<string, unknown>) => json<WireBatch>("POST", "/batches", body),
    retrieve: (id: string) => json<WireBatch>("GET", `/batches/${encodeURIComponent(id)}`),
    list: (limit: number) => json<{ data: WireBatch[] }>("GET", `/batches?limit=${limit}`),
    cancel: (id: string) => json<WireBatch>("POST", `/batches/${encodeURIComponent(id)}/cancel`),
    content: async (fileId: string) => await (await call("GET", `/files/${encodeURIComponent(fileId)}/content`)).text(),
  };
}

/** One line about a batch: id, status, counts. */
function describe(batch: WireBatch): string {
  const { total, completed, failed } = batch.request_counts;
  return `${batch.id}  ${batch.status}  ${completed + failed}/${total} done (${completed} ok, ${failed} failed)  ${batch.endpoint}`;
}

/** Polls the batch until it ends, drawing a progress bar on stderr (none with `--json`); resolves it as it ended. */
async function watch(client: ReturnType<typeof clientOf>, id: string, intervalMs: number, json: boolean): Promise<WireBatch> {
  const bar = new CountProgressBar({ label: id, isEnabled: !json });
  try {
    for (;;) {
      const batch = await client.retrieve(id);
      const { total, completed, failed } = batch.request_counts;
      bar.update(completed + failed, total, `${batch.status}, ${failed} failed`);
      if (finalStatuses.has(batch.status)) return batch;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    bar.stop();
  }
}

function print(flags: ServerFlags, value: unknown, text: string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/**
 * `moestro batch submit|watch|get|list|cancel|download`: the Batch API of a running server (docs/batch.md), as the
 * `openai` client would call it. Every subcommand takes `--json`.
 */
export function createBatchCommand(): Command {
  const batch = new Command("batch").description("Run batches of requests on a running server (the Batch API, at the batch price).");

  batch.addCommand(
    withServerOptions(
      new Command("submit")
        .description("Upload a JSONL file of requests and create a batch of it.")
        .argument("<file>", "the JSONL input file: one {custom_id, method, url, body} per line")
        .addOption(
          new Option("--endpoint <path>", "the endpoint of every line (default: the first line's url)").choices([...batchEndpoints]),
        )
        .option("--metadata <key=value...>", "metadata of the batch (repeat for several)")
        .option("--watch", "then watch it until it ends, with a progress bar")
        .option("--interval-ms <ms>", "how often --watch polls, ms (default: 1000)", parseInteger),
    ).action(
      async (file: string, flags: ServerFlags & { endpoint?: string; metadata?: string[]; watch?: boolean; intervalMs?: number }) => {
        const client = clientOf(flags);
        let bytes: Buffer;
        try {
          bytes = await readFile(file);
        } catch (error) {
          throw new MoestroError("invalid_request", `Cannot read the batch input file ${file}: ${(error as Error).message}`, {
            param: "file",
            cause: error,
          });
        }
        // The server's own checks, here before the upload: a bad line is named (`Line 1 of the batch input file is not
        // valid JSON: ...`) whether or not --endpoint is given, and nothing is uploaded for a file the server refuses.
        const lines = parseBatchInput(bytes.toString("utf8"));
        const endpoint = flags.endpoint ?? lines[0]!.url;
        const metadata: Record<string, string> = {};
        for (const pair of flags.metadata ?? []) {
          const at = pair.indexOf("=");
          if (at <= 0) throw new MoestroError("invalid_request", `--metadata takes key=value, not '${pair}'.`, { param: "--metadata" });
          metadata[pair.slice(0, at)] = pair.slice(at + 1);
        }
        const uploaded = await client.upload(file, bytes);
        let created = await client.create({
          input_file_id: uploaded.id,
          endpoint,
          completion_window: "24h",
          ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
        });
        if (!flags.json) process.stderr.write(`Uploaded ${uploaded.filename} as ${uploaded.id}; created ${created.id}.\n`);
        if (flags.watch) created = await watch(client, created.id, flags.intervalMs ?? 1000, flags.json === true);
        print(flags, created, describe(created));
      },
    ),
  );

  batch.addCommand(
    withServerOptions(
      new Command("watch")
        .description("Show a batch's progress until it ends.")
        .argument("<id>", "the batch id (batch_...)")
        .option("--interval-ms <ms>", "how often to poll, ms (default: 1000)", parseInteger),
    ).action(async (id: string, flags: ServerFlags & { intervalMs?: number }) => {
      const ended = await watch(clientOf(flags), id, flags.intervalMs ?? 1000, flags.json === true);
      print(flags, ended, describe(ended));
    }),
  );

  batch.addCommand(
    withServerOptions(new Command("get").description("Show a batch.").argument("<id>", "the batch id (batch_...)")).action(
      async (id: string, flags: ServerFlags) => {
        const found = await clientOf(flags).retrieve(id);
        print(flags, found, describe(found));
      },
    ),
  );

  batch.addCommand(
    withServerOptions(
      new Command("list").description("List batches, newest first.").option("--limit <n>", "how many (default: 20)", parseInteger),
    ).action(async (flags: ServerFlags & { limit?: number }) => {
      const { data } = await clientOf(flags).list(flags.limit ?? 20);
      print(flags, data, data.length === 0 ? "No batches." : data.map(describe).join("\n"));
    }),
  );

  batch.addCommand(
    withServerOptions(new Command("cancel").description("Cancel a batch: no line starts after.").argument("<id>", "the batch id")).action(
      async (id: string, flags: ServerFlags) => {
        const cancelled = await clientOf(flags).cancel(id);
        print(flags, cancelled, describe(cancelled));
      },
    ),
  );

  batch.addCommand(
    withServerOptions(
      new Command("download")
        .description("Write a batch's output file (answers) and error file (failed lines) to disk.")
        .argument("<id>", "the batch id")
        .option("--output <file>", "where the answers go (default: <id>_output.jsonl)")
        .option("--errors <file>", "where the failed lines go (default: <id>_errors.jsonl)"),
    ).action(async (id: string, flags: ServerFlags & { output?: string; errors?: string }) => {
      const client = clientOf(flags);
      const found = await client.retrieve(id);
      const written: Record<string, string | null> = { output: null, errors: null };
      if (found.output_file_id !== null) {
        written.output = flags.output ?? `${id}_output.jsonl`;
        await writeFile(written.output, await client.content(found.output_file_id));
      }
      if (found.error_file_id !== null) {
        written.errors = flags.errors ?? `${id}_errors.jsonl`;
        await writeFile(written.errors, await client.content(found.error_file_id));
      }
      const text =
        written.output === null && written.errors === null
          ? `${id} has no output yet (${found.status}).`
          : [written.output && `answers: ${written.output}`, written.errors && `errors: ${written.errors}`].filter(Boolean).join("\n");
      print(flags, { id, status: found.status, ...written }, text);
    }),
  );
  return batch;
}
