import { readFileSync } from "node:fs";
import { Command } from "commander";
import { formatCliError, isCommanderExit } from "./cli-error.js";
import { unknownEnvVariables } from "../config/index.js";
import { createBenchCommand } from "./commands/bench.js";
import { createEngineCommand } from "./commands/engine.js";
import { createEvalCommand } from "./commands/eval.js";
import { createPlanCommand } from "./commands/plan.js";
import { createServeCommand } from "./commands/serve.js";
import { createConfigCommand } from "./commands/config.js";
import { createModelCommands } from "./commands/models.js";
import { createShowCommand } from "./commands/show.js";
import { createKeysCommand } from "./commands/keys.js";
import { createUsageCommand } from "./commands/usage.js";
import { createBatchCommand } from "./commands/batch.js";

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
    .addCommand(createBatchCommand())
    .addCommand(createShowCommand())
    .addCommand(createPlanCommand())
    .addCommand(createBenchCommand())
    .addCommand(createEvalCommand())
    .addCommand(createEngineCommand());
  for (const command of createModelCommands()) cli.addCommand(command);
  return cli;
}

/** Every command below `command`, itself included. */
function commandTree(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandTree)];
}

/** `moestro keys create` for that command: its name and its parents'. */
function commandPath(command: Command): string {
  return command.parent ? `${commandPath(command.parent)} ${command.name()}` : command.name();
}

/**
 * Runs the CLI on `argv` (as `process.argv`). Every error, from the argument parser or from a command, is printed here:
 * one line on stderr and exit code 1, never a stack trace. The line is `moestro <command>: <message>`, or, when
 * `--json` is among the arguments, one JSON object `{"error": {"message", "code", "type", "param"}}` (see
 * `CliErrorBody`), so that scripts can read it; stdout stays for results. Before a command runs, each `MOESTRO_*`
 * variable that names no config key is warned of on stderr, one line each (`unknownEnvVariables`; with `--json`, a JSON
 * line `{"warning": {"message"}}`). A long command that Ctrl-C stops (bench, eval, pull) reports it in the same format,
 * through `formatCliError` too (`runUntilInterrupted`), with exit code 130.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  const cli = createCli();
  const endOfOptions = argv.indexOf("--");
  const isJson = (endOfOptions === -1 ? argv : argv.slice(0, endOfOptions)).includes("--json");
  let prefix = "moestro";
  for (const command of commandTree(cli)) {
    // Commander would print its own errors and exit; they are printed below with the command's, in one format.
    command
      .exitOverride((error) => {
        prefix = commandPath(command);
        throw error;
      })
      .configureOutput({ outputError: () => {} });
  }
  cli.hook("preAction", (_cli, actionCommand) => {
    prefix = commandPath(actionCommand);
    // A misspelt MOESTRO_* variable would otherwise leave its default in force unnoticed; it is said, not refused, as
    // the environment may hold variables meant for another moestro version.
    for (const warning of unknownEnvVariables(process.env))
      process.stderr.write(isJson ? `${JSON.stringify({ warning: { message: warning } })}\n` : `${prefix}: warning: ${warning}\n`);
  });
  try {
    await cli.parseAsync([...argv]);
  } catch (error) {
    if (isCommanderExit(error)) {
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(formatCliError(error, { json: isJson, prefix }));
    process.exitCode = 1;
  }
}
