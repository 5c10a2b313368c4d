/**
 * Reads a text stream line by line and yields each line, in order, without its end (`\n` or `\r\n`); the text after the
 * last line end is yielded last when not empty (an NDJSON stream need not end in a newline). Leaving the loop early
 * (break, throw) cancels the body, which closes the connection.
 *
 * @throws whatever reading `body` throws (a network failure, an abort of the request's signal).
 */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let isDone = false;
  try {
    while (!isDone) {
      const { done, value } = await reader.read();
      isDone = done;
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let lineEnd: number;
      while ((lineEnd = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, buffer[lineEnd - 1] === "\r" ? lineEnd - 1 : lineEnd);
        buffer = buffer.slice(lineEnd + 1);
        yield line;
      }
    }
    if (buffer !== "") yield buffer;
  } finally {
    // On an early exit the body is still open: cancelling it releases the connection.
    if (!isDone) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * Reads a server-sent event stream (the WHATWG `text/event-stream` format) and yields the data of each event, in the
 * order received: the event's `data:` lines joined by `\n`. Comment lines (`: ping`) and the other fields (`event:`,
 * `id:`, `retry:`) are skipped; an event without data yields nothing. An event left unfinished when the stream ends is
 * dropped, as the specification says (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 *
 * Lines may end in `\n` or `\r\n`. Leaving the loop early (break, throw) cancels the body, which closes the connection.
 *
 * @throws whatever reading `body` throws (a network failure, an abort of the request's signal).
 */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  let dataLines: string[] = [];
  // The text after the last line end is never followed by the blank line that ends an event, so it yields nothing.
  for await (const line of readLines(body)) {
    if (line === "") {
      if (dataLines.length > 0) yield dataLines.join("\n");
      dataLines = [];
    } else if (line.startsWith("data:")) {
      dataLines.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  }
}
