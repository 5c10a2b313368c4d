import { Command } from "commander";
import { ApiError } from "../../client/api-error.js";
import { createConsoleClient } from "../../client/console-client.js";
import { loadConfig } from "../../config/index.js";
import { MoestroError } from "../../errors/index.js";
import { createHubClient } from "../../models/hub-client.js";
import { defaultMoestroHome, ModelStore, type StoredModel } from "../../models/model-store.js";
import { createModelPuller } from "../../models/pull-model.js";
import { formatTable } from "../format-table.js";
import { DownloadProgressBar, formatByteSize } from "../progress.js";
import { runUntilInterrupted } from "../run-until-interrupted.js";
import type { WireLoadedModel, WirePlacement, WireUpstream } from "../../wire/console.js";

/** The store and puller as the config says (home, hub endpoint and token). */
export function openModelStore(flags: { home?: string } = {}) {
  const config = loadConfig({ env: process.env, flags: { home: flags.home } });
  const store = new ModelStore(config.home ?? defaultMoestroHome(process.env));
  const hub = createHubClient({ endpoint: config.hub.endpoint, token: config.hub.token });
  return { config, store, puller: createModelPuller({ store, hub }) };
}

/**
 * Pulls a model with a progress bar on stderr (unless `quiet`), resolving an alias from the config first.
 *
 * @returns the stored model.
 * @throws {MoestroError} as `ModelPuller.pull`.
 */
export async function pullWithProgress(
  ref: string,
  options: { home?: string; quiet?: boolean; signal?: AbortSignal } = {},
): Promise<StoredModel> {
  const { config, puller } = openModelStore(options);
  const target = config.aliases[ref] ?? ref;
  const bar = options.quiet ? undefined : new DownloadProgressBar(target.replace(/^hf:/, ""));
  try {
    for await (const progress of puller.pull(target, { signal: options.signal })) {
      if (progress.status === "downloading") bar?.update(progress.completedBytes, progress.totalBytes);
      if (progress.status === "done") return progress.stored!;
    }
    throw new MoestroError("internal_error", "The pull ended without a result.");
  } finally {
    bar?.stop();
  }
}

function describe(model: StoredModel) {
  return {
    name: model.name,
    ref: model.ref,
    path: model.path,
    sizeBytes: model.sizeBytes,
    files: model.files,
    pulledAt: new Date(model.pulledAtMs).toISOString(),
  };
}

