import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { MoestroError } from "../errors/index.js";
import type { EvalReport, EvalRunIdentity } from "../wire/eval-report.js";
import type { EvalAnswerRecord } from "./eval-record.js";
import { renderParetoChart } from "./pareto-chart.js";

/**
 * Where an eval keeps its answers and report. The eval appends each answer as soon as it has it, so an interrupted eval
 * resumes from what is stored. Today's implementation is a folder ({@link createFileEvalStore}); a studio store can
 * implement the same interface later.
 */
export interface EvalStore {
  /**
   * Binds the store to a run and returns the answers stored so far (possibly several per question: later ones win).
   * An empty store takes `identity`; a store that holds another run keeps it and throws.
   *
   * @throws {MoestroError} `invalid_request` (param `out`) when the store holds answers of another dataset or settings.
   */
  open(identity: EvalRunIdentity): Promise<EvalAnswerRecord[]>;
  /** Stores one answer durably (appended). Calls may overlap; each record is written whole. */
  append(record: EvalAnswerRecord): Promise<void>;
  /** Stores the report (replacing the previous one) and its chart. */
  saveReport(report: EvalReport): Promise<void>;
}

/** The files of an eval folder, relative to it. */
export const evalStoreFiles = {
  /** The run's identity (dataset hash and settings), JSON. */
  manifest: "manifest.json",
  /** One {@link EvalAnswerRecord} a line, appended as answers come. */
  answers: "answers.jsonl",
  /** The latest {@link EvalReport}, JSON. */
  report: "results.json",
  /** The Pareto chart of the latest report, SVG. */
  chart: "pareto.svg",
} as const;

/**
 * An {@link EvalStore} in the folder `dir` (created when missing): see {@link evalStoreFiles}. A line cut short by a
 * crash is skipped on reading, and the next append starts on a new line.
 *
 * @example
 * const store = createFileEvalStore("./runs/gpqa");
 * const stored = await store.open(identity);
 */
export function createFileEvalStore(dir: string): EvalStore {
  const file = (name: keyof typeof evalStoreFiles): string => path.join(dir, evalStoreFiles[name]);
  // Appends are chained so that overlapping calls never interleave their bytes.
  let appending: Promise<void> = Promise.resolve();
  return {
    async open(identity) {
      await mkdir(dir, { recursive: true });
      const stored = await readOptional(file("manifest"));
      if (stored === undefined) {
        await writeFile(file("manifest"), JSON.stringify({ version: 1, identity }, null, 2) + "\n");
      } else {
        const storedIdentity = (JSON.parse(stored) as { identity?: unknown }).identity;
        if (JSON.stringify(storedIdentity) !== JSON.stringify(identity)) {
          throw new MoestroError(
            "invalid_request",
            `${dir} holds an eval of another dataset or settings (stored ${JSON.stringify(storedIdentity)}, asked ${JSON.stringify(identity)}). Pass another --out, or remove that folder to start over.`,
            { param: "out" },
          );
        }
      }
      const text = (await readOptional(file("answers"))) ?? "";
      if (text.length > 0 && !text.endsWith("\n")) await appendFile(file("answers"), "\n");
      const records: EvalAnswerRecord[] = [];
      for (const line of text.split("\n")) {
        if (line.trim() === "") continue;
        try {
          records.push(JSON.parse(line) as EvalAnswerRecord);
        } catch {
          // A line cut short by a crash: its question is asked again.
        }
      }
      return records;
    },
    append(record) {
      const line = JSON.stringify(record) + "\n";
      const write = appending.then(() => appendFile(file("answers"), line));
      // A failed write fails its own call only; the next ones still run.
      appending = write.catch(() => undefined);
      return write;
    },
    async saveReport(report) {
      await writeFile(file("report"), JSON.stringify(report, null, 2) + "\n");
      await writeFile(file("chart"), renderParetoChart(report));
    },
  };
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
