/** One sample line of a Prometheus text exposition: `name{label="value",...} value [timestamp]`. */
export interface PrometheusSample {
  /** The sample's name as written, suffixes included (`vllm:num_requests_waiting`, `..._bucket`, `..._total`). */
  name: string;
  /** Its labels, unescaped; `{}` when it has none. */
  labels: Readonly<Record<string, string>>;
  /** Its value; `NaN`, `Infinity` and `-Infinity` as the format writes them (`NaN`, `+Inf`, `-Inf`). */
  value: number;
}

/** A metric family declared by `# HELP` and `# TYPE` lines, whether or not it has samples. */
export interface PrometheusFamily {
  /** The `# TYPE` (`counter`, `gauge`, `histogram`, `summary`, `untyped`, OpenMetrics' `info`, ...), as written. */
  type?: string;
  /** The `# HELP` text, unescaped. */
  help?: string;
}

/** What {@link parsePrometheusText} read. */
export interface PrometheusText {
  /** Every well-formed sample line, in the order of the text. */
  samples: PrometheusSample[];
  /** Every family named by a `# HELP` or `# TYPE` line, by name. */
  families: ReadonlyMap<string, PrometheusFamily>;
}

/** Options of {@link parsePrometheusText}. */
export interface ParsePrometheusTextOptions {
  /** Told of each line that is neither blank, a comment nor a well-formed sample (1-based `lineNumber`). Defaults to nothing. */
  onInvalidLine?: (line: string, lineNumber: number) => void;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const decimalPattern = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const specialValues: Readonly<Record<string, number>> = {
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  "+inf": Number.POSITIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};

/**
 * Parses the Prometheus text exposition format (0.0.4, what `/metrics` of vLLM, SGLang, llama-server and prom-client
 * answer; https://prometheus.io/docs/instrumenting/exposition_formats/), and the parts of OpenMetrics text a scraper
 * meets in practice: `# EOF`, exemplars after the value, and Prometheus 3's quoted UTF-8 names (`{"a.b",x="1"} 2`).
 *
 * It is lenient where a load signal should be: a malformed line (a label set that does not close, a value that is not a
 * number, an unknown escape in a label value) is skipped and reported to `onInvalidLine`, and the rest of the text is
 * still read, where Prometheus's own parser rejects the whole scrape. Blank lines and comments other than `# HELP` and
 * `# TYPE` are ignored; lines may end in `\r\n`. Values follow Go's `strconv.ParseFloat` as Prometheus reads them
 * (decimal with optional exponent, `NaN`, `+Inf`, `-Inf`, any case); hexadecimal floats are not read. A timestamp after
 * the value is checked to be a number and dropped.
 *
 * @returns the samples in text order and the declared families. Never throws.
 */
export function parsePrometheusText(text: string, options: ParsePrometheusTextOptions = {}): PrometheusText {
  const samples: PrometheusSample[] = [];
  const families = new Map<string, PrometheusFamily>();
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      readComment(line, families);
      continue;
    }
    const sample = readSample(line);
    if (sample === undefined) options.onInvalidLine?.(lines[index]!, index + 1);
    else samples.push(sample);
  }
  return { samples, families };
}

/** Records a `# HELP name text` or `# TYPE name type` line in `families`; other comments are ignored. */
function readComment(line: string, families: Map<string, PrometheusFamily>): void {
  const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (match === null) return;
  const [, keyword, rawName, rest = ""] = match as unknown as [string, "HELP" | "TYPE", string, string | undefined];
  const name = rawName.startsWith('"') ? readQuoted(rawName, 0)?.value : rawName;
  if (name === undefined) return;
  const family = families.get(name) ?? {};
  if (keyword === "TYPE") family.type = rest.trim();
  else family.help = rest.replace(/\\(\\|n)/g, (_, escaped: string) => (escaped === "n" ? "\n" : "\\"));
  families.set(name, family);
}

