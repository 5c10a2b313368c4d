import { CommanderError } from "commander";
import { type ErrorCode, MoestroError } from "../errors/index.js";

/**
 * A CLI failure as scripts read it with `--json`: the body of `{"error": {...}}`, the same fields as the HTTP API's
 * error shape (`errors/codes.ts`).
 */
export interface CliErrorBody {
  /** One line, the same text the plain output prints after `moestro: `. */
  message: string;
  /**
   * A stable code of `errors/codes.ts`: the `MoestroError`'s own; `invalid_request` for a flag or argument that the
   * command line parser refuses; `internal_error` for anything else.
   */
  code: ErrorCode;
  /** OpenAI's error type of the code (`invalid_request_error`, `server_error`). */
  type: string;
  /** The flag (`--port`) or config key (`engine.threads`) the error is about, or `null`. */
  param: string | null;
}

/**
 * Turns anything a command threw into a {@link CliErrorBody}. Commander's own `error: ` prefix is dropped, and a
 * refused option value names its long flag as `param`.
 */
export function describeCliError(error: unknown): CliErrorBody {
  if (error instanceof MoestroError) return { message: error.message, code: error.code, type: error.type, param: error.param };
  if (error instanceof CommanderError) {
    const flags = /option '([^']+)'/.exec(error.message)?.[1];
    const longFlag = flags
      ?.split(/[ ,|]+/)
      .find((part) => part.startsWith("--"))
      ?.replace(/[<[].*$/, "");
    return {
      message: error.message.replace(/^error: /, ""),
      code: "invalid_request",
      type: "invalid_request_error",
      param: longFlag ?? null,
    };
  }
  return { message: error instanceof Error ? error.message : String(error), code: "internal_error", type: "server_error", param: null };
}

/**
 * The line a failed command writes to stderr: `{"error": {...}}` (one JSON object, see {@link CliErrorBody}) when the
 * command was given `--json`, else `<prefix>: <message>`. Ends with a newline.
 */
export function formatCliError(error: unknown, options: { json: boolean; prefix: string }): string {
  const body = describeCliError(error);
  return options.json ? `${JSON.stringify({ error: body })}\n` : `${options.prefix}: ${body.message}\n`;
}

/** Whether a commander "error" is a normal exit: help or the version was printed (exit code 0, or help for no command). */
export function isCommanderExit(error: unknown): error is CommanderError {
  return error instanceof CommanderError && ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code);
}
