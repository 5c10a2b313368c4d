import { readFileSync } from "node:fs";
import { Command } from "commander";
import { MoestroError } from "../errors/index.js";
import { createServeCommand } from "./commands/serve.js";

function packageVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return packageJson.version;
}

/** Builds the `moestro` command with all its subcommands. */
export function createCli(): Command {
  return new Command("moestro")
    .description("A self-hosted model studio for open-weight LLMs, Mixture-of-Experts first.")
    .version(packageVersion())
    .addCommand(createServeCommand());
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
