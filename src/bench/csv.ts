/**
 * Parses CSV text (RFC 4180): fields separated by commas, records by CRLF or LF; a field in double quotes may hold
 * commas, line breaks and doubled quotes (`""`). A byte-order mark at the start is skipped, and a blank last line is
 * not a record. Returns the records in order, each as its fields.
 *
 * @throws {SyntaxError} when a quoted field is not closed, or a closing quote is followed by something other than a
 * comma or the end of the record (the message gives the line).
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let line = 1;
  let index = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let isFieldStart = true;
  const endRecord = (): void => {
    record.push(field);
    records.push(record);
    record = [];
    field = "";
    isFieldStart = true;
  };
  while (index < text.length) {
    const char = text[index]!;
    if (isFieldStart && char === '"') {
      const startLine = line;
      index++;
      for (;;) {
        if (index >= text.length) throw new SyntaxError(`CSV line ${startLine}: a quoted field is not closed.`);
        const inner = text[index]!;
        if (inner === '"') {
          if (text[index + 1] === '"') {
            field += '"';
            index += 2;
            continue;
          }
          index++;
          break;
        }
        if (inner === "\n") line++;
        field += inner;
        index++;
      }
      const next = text[index];
      if (next !== undefined && next !== "," && next !== "\n" && next !== "\r")
        throw new SyntaxError(`CSV line ${line}: text after a closing quote.`);
      isFieldStart = false;
      continue;
    }
    isFieldStart = false;
    if (char === ",") {
      record.push(field);
      field = "";
      isFieldStart = true;
      index++;
    } else if (char === "\n" || char === "\r") {
      endRecord();
      index += char === "\r" && text[index + 1] === "\n" ? 2 : 1;
      line++;
    } else {
      field += char;
      index++;
    }
  }
  if (!isFieldStart || record.length > 0 || field.length > 0) endRecord();
  return records;
}
