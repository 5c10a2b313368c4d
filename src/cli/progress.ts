import cliProgress from "cli-progress";

export { formatBytes as formatByteSize } from "../util/size-units.js";
import { formatBytes as formatByteSize } from "../util/size-units.js";

/**
 * A download progress bar on stderr (cli-progress): percentage, bytes done of total, speed and ETA. On a stream that is
 * not a terminal it prints a line every 10% instead, so logs stay readable.
 */
export class DownloadProgressBar {
  readonly #bar: cliProgress.SingleBar | undefined;
  readonly #startedAt = performance.now();
  #started = false;
  #lastDecile = -1;
  readonly #label: string;

  /** @param label what is downloading (a model name). */
  constructor(label: string) {
    this.#label = label;
    if (process.stderr.isTTY) {
      this.#bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {percentage}% | {done} / {size} | {speed}/s | ETA {eta_formatted}`,
          hideCursor: true,
          stream: process.stderr,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** Shows `completedBytes` of `totalBytes` (unknown total: bytes only). */
  update(completedBytes: number, totalBytes: number | undefined): void {
    const total = totalBytes ?? completedBytes;
    const seconds = Math.max((performance.now() - this.#startedAt) / 1000, 0.001);
    const payload = {
      done: formatByteSize(completedBytes),
      size: totalBytes === undefined ? "?" : formatByteSize(total),
      speed: formatByteSize(completedBytes / seconds),
    };
    if (this.#bar) {
      if (!this.#started) {
        this.#bar.start(Math.max(total, 1), completedBytes, payload);
        this.#started = true;
      } else {
        this.#bar.setTotal(Math.max(total, 1));
        this.#bar.update(completedBytes, payload);
      }
      return;
    }
    const decile = total > 0 ? Math.floor((completedBytes / total) * 10) : 0;
    if (decile !== this.#lastDecile) {
      this.#lastDecile = decile;
      process.stderr.write(`${this.#label}: ${decile * 10}% (${payload.done} / ${payload.size}, ${payload.speed}/s)\n`);
    }
  }

  /** Ends the bar. */
  stop(): void {
    this.#bar?.stop();
  }
}
