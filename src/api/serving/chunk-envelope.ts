/** The JSON text of a streamed chunk around its `choices` array ({@link chunkEnvelope}). */
export interface ChunkEnvelope {
  /** The chunk's JSON up to its `choices` array's items: `{"id":…,"choices":[`. */
  prefix: string;
  /** The chunk's JSON after them: `]}`, or `],"usage":null}`. */
  suffix: string;
}

/**
 * Splits the JSON text of `chunk` (a chunk with an empty `choices` array, as OpenAI's chat and completion chunks are
 * rendered) around that array, so that a stream renders its envelope (id, created, model…, the same in every chunk)
 * once and each chunk as `prefix + choice JSON + suffix`: byte for byte the chunk's `JSON.stringify`, at the cost of
 * rendering only the choice. A key or value that holds the text `"choices":[]` cannot be taken for it: its quotes are
 * escaped in the JSON.
 *
 * @throws {Error} when the chunk has no empty `choices` array.
 */
export function chunkEnvelope(chunk: { choices: readonly unknown[] }): ChunkEnvelope {
  const text = JSON.stringify(chunk);
  const marker = '"choices":[';
  const at = text.indexOf(`${marker}]`);
  if (chunk.choices.length > 0 || at < 0) throw new Error("chunkEnvelope: the chunk must have an empty choices array");
  return { prefix: text.slice(0, at + marker.length), suffix: text.slice(at + marker.length) };
}
