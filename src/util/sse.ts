/**
 * Formats one server-sent event carrying `payload` as its only `data:` line, followed by the blank line that ends the
 * event. Objects are sent as JSON (which never contains a raw newline), strings as they are (`[DONE]`).
 */
export function formatSseData(payload: unknown): string {
  return `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`;
}

/** The headers of an SSE response: no caching, no proxy buffering. */
export const sseHeaders: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no",
};

/**
 * Reads the `data:` payloads of Server-Sent Events from a stream's text as it arrives, without copying it line by
 * line: `pending` (the unfinished event the previous call returned, `""` at first) followed by `text` (the new read,
 * already decoded: a stateful UTF-8 decoder never splits a character, case C07) is cut at each event's end (a blank
 * line, `\n\n`), and `onData` is called with the value of every `data:` line of every whole event (after `data:` and
 * one optional space), in order; other lines (comments, `event:`, `id:`) are skipped. When `onData` returns false the
 * reading stops there (OpenAI's `[DONE]`) and `""` is returned.
 *
 * Each `data:` line is given on its own, not joined with the event's other `data:` lines as the SSE standard joins
 * them: OpenAI-compatible servers send one JSON payload per line, one line per event. Line ends are `\n` only.
 *
 * @returns the text of the unfinished event (from the start of its first line), to pass back as `pending` with the
 *   next read.
 */
export function readSseData(pending: string, text: string, onData: (data: string) => boolean): string {
  const buffer = pending.length === 0 ? text : pending + text;
  // `pending` holds no event's end: the search starts at its last character (an end split between two reads).
  let eventStart = 0;
  let eventEnd = buffer.indexOf("\n\n", pending.length === 0 ? 0 : pending.length - 1);
  while (eventEnd >= 0) {
    let lineStart = eventStart;
    while (lineStart < eventEnd) {
      let lineEnd = buffer.indexOf("\n", lineStart);
      if (lineEnd > eventEnd) lineEnd = eventEnd;
      if (buffer.startsWith("data:", lineStart)) {
        const valueStart = lineStart + (buffer.charCodeAt(lineStart + 5) === 32 ? 6 : 5);
        if (!onData(buffer.slice(valueStart, lineEnd))) return "";
      }
      lineStart = lineEnd + 1;
    }
    eventStart = eventEnd + 2;
    eventEnd = buffer.indexOf("\n\n", eventStart);
  }
  return eventStart === 0 ? buffer : buffer.slice(eventStart);
}
