import cliProgress from "cli-progress";

/**
 * A progress bar of counted steps (requests, questions) on stderr, drawn by cli-progress: `label [bar] 12/48 | status`.
 * On a stream that is not a terminal it prints a line at every 10% instead, so logs stay readable; with `isEnabled`
 * false it prints nothing.
 */
export class CountProgressBar {
  readonly #bar: cliProgress.SingleBar | undefined;
  readonly #label: string;
  readonly #isEnabled: boolean;
  #isStarted = false;
  #lastDecile = -1;

  /**
   * @param options.label what is counted (`bench`, `eval`).
   * @param options.isEnabled whether to print at all. Defaults to true.
   */
  constructor(options: { label: string; isEnabled?: boolean }) {
    this.#label = options.label;
    this.#isEnabled = options.isEnabled ?? true;
    if (this.#isEnabled && process.stderr.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        { format: `${options.label} [{bar}] {value}/{total} | {status}`, hideCursor: true, stream: process.stderr, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** Shows `completed` of `total` steps (0 ≤ completed ≤ total) with a short status (`measure c=4 A`). */
  update(completed: number, total: number, status: string): void {
    if (!this.#isEnabled) return;
    if (this.#bar) {
      if (!this.#isStarted) {
        this.#bar.start(Math.max(total, 1), completed, { status });
        this.#isStarted = true;
      } else {
        this.#bar.setTotal(Math.max(total, 1));
        this.#bar.update(completed, { status });
      }
      return;
    }
    const decile = total > 0 ? Math.floor((completed / total) * 10) : 0;
    if (decile !== this.#lastDecile) {
      this.#lastDecile = decile;
      process.stderr.write(`${this.#label}: ${completed}/${total} (${status})\n`);
    }
  }

  /** Ends the bar (leaves the terminal line as it is). Calling it again does nothing. */
  stop(): void {
    if (!this.#isStarted) return;
    this.#bar?.stop();
    this.#isStarted = false;
  }
}
