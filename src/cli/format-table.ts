export { formatCsv } from "../util/format-csv.js";

/**
 * Formats rows as a plain-text table: a header line, then one line per row, columns padded to their widest cell and
 * separated by two spaces. Cells that look like numbers are right-aligned.
 */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const isNumeric = header.map((_, column) => rows.length > 0 && rows.every((row) => /^[-$]?[\d.,]+$/.test(row[column] ?? "")));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (isNumeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}
