/** What {@link StopSequenceMatcher.push} found. */
export interface StopMatchResult {
  /** Text that is safe to emit now: it cannot be part of a stop sequence. */
  text: string;
  /** Whether a stop sequence was found; `text` then ends right before it and everything after it is dropped. */
  stopped: boolean;
  /** The stop sequence found (the first in the text; the earliest listed when two start at the same place), when `stopped`. */
  stopSequence?: string;
}

/**
 * Finds stop sequences in streamed text without ever leaking one, even in part.
 *
 * Text that could still turn into a stop sequence (a suffix of what was pushed that is a prefix of some stop sequence)
 * is held back until the next push decides it. This is the hold-back rule of llama-server's `find_partial_stop_string`
 * and of vLLM's detokenizer, done on strings here.
 *
 * @example
 * const matcher = new StopSequenceMatcher(["\n\n"]);
 * matcher.push("Hello\n");   // {text: "Hello", stopped: false}: "\n" is held back
 * matcher.push("\nWorld");   // {text: "", stopped: true}
 */
export class StopSequenceMatcher {
  readonly #stops: string[];
  #pending = "";

  /** @param stops the stop sequences; empty strings are ignored. */
  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop.length > 0);
  }

  /** Adds generated text; returns what can be emitted and whether a stop sequence ended the text. */
  push(text: string): StopMatchResult {
    this.#pending += text;
    if (this.#stops.length === 0) return this.#take(this.#pending.length, false);

    let firstStop = -1;
    let stopSequence: string | undefined;
    for (const stop of this.#stops) {
      const index = this.#pending.indexOf(stop);
      if (index !== -1 && (firstStop === -1 || index < firstStop)) {
        firstStop = index;
        stopSequence = stop;
      }
    }
    if (firstStop !== -1) {
      const result = this.#take(firstStop, true);
      this.#pending = "";
      return { ...result, stopSequence };
    }
    return this.#take(this.#pending.length - this.#partialSuffixLength(), false);
  }

  /** Ends the text: returns whatever was held back (the end came before a partial match could complete). */
  flush(): string {
    return this.#take(this.#pending.length, false).text;
  }

  /** Length of the longest suffix of the pending text that is a proper prefix of a stop sequence. */
  #partialSuffixLength(): number {
    let longest = 0;
    for (const stop of this.#stops) {
      const max = Math.min(stop.length - 1, this.#pending.length);
      for (let length = max; length > longest; length--) {
        if (this.#pending.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }

  #take(length: number, stopped: boolean): StopMatchResult {
    const text = this.#pending.slice(0, length);
    this.#pending = this.#pending.slice(length);
    return { text, stopped };
  }
}
