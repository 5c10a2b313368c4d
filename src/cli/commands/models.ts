import { Command } from "commander";
import { loadConfig } from "../../config/index.js";
import { MoestroError } from "../../errors/index.js";
import { createHubClient } from "../../models/hub-client.js";
import { defaultMoestroHome, ModelStore, type StoredModel } from "../../models/model-store.js";
import { createModelPuller } from "../../models/pull-model.js";
import { formatTable } from "../format-table.js";
import { DownloadProgressBar, formatByteSize } from "../progress.js";

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
export async function pullWithProgress(ref: string, options: { home?: string; quiet?: boolean; signal?: AbortSignal } = {}): Promise<StoredModel> {
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
  return { name: model.name, ref: model.ref, path: model.path, sizeBytes: model.sizeBytes, files: model.files, pulledAt: new Date(model.pulledAtMs).toISOString() };
}

/** `moestro pull`, `moestro ls`, `moestro rm`: the local model store. */
export function createModelCommands(): Command[] {
  const pull = new Command("pull")
    .description("Download a GGUF model into the store ($MOESTRO_HOME/models): hf:owner/repo:QUANT, hf:owner/repo/file.gguf, an https URL, or an alias. Resumes an interrupted download; checks size and SHA-256.")
    .argument("<model>", "what to pull")
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print the stored model as JSON (no progress bar)")
    .action(async (ref: string, flags: { home?: string; json?: boolean }) => {
      const controller = new AbortController();
      process.once("SIGINT", () => controller.abort(new MoestroError("internal_error", "Interrupted; run the same command again to resume.")));
      const model = await pullWithProgress(ref, { home: flags.home, quiet: flags.json, signal: controller.signal });
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
      process.stdout.write(formatTable(["NAME", "SIZE", "PULLED"], models.map((model) => [model.name, formatByteSize(model.sizeBytes), new Date(model.pulledAtMs).toISOString().slice(0, 16).replace("T", " ")])) + "\n");
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

  return [pull, ls, rm];
}
