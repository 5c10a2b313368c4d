import { isAbortError, MoestroError } from "../errors/index.js";
import { formatCliError } from "./cli-error.js";

/** Options of {@link runUntilInterrupted}. */
export interface RunUntilInterruptedOptions {
  /** The command, as a failed command's line starts (`moestro bench`). */
  prefix: string;
  /** What stderr says when Ctrl-C ended the work (one line, no newline), after `prefix: `. */
  message: string;
  /**
   * Whether the command was given `--json`: the interruption is then written as the JSON error line of every failed
   * command (`{"error": {"message", "code": "interrupted", "type", "param"}}`, see `formatCliError`). Defaults to false.
   */
  json?: boolean;
  /** Called once the work has ended, either way, before the interruption is reported (stops a progress bar). */
  onEnd?: () => void;
}

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) aborts, so that a long command (bench, eval, pull) can stop cleanly
 * and keep what it has: the SIGINT listener lives only while the work runs.
 *
 * @returns the work's result; or `undefined` when Ctrl-C ended it, after writing the interruption to stderr as
 *   `formatCliError` writes a failed command's error (`<prefix>: <message>`, or its JSON line with `json`) and setting
 *   the exit code to 130 (128 + SIGINT, as shells report it).
 * @throws whatever `work` throws, except the abort that Ctrl-C caused.
 */
export async function runUntilInterrupted<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: RunUntilInterruptedOptions,
): Promise<T | undefined> {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    return await work(controller.signal);
  } catch (error) {
    if (!(controller.signal.aborted && isAbortError(error))) throw error;
  } finally {
    process.off("SIGINT", onSigint);
    options.onEnd?.();
  }
  process.stderr.write(
    formatCliError(new MoestroError("interrupted", options.message), { json: options.json ?? false, prefix: options.prefix }),
  );
  process.exitCode = 130;
  return undefined;
}
