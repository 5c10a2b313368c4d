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
  for (const command of commandTree(cli)) if (command.commands.length > 0) answerAsGroup(command);
  return cli;
}

/**
 * Makes a command group (`moestro`, `moestro keys`, ...: a command with subcommands) answer on its own, as docker's do:
 * bare, it prints its help on stdout and exits 0 (commander's default is help on stderr and exit code 1, as for an
 * error); with `--json`, its subcommands as one JSON object `{command, description, commands: [{name, aliases, usage,
 * description}]}`, so that "every command takes `--json`" holds for groups too. An unknown subcommand stays commander's
 * error (`unknown command 'lss'`, with its "Did you mean ls?"). The group's options are read only before the
 * subcommand's name (`enablePositionalOptions`), so that `moestro keys ls --json` leaves `--json` to `ls`.
 */
function answerAsGroup(group: Command): void {
  group
    .enablePositionalOptions()
    .allowExcessArguments()
    .option("--json", "print the subcommands as JSON")
    .action((flags: { json?: boolean }) => {
      if (group.args.length > 0) failUnknownCommand(group);
      if (!flags.json) {
        group.outputHelp();
        return;
      }
      const commands = group.commands.map((command) => ({
        name: command.name(),
        aliases: command.aliases(),
        usage: command.usage(),
        description: command.description(),
      }));
      process.stdout.write(`${JSON.stringify({ command: commandPath(group), description: group.description(), commands })}\n`);
    });
}

/**
 * Commander's own error for a group's unknown subcommand, with its "Did you mean" suggestion: `unknownCommand` exists
 * in commander 14 but is not in its types, so a plain `unknown command` error stands in should it go.
 */
function failUnknownCommand(group: Command): never {
  const unknownCommand = (group as Command & { unknownCommand?: () => never }).unknownCommand;
  if (typeof unknownCommand === "function") unknownCommand.call(group);
  return group.error(`error: unknown command '${String(group.args[0])}'`, { code: "commander.unknownCommand" });
}

/**
 * Ends the process quietly when the reader of stdout or stderr goes away (`moestro usage | head -1`): the rest of the
 * output has no reader, as `git log | head` stops. Exits with the code set so far (0, or 1 when an error was being
 * written). Without this, Node reports the EPIPE as an unhandled 'error' event, with a stack, and exits 1. Any other
 * write error is thrown on, as before.
 */
function exitQuietlyOnBrokenPipe(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  });
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
 * through `formatCliError` too (`runUntilInterrupted`), with exit code 130. Output into a pipe whose reader stops early
 * (`| head`) ends the command quietly (`exitQuietlyOnBrokenPipe`).
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  exitQuietlyOnBrokenPipe(process.stdout);
  exitQuietlyOnBrokenPipe(process.stderr);
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
