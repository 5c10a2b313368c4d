/**
 * Bridges callbacks to an async iterable: `push` values from callbacks, `end` or `fail` once, and iterate the values in
 * order. Values pushed while nobody iterates are buffered; iteration ends after `end`, or throws the error of `fail`.
 */
export class PushIterable<Value> implements AsyncIterable<Value> {
  readonly #buffer: Value[] = [];
  #waiting: (() => void) | undefined;
  #ended = false;
  #error: { error: unknown } | undefined;

  /** Adds a value; ignored after `end` or `fail`. */
  push(value: Value): void {
    if (this.#ended) return;
    this.#buffer.push(value);
    this.#wake();
  }

  /** Ends the iteration after the buffered values. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** Ends the iteration with `error`, thrown after the buffered values. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = { error };
    this.#ended = true;
    this.#wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Value, void, undefined> {
    while (true) {
      const value = this.#buffer.shift();
      if (value !== undefined) {
        yield value;
        continue;
      }
      if (this.#ended) {
        if (this.#error) throw this.#error.error;
        return;
      }
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}