/** One sample line, or `undefined` when it is malformed. */
function readSample(line: string): PrometheusSample | undefined {
  let position = 0;
  let name = namePattern.exec(line)?.[0];
  if (name !== undefined) position = name.length;
  const labels: Record<string, string> = {};
  position = skipBlanks(line, position);
  if (line[position] === "{") {
    const labelSet = readLabelSet(line, position, name === undefined);
    if (labelSet === undefined) return undefined;
    name ??= labelSet.quotedName;
    Object.assign(labels, labelSet.labels);
    position = labelSet.end;
  }
  if (name === undefined) return undefined;
  const fields = line
    .slice(position)
    .trim()
    .split(/[ \t]+/);
  const value = readNumber(fields[0] ?? "");
  if (value === undefined) return undefined;
  // An optional timestamp, then an optional OpenMetrics exemplar (`# {trace_id="..."} 1`), which is not read.
  let next = 1;
  if (fields[next] !== undefined && fields[next] !== "#") {
    if (readNumber(fields[next]!) === undefined) return undefined;
    next++;
  }
  if (fields[next] !== undefined && fields[next] !== "#") return undefined;
  return { name, labels, value };
}

/**
 * The label set that opens at `line[start]` (`{`): its labels, the quoted metric name it holds when `mayHoldName` (a
 * Prometheus 3 UTF-8 name, `{"a.b", x="1"}`), and the index after its `}`; `undefined` when it is malformed.
 */
function readLabelSet(
  line: string,
  start: number,
  mayHoldName: boolean,
): { labels: Record<string, string>; quotedName?: string; end: number } | undefined {
  const labels: Record<string, string> = {};
  let quotedName: string | undefined;
  let position = skipBlanks(line, start + 1);
  while (line[position] !== "}") {
    let labelName: string | undefined;
    if (line[position] === '"') {
      const quoted = readQuoted(line, position);
      if (quoted === undefined) return undefined;
      position = skipBlanks(line, quoted.end);
      if (line[position] !== "=") {
        // A quoted string that no `=` follows is the metric's name, allowed once and first.
        if (!mayHoldName || quotedName !== undefined || Object.keys(labels).length > 0) return undefined;
        quotedName = quoted.value;
        position = afterSeparator(line, position);
        if (position < 0) return undefined;
        continue;
      }
      labelName = quoted.value;
    } else {
      labelName = labelNamePattern.exec(line.slice(position))?.[0];
      if (labelName === undefined) return undefined;
      position = skipBlanks(line, position + labelName.length);
    }
    if (line[position] !== "=") return undefined;
    position = skipBlanks(line, position + 1);
    const value = readQuoted(line, position);
    if (value === undefined) return undefined;
    labels[labelName] = value.value;
    position = afterSeparator(line, skipBlanks(line, value.end));
    if (position < 0) return undefined;
  }
  return { labels, quotedName, end: position + 1 };
}

/** After a label: the index after a `,` and blanks, or of the closing `}`; `-1` for anything else. */
function afterSeparator(line: string, position: number): number {
  if (line[position] === ",") return skipBlanks(line, position + 1);
  return line[position] === "}" ? position : -1;
}

/**
 * The double-quoted string that opens at `line[start]`, unescaped (`\\`, `\"`, `\n`, the format's only escapes), and
 * the index after its closing quote; `undefined` when it does not close or holds another escape.
 */
function readQuoted(line: string, start: number): { value: string; end: number } | undefined {
  if (line[start] !== '"') return undefined;
  let value = "";
  for (let index = start + 1; index < line.length; index++) {
    const char = line[index]!;
    if (char === '"') return { value, end: index + 1 };
    if (char !== "\\") {
      value += char;
      continue;
    }
    const escaped = line[++index];
    if (escaped === "\\" || escaped === '"') value += escaped;
    else if (escaped === "n") value += "\n";
    else return undefined;
  }
  return undefined;
}

/** A value or timestamp field as Go's `strconv.ParseFloat` reads it (decimal, `NaN`, `Inf`), else `undefined`. */
function readNumber(field: string): number | undefined {
  if (decimalPattern.test(field)) return Number(field);
  return specialValues[field.toLowerCase()];
}

function skipBlanks(line: string, position: number): number {
  while (line[position] === " " || line[position] === "\t") position++;
  return position;
}
