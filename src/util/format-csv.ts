/**
 * A CSV document (RFC 4180): the header line, then one line per row, each ending in CRLF. A field with a comma, a
 * quote or a line break is quoted, its quotes doubled; `null` is an empty field; numbers and booleans are written as
 * `String` writes them.
 */
export function formatCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | boolean | null>>): string {
  const field = (value: string | number | boolean | null): string => {
    const text = value === null ? "" : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";
}
