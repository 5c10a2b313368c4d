/** Parses an SSE body into its `data:` payloads, in order (`[DONE]` kept as a string). */
export function parseSse(body: string): Array<unknown> {
  return body
    .split("\n\n")
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      return data === "[DONE]" ? data : (JSON.parse(data) as unknown);
    });
}

/**
 * Parses an SSE body as OpenAI's framing requires it, strictly: every event is one `data: …` line ended by a blank
 * line, and the only other blocks are `: comment` lines (keep-alives). Throws on anything else, so that a framing slip
 * fails the test that reads the body.
 *
 * @returns the `data` payloads in order (JSON parsed; `[DONE]` kept as a string) and the comments.
 */
export function parseSseStrict(body: string): { data: unknown[]; comments: string[] } {
  if (body.length > 0 && !body.endsWith("\n\n"))
    throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(body.slice(-40))}`);
  const data: unknown[] = [];
  const comments: string[] = [];
  for (const block of body.split("\n\n").slice(0, -1)) {
    if (block.startsWith(":") && !block.includes("\n")) comments.push(block.slice(1).trim());
    else if (/^data: \S/.test(block) && !block.includes("\n")) {
      const payload = block.slice("data: ".length);
      data.push(payload === "[DONE]" ? payload : (JSON.parse(payload) as unknown));
    } else throw new Error(`not one data line or comment: ${JSON.stringify(block.slice(0, 80))}`);
  }
  return { data, comments };
}