/** `moestro pull`, `moestro ls`, `moestro rm`: the local model store. */
export function createModelCommands(): Command[] {
  const pull = new Command("pull")
    .description(
      "Download a GGUF model into the store ($MOESTRO_HOME/models): hf:owner/repo:QUANT, hf:owner/repo/file.gguf, an https URL, or an alias. Resumes an interrupted download; checks size and SHA-256.",
    )
    .argument("<model>", "what to pull")
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print the stored model as JSON (no progress bar)")
    .action(async (ref: string, flags: { home?: string; json?: boolean }) => {
      const model = await runUntilInterrupted((signal) => pullWithProgress(ref, { home: flags.home, quiet: flags.json, signal }), {
        prefix: "moestro pull",
        message: "interrupted; run the same command again to resume.",
        json: flags.json,
      });
      if (model === undefined) return;
      if (flags.json) process.stdout.write(JSON.stringify(describe(model)) + "\n");
      else process.stdout.write(`pulled ${model.name} (${formatByteSize(model.sizeBytes)}) to ${model.path}\n`);
    });

  const ls = new Command("ls")
    .alias("list")
    .description("List the models in the store.")
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print a JSON array")
    .action(async (flags: { home?: string; json?: boolean }) => {
      const { store, config } = openModelStore(flags);
      const models = await store.list();
      if (flags.json) {
        process.stdout.write(JSON.stringify(models.map(describe)) + "\n");
        return;
      }
      if (models.length === 0) {
        process.stdout.write(`No models in ${store.root}. Pull one: moestro pull ${config.defaultModel}\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ["NAME", "SIZE", "PULLED"],
          models.map((model) => [
            model.name,
            formatByteSize(model.sizeBytes),
            new Date(model.pulledAtMs).toISOString().slice(0, 16).replace("T", " "),
          ]),
        ) + "\n",
      );
    });

  const rm = new Command("rm")
    .alias("remove")
    .description("Delete a model and its files from the store.")
    .argument("<model>", "the model's name, as ls shows it")
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print the deleted model as JSON")
    .action(async (name: string, flags: { home?: string; json?: boolean }) => {
      const { store, config } = openModelStore(flags);
      const model = await store.remove(config.aliases[name]?.replace(/^hf:/, "") ?? name);
      if (flags.json) process.stdout.write(JSON.stringify({ deleted: describe(model) }) + "\n");
      else process.stdout.write(`deleted ${model.name} (${formatByteSize(model.sizeBytes)})\n`);
    });

  const ps = new Command("ps")
    .description(
      "List the models loaded by a running server: engine (inproc, a llama-server worker with its pid and restarts, or upstreams with each one's state, requests in flight, errors and latency), memory, requests in flight, when each unloads, where its weights sit.",
    )
    .option("--url <url>", "the server (env MOESTRO_URL, default http://127.0.0.1:8080)")
    .option("--admin-key <key>", "the admin key when key checks are on (env MOESTRO_ADMIN_KEY)")
    .option("--json", "print the server's JSON: an array of loaded models, each with engine, placement, worker and upstreams")
    .action(async (flags: { url?: string; adminKey?: string; json?: boolean }) => {
      const config = loadConfig({ env: process.env, flags: { url: flags.url, adminKey: flags.adminKey } });
      const base = (config.url ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
      const client = createConsoleClient({ baseUrl: base, adminKey: config.adminKey, timeoutMs: 10_000 });
      const loaded = await client.listLoaded().catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "connection_error") {
          const reason = error.cause instanceof Error ? error.cause.message : error.message;
          throw new MoestroError(
            "server_unavailable",
            `No moestro server answers at ${base} (${reason}); start one with moestro serve, or pass --url.`,
          );
        }
        // The server's own code, type and status stay (a keyed server without a key: 401 missing_api_key), so that
        // `--json` tells scripts why; only the message says what was asked.
        if (error instanceof ApiError)
          throw new ApiError(`${base} refused the list of loaded models: ${error.message}`, {
            status: error.status,
            code: error.code,
            type: error.type,
            param: error.param,
            requestId: error.requestId,
            cause: error,
          });
        throw error;
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(loaded) + "\n");
        return;
      }
      // Ejected upstreams, with why: one refusing the gateway's key lists no model, so no pool above shows it.
      const upstreams = await client.listUpstreams().then(
        (list) => list.data,
        () => [],
      );
      process.stdout.write(formatLoadedModels(loaded) + formatEjectedUpstreams(upstreams));
    });

  return [pull, ls, rm, ps];
}

/**
 * One line per ejected upstream (`GET /v1/moestro/upstreams`): its name, URL and why it is ejected (a failed health
 * check, a 401 or 403 on its model list); empty when none is. Ends with a newline when not empty.
 */
export function formatEjectedUpstreams(upstreams: readonly WireUpstream[]): string {
  return upstreams
    .filter((upstream) => upstream.state === "ejected")
    .map((upstream) => `Upstream ${upstream.name} (${upstream.url}) is ejected: ${upstream.reason ?? "it failed"}.\n`)
    .join("");
}

/**
 * The human output of `moestro ps`: one row per loaded model with its engine (`inproc`, `llama-server`; a worker's
 * speculative decoding after it, `llama-server (speculative: draft)`, `(speculative: off)` once it backed off), the worker's
 * pid and restarts (`-` for the in-process engine, and for a pid while the worker restarts), memory, requests,
 * sequences, when it unloads, and where its weights sit (the placement's words, then `-ngl N` and `--n-cpu-moe N`
 * when not 0); `No model is loaded.` when none is. Models served by upstreams are followed by one row per upstream of
 * their pool: its state, requests in flight, requests and errors since start, latency (ms) and URL. Ends with a newline.
 */
export function formatLoadedModels(models: readonly WireLoadedModel[]): string {
  if (models.length === 0) return "No model is loaded.\n";
  const upstreams = models.flatMap((model) => (model.upstreams ?? []).map((upstream) => ({ model: model.id, ...upstream })));
  const upstreamTable =
    upstreams.length === 0
      ? ""
      : formatTable(
          ["MODEL", "UPSTREAM", "STATE", "IN FLIGHT", "REQUESTS", "ERRORS", "LATENCY", "URL"],
          upstreams.map((upstream) => [
            upstream.model,
            upstream.name,
            upstream.ejected_until !== null && upstream.state === "healthy" ? "rate-limited" : upstream.state,
            String(upstream.in_flight),
            String(upstream.requests_total),
            String(upstream.errors_total),
            upstream.latency_ms === null ? "-" : `${Math.round(upstream.latency_ms)} ms`,
            upstream.url,
          ]),
        ) + "\n";
  return (
    formatTable(
      ["NAME", "ENGINE", "PID", "RESTARTS", "MEMORY", "REQUESTS", "SEQUENCES", "UNLOADS", "PLACEMENT"],
      models.map((model) => [
        model.id,
        model.worker?.speculation == null
          ? (model.engine ?? "-")
          : `${model.engine ?? "-"} (speculative: ${model.worker.speculation.replace(/ \(.*/, "")})`,
        model.worker?.pid == null ? "-" : String(model.worker.pid),
        model.worker == null ? "-" : String(model.worker.restarts),
        formatByteSize(model.memory_bytes),
        String(model.active_requests),
        String(model.sequences_in_use),
        model.expires_at ?? (model.active_requests > 0 ? "when idle" : "never"),
        model.placement === undefined ? "-" : describePlacement(model.placement),
      ]),
    ) +
    "\n" +
    upstreamTable
  );
}

/** A placement in words, with llama.cpp's layer counts when not 0: `experts of … in RAM (-ngl 99, --n-cpu-moe 30)`. */
function describePlacement(placement: WirePlacement): string {
  const counts = [
    placement.gpu_layers > 0 ? `-ngl ${placement.gpu_layers}` : undefined,
    placement.cpu_moe_layers > 0 ? `--n-cpu-moe ${placement.cpu_moe_layers}` : undefined,
  ].filter((count) => count !== undefined);
  return counts.length === 0 ? placement.description : `${placement.description} (${counts.join(", ")})`;
}
