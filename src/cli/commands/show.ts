import { Command } from "commander";
import { defaultMoestroHome, ModelStore } from "../../models/model-store.js";
import { createStoreModelResolver, readModelFacts, renderModelFacts, type StoredModelResolver } from "../../planner/index.js";

/** What `moestro show` needs from outside; tests swap them. */
export interface ShowCommandDeps {
  /** Writes to stdout. Defaults to `process.stdout.write`. */
  write?: (text: string) => void;
  /** Environment for `HF_ENDPOINT` and `HF_TOKEN`. Defaults to `process.env`, read when the command runs. */
  env?: Record<string, string | undefined>;
  /** Resolves names of the local store (see `StoredModelResolver`). Defaults to the store in `$MOESTRO_HOME` (`~/.moestro`). */
  resolveStoredModel?: StoredModelResolver;
}

interface ShowFlags {
  json?: boolean;
  hubEndpoint?: string;
}

/** `moestro show <model>`: what a GGUF holds, read from its header alone (local path or `hf:owner/repo:QUANT`). */
export function createShowCommand(deps: ShowCommandDeps = {}): Command {
  return new Command("show")
    .description(
      "Show a model's architecture, total and active parameters, experts, context, quantization mix and chat features, from its GGUF header alone.",
    )
    .argument("<model>", "a .gguf path, a pulled model's name, or a hub reference (hf:owner/repo:QUANT, read with HTTP range requests)")
    .option("--hub-endpoint <url>", "hub base URL (env HF_ENDPOINT, default https://huggingface.co)")
    .option("--json", "print the facts as JSON")
    .action(async (model: string, flags: ShowFlags) => {
      const env = deps.env ?? process.env;
      const write = deps.write ?? ((text: string) => void process.stdout.write(text));
      const facts = await readModelFacts(model, {
        hubEndpoint: flags.hubEndpoint ?? env.HF_ENDPOINT,
        hubToken: env.HF_TOKEN,
        resolveStoredModel: deps.resolveStoredModel ?? createStoreModelResolver(new ModelStore(defaultMoestroHome(env))),
      });
      write(flags.json ? `${JSON.stringify(facts, null, 2)}\n` : renderModelFacts(facts));
    });
}
