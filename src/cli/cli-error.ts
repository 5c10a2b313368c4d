import { CommanderError } from "commander";
import { ApiError } from "../client/api-error.js";
import { type ErrorCode, errorCodes, MoestroError } from "../errors/index.js";

/**
 * A CLI failure as scripts read it with `--json`: the body of `{"error": {...}}`, the same fields as the HTTP API's
 * error shape (`errors/codes.ts`).
 */
export interface CliErrorBody {
  /** One line, the same text the plain output prints after `moestro: `. */
  message: string;
  /**
   * A stable code of `errors/codes.ts`: the `MoestroError`'s own; for an error a server answered, the server's code as
   * it sent it (a moestro server sends only these codes; another OpenAI-compatible server may send its own), or
   * `internal_error` when it sent none; `server_unavailable` when no server answered; `invalid_request` for a flag or
   * argument that the command line parser refuses; `internal_error` for anything else.
   */
  code: ErrorCode | (string & {});
  /** OpenAI's error type of the code (`invalid_request_error`, `server_error`): the server's own for an error it answered. */
  type: string;
  /** The flag (`--port`), config key (`engine.threads`) or, for an error a server answered, request field the error is about, or `null`. */
  param: string | null;
  /** The HTTP status of the server's answer; only on an error a server answered (absent otherwise). */
  status?: number;
}

/**
 * Turns anything a command threw into a {@link CliErrorBody}. Commander's own `error: ` prefix is dropped, and a
 * refused option value names its long flag as `param`. An `ApiError` (a server's error answer, `client/api-error.ts`)
 * keeps the server's message, code, type and param, and adds its HTTP `status`; one with no answer (status 0,
 * `connection_error`) is `server_unavailable`.
 */
export function describeCliError(error: unknown): CliErrorBody {
  if (error instanceof MoestroError) return { message: error.message, code: error.code, type: error.type, param: error.param };
  if (error instanceof ApiError) {
    // No answer at all (refused connection, DNS, time limit), or one that broke off: the server is not there to say more.
    if (error.status === 0 || error.code === "connection_error")
      return describeCliError(new MoestroError("server_unavailable", error.message));
    const code = error.code ?? "internal_error";
    const type = error.type ?? (code in errorCodes ? errorCodes[code as ErrorCode].type : "server_error");
    return { message: error.message, code, type, param: error.param, status: error.status };
  }
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
