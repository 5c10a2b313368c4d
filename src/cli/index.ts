import { readFileSync } from "node:fs";
import { Command } from "commander";
import { MoestroError } from "../errors/index.js";
import { createBenchCommand } from "./commands/bench.js";
import { createEvalCommand } from "./commands/eval.js";
import { createPlanCommand } from "./commands/plan.js";
import { createServeCommand } from "./commands/serve.js";
import { createConfigCommand } from "./commands/config.js";
import { createModelCommands } from "./commands/models.js";
import { createShowCommand } from "./commands/show.js";
import { createKeysCommand } from "./commands/keys.js";
import { createUsageCommand } from "./commands/usage.js";

function packageVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return packageJson.version;
}

/** Builds the `moestro` command with all its subcommands. */
export function createCli(): Command {
  const cli = new Command("moestro")
    .description("A self-hosted model studio for open-weight LLMs, Mixture-of-Experts first.")
    .version(packageVersion())
    .addCommand(createServeCommand())
    .addCommand(createConfigCommand())
    .addCommand(createKeysCommand())
    .addCommand(createUsageCommand())
    .addCommand(createShowCommand())
    .addCommand(createPlanCommand())
    .addCommand(createBenchCommand())
    .addCommand(createEvalCommand());
  for (const command of createModelCommands()) cli.addCommand(command);
  return cli;
}

/**
 * Runs the CLI on `argv` (as `process.argv`). Errors are printed as one line (and the exit code set to 1), not as a
 * stack trace.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await createCli().parseAsync([...argv]);
  } catch (error) {
    const message = error instanceof MoestroError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`moestro: ${message}\n`);
    process.exitCode = 1;
  }
}
