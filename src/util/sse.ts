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
