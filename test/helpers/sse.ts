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
