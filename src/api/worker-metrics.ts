import type { ModelBackend } from "../spec/index.js";

/** One loaded model's own metrics text, as its engine published it (llama-server's `/metrics`). */
export interface WorkerMetricsText {
  /** The model id, the `model` label of every sample. */
  model: string;
  /** Prometheus text exposition format 0.0.4. */
  text: string;
}

/** Options of {@link scrapeWorkerMetrics}. */
export interface ScrapeWorkerMetricsOptions {
  /** How long one backend's scrape may take, ms; a slower one is left out. Defaults to 1000. */
  timeoutMs?: number;
  /** Told of each model whose scrape failed: it threw, timed out, or answered `undefined`. Defaults to nothing. */
  onError?: (model: string, reason: "error" | "timeout" | "unavailable") => void;
}

/**
 * Scrapes every backend that has `scrapeMetrics` (the llama-server workers), all at once, each with its own time limit,
 * so that a stuck worker never holds up `/metrics` longer than `timeoutMs`. A scrape that throws (the contract says it
 * never does; this guards against one that does), times out, or answers `undefined` (a backend with `scrapeMetrics`
 * has metrics: `undefined` means it could not read them now) is left out and reported to `onError`.
 *
 * @returns the texts of the scrapes that succeeded, in `backends` order. Never throws.
 */
export async function scrapeWorkerMetrics(
  backends: readonly ModelBackend[],
  options: ScrapeWorkerMetricsOptions = {},
): Promise<WorkerMetricsText[]> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const results = await Promise.all(
    backends.map(async (backend): Promise<WorkerMetricsText | undefined> => {
      if (backend.scrapeMetrics === undefined) return undefined;
      const model = backend.info.id;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      try {
        const text = await Promise.race([backend.scrapeMetrics(), timeout]);
        if (text === "timeout") options.onError?.(model, "timeout");
        else if (text === undefined) options.onError?.(model, "unavailable");
        else return { model, text };
      } catch {
        options.onError?.(model, "error");
      } finally {
        clearTimeout(timer);
      }
      return undefined;
    }),
  );
  return results.filter((result) => result !== undefined);
}

/** A metric family gathered from every worker: its `# HELP` and `# TYPE` lines (the first seen) and all its samples. */
interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/**
 * Merges the metrics texts of several models into one Prometheus text (exposition format 0.0.4): every sample gains a
 * `model="<id>"` label (added to its label set, or as a new one), a label `model` the worker already had is kept as
 * `exported_model` (Prometheus's own rule for clashing target labels), and each metric family appears once, with its
 * `# HELP` and `# TYPE` lines once and the samples of every model together (the format wants a family's lines in one
 * group, so two workers that publish the same names are merged, not concatenated). Families come in the order first
 * seen; other comments and blank lines are dropped. A family named in `reservedNames` (moestro's own metrics) is left
 * out, so that a worker cannot publish a second copy of one.
 *
 * A sample line belongs to the family of the `# HELP`/`# TYPE` line before it when it has that family's name, or that
 * name and a suffix of the format (`_bucket`, `_sum`, `_count` of a histogram or summary), else to a family of its own
 * name (an untyped metric).
 *
 * @returns the merged text, ending with a newline; `""` when there are no samples and no families.
 */
export function mergeWorkerMetrics(texts: readonly WorkerMetricsText[], reservedNames: ReadonlySet<string> = new Set()): string {
  const families = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { samples: [] };
      families.set(name, family);
    }
    return family;
  };
  for (const { model, text } of texts) {
    let current: string | undefined;
    for (const rawLine of text.split("\n")) {
      const line = rawLine.trim();
      if (line === "") continue;
      const comment = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line);
      if (comment !== null) {
        const [, keyword, name] = comment as unknown as [string, "HELP" | "TYPE", string];
        current = name;
        const family = familyOf(name);
        if (keyword === "HELP") family.help ??= line;
        else family.type ??= line;
        continue;
      }
      if (line.startsWith("#")) continue;
      const name = metricName.exec(line)?.[0];
      if (name === undefined) continue;
      const family = current !== undefined && belongsTo(name, current) ? current : name;
      const sample = withModelLabel(line, name, model);
      if (sample !== undefined) familyOf(family).samples.push(sample);
    }
  }
  const lines: string[] = [];
  for (const [name, family] of families) {
    if (reservedNames.has(name)) continue;
    if (family.help !== undefined) lines.push(family.help);
    if (family.type !== undefined) lines.push(family.type);
    lines.push(...family.samples);
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/** Whether the sample name `name` is one of family `family`'s: the name itself, or a histogram's or summary's part. */
function belongsTo(name: string, family: string): boolean {
  return name === family || ["_bucket", "_sum", "_count", "_created"].some((suffix) => name === family + suffix);
}

/**
 * A sample line with `model="<model>"` first in its label set; a `model` label it had becomes `exported_model`.
 * `undefined` for a line whose label set does not close (malformed: left out rather than passed on broken).
 */
function withModelLabel(line: string, name: string, model: string): string | undefined {
  const label = `model="${escapeLabelValue(model)}"`;
  const rest = line.slice(name.length);
  if (!rest.startsWith("{")) return `${name}{${label}}${rest}`;
  const split = splitLabelSet(rest);
  if (split === undefined) return undefined;
  const pairs = split.pairs.map((pair) => (/^model\s*=/.test(pair) ? `exported_${pair}` : pair));
  return `${name}{${[label, ...pairs].join(",")}}${rest.slice(split.end + 1)}`;
}

/**
 * The `name="value"` pairs of the label set that opens at index 0 of `text` (split at the commas outside quoted
 * values, trimmed, empty ones dropped) and the index of its closing `}`; `undefined` when it does not close.
 */
function splitLabelSet(text: string): { pairs: string[]; end: number } | undefined {
  const pairs: string[] = [];
  let quoted = false;
  let start = 1;
  for (let index = 1; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === "\\") index++;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === "," || char === "}") {
      const pair = text.slice(start, index).trim();
      if (pair !== "") pairs.push(pair);
      start = index + 1;
      if (char === "}") return { pairs, end: index };
    }
  }
  return undefined;
}

/** A label value as the text format writes it: backslash, double quote and line feed escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
