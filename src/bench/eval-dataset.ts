import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import { parseCsv } from "./csv.js";
import { createSeededRandom, hashString, shuffle } from "../util/seeded-random.js";

/** A multiple-choice question: the model answers with a letter (`A` for `choices[0]`). */
export interface MultipleChoiceQuestion {
  /** The discriminant. */
  kind: "multiple-choice";
  /** Stable within the dataset (the line's `id`, GPQA's `Record ID`, else the 1-based position). */
  id: string;
  /** The question's text. */
  question: string;
  /** The choices, 2 to 26, in the order shown (`A)`, `B)`, ...). */
  choices: string[];
  /** The correct letter. */
  answer: string;
  /** A subject or domain, when the dataset names one. */
  subject?: string;
}

/** An exact-match question: the final answer is compared after normalisation (numbers by value). */
export interface ExactMatchQuestion {
  /** The discriminant. */
  kind: "exact-match";
  /** Stable within the dataset (the line's `id`, else the 1-based position). */
  id: string;
  /** The question's text. */
  question: string;
  /** The expected answer (`"42"`, `"Paris"`, or a GSM8K solution ending in `#### 42`). */
  answer: string;
  /** A subject or domain, when the dataset names one. */
  subject?: string;
}

/** One question of an eval dataset. */
export type EvalQuestion = MultipleChoiceQuestion | ExactMatchQuestion;

/**
 * The format of a dataset file.
 * - `jsonl`: one JSON object a line (see {@link parseEvalJsonl}).
 * - `gpqa-csv`: GPQA's CSV (see {@link parseGpqaCsv}).
 * - `auto`: `gpqa-csv` for a `.csv` file, else `jsonl`.
 */
export type EvalDatasetFormat = "auto" | "jsonl" | "gpqa-csv";

/** A loaded dataset. */
export interface EvalDataset {
  /** Where it was read from (absolute). */
  path: string;
  /** SHA-256 of the file's bytes (hex), which identifies it in stored results. */
  sha256: string;
  /** The questions, in file order. */
  questions: EvalQuestion[];
}

/** The name `--dataset` accepts for the sample set shipped with moestro. */
export const sampleDatasetName = "sample";

/** Absolute path of the shipped sample set (`datasets/sample.jsonl` at the package root): questions written for moestro. */
export function sampleDatasetPath(): string {
  return fileURLToPath(new URL("../../datasets/sample.jsonl", import.meta.url));
}

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const jsonlLineSchema = z
  .object({
    id: z.union([z.string().min(1), z.number()]).optional(),
    question: z.string().min(1),
    choices: z
      .array(z.union([z.string(), z.number()]).transform(String))
      .min(2)
      .max(26)
      .optional(),
    options: z
      .array(z.union([z.string(), z.number()]).transform(String))
      .min(2)
      .max(26)
      .optional(),
    answer: z.union([z.string(), z.number()]).optional(),
    answer_index: z.number().int().nonnegative().optional(),
    subject: z.string().optional(),
    category: z.string().optional(),
  })
  .passthrough();

/**
 * Parses an eval dataset in JSON Lines, one question a line (blank lines skipped):
 * - multiple choice: `{"question": "...", "choices": ["...", "..."], "answer": "B"}`. `answer` may also be a 0-based
 *   index (MMLU's integer answer, `"answer": 1`), or the correct choice's text. `options` and `answer_index` (MMLU-Pro)
 *   are read as `choices` and the index.
 * - exact match: `{"question": "...", "answer": "42"}` (a GSM8K solution ending in `#### 42` works as it is).
 *
 * Optional fields: `id` (defaults to the 1-based position of the question), `subject` (or `category`).
 *
 * @param options.source the file name, for error messages.
 * @throws {MoestroError} `invalid_request` naming the line of the first invalid question, or a repeated id.
 */
export function parseEvalJsonl(text: string, options: { source: string }): EvalQuestion[] {
  const questions: EvalQuestion[] = [];
  const ids = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, lineIndex) => {
    if (line.trim() === "") return;
    const where = `${options.source} line ${lineIndex + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      throw new MoestroError("invalid_request", `${where} is not JSON: ${(error as Error).message}`, { param: "dataset", cause: error });
    }
    const parsed = jsonlLineSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new MoestroError("invalid_request", `${where}: '${issue.path.join(".") || "line"}' ${issue.message}.`, { param: "dataset" });
    }
    const row = parsed.data;
    const id = String(row.id ?? questions.length + 1);
    if (ids.has(id)) throw new MoestroError("invalid_request", `${where}: the id '${id}' is used twice.`, { param: "dataset" });
    ids.add(id);
    const subject = row.subject ?? row.category;
    const choices = row.choices ?? row.options;
    const base = { id, question: row.question, ...(subject === undefined ? {} : { subject }) };
    if (choices === undefined) {
      if (row.answer === undefined || String(row.answer).trim() === "")
        throw new MoestroError("invalid_request", `${where}: 'answer' is missing.`, { param: "dataset" });
      questions.push({ kind: "exact-match", ...base, answer: String(row.answer).trim() });
      return;
    }
    const index = choiceIndex(row.answer_index ?? row.answer, choices);
    if (index === undefined) {
      throw new MoestroError(
        "invalid_request",
        `${where}: 'answer' must be a letter A-${letters[choices.length - 1]}, a 0-based index below ${choices.length}, or one of the choices; got ${JSON.stringify(row.answer ?? row.answer_index)}.`,
        { param: "dataset" },
      );
    }
    questions.push({ kind: "multiple-choice", ...base, choices, answer: letters[index]! });
  });
  return questions;
}

function choiceIndex(answer: string | number | undefined, choices: readonly string[]): number | undefined {
  if (typeof answer === "number") return Number.isInteger(answer) && answer >= 0 && answer < choices.length ? answer : undefined;
  if (answer === undefined) return undefined;
  const trimmed = answer.trim();
  const letter = /^\(?([A-Z])\)?$/.exec(trimmed);
  if (letter) {
    const index = letters.indexOf(letter[1]!);
    return index < choices.length ? index : undefined;
  }
  const byText = choices.findIndex((choice) => choice.trim() === trimmed);
  return byText === -1 ? undefined : byText;
}

/**
 * Imports GPQA's CSV (the columns `Question`, `Correct Answer`, `Incorrect Answer 1` to `3`, and optionally
 * `Record ID` and `High-level domain`; other columns are ignored). The four answers are shuffled with a fixed seed
 * derived from `seed` and the question's record id (or text), so the correct letter is spread over A-D and the same on
 * every run and machine; whitespace around each answer is trimmed.
 *
 * @param options.seed the shuffle's seed. Defaults to 0.
 * @throws {MoestroError} `invalid_request` when a column is missing or the CSV does not parse.
 */
export function parseGpqaCsv(text: string, options: { source: string; seed?: number }): MultipleChoiceQuestion[] {
  let records: string[][];
  try {
    records = parseCsv(text).filter((record) => record.some((field) => field.trim() !== ""));
  } catch (error) {
    throw new MoestroError("invalid_request", `${options.source}: ${(error as Error).message}`, { param: "dataset", cause: error });
  }
  const header = (records.shift() ?? []).map((name) => name.trim());
  const column = (name: string, isRequired: boolean): number => {
    const index = header.indexOf(name);
    if (index === -1 && isRequired)
      throw new MoestroError(
        "invalid_request",
        `${options.source}: no '${name}' column; GPQA's CSV has Question, Correct Answer and Incorrect Answer 1-3.`,
        { param: "dataset" },
      );
    return index;
  };
  const question = column("Question", true);
  const correct = column("Correct Answer", true);
  const incorrect = [1, 2, 3].map((n) => column(`Incorrect Answer ${n}`, true));
  const recordId = column("Record ID", false);
  const domain = column("High-level domain", false);
  const seed = options.seed ?? 0;
  return records.map((record, index) => {
    const text = (record[question] ?? "").trim();
    const id = (recordId === -1 ? "" : (record[recordId] ?? "").trim()) || String(index + 1);
    const right = (record[correct] ?? "").trim();
    const choices = shuffle(
      [right, ...incorrect.map((column) => (record[column] ?? "").trim())],
      createSeededRandom(hashString(`${seed}:${id}:${text}`)),
    );
    const subject = domain === -1 ? undefined : (record[domain] ?? "").trim() || undefined;
    return {
      kind: "multiple-choice",
      id,
      question: text,
      choices,
      answer: letters[choices.indexOf(right)]!,
      ...(subject === undefined ? {} : { subject }),
    };
  });
}

/**
 * Reads a dataset file: `sample` (see {@link sampleDatasetName}), a JSON Lines file or GPQA's CSV.
 *
 * @param options.format how to read it. Defaults to `auto`.
 * @param options.seed the GPQA shuffle's seed. Defaults to 0.
 * @throws {MoestroError} `invalid_request` when the file cannot be read, is invalid, or holds no question.
 */
export async function loadEvalDataset(file: string, options: { format?: EvalDatasetFormat; seed?: number } = {}): Promise<EvalDataset> {
  const resolved = file === sampleDatasetName ? sampleDatasetPath() : path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(resolved);
  } catch (error) {
    throw new MoestroError("invalid_request", `Cannot read the dataset ${file}: ${(error as Error).message}`, {
      param: "dataset",
      cause: error,
    });
  }
  const text = bytes.toString("utf8");
  const format =
    options.format === undefined || options.format === "auto"
      ? resolved.toLowerCase().endsWith(".csv")
        ? "gpqa-csv"
        : "jsonl"
      : options.format;
  const source = path.basename(resolved);
  const questions = format === "gpqa-csv" ? parseGpqaCsv(text, { source, seed: options.seed }) : parseEvalJsonl(text, { source });
  if (questions.length === 0) throw new MoestroError("invalid_request", `The dataset ${file} holds no question.`, { param: "dataset" });
  // The seed changes GPQA's choice order, so it is part of the dataset's identity.
  const hash = createHash("sha256").update(bytes);
  if (format === "gpqa-csv") hash.update(`\0seed=${options.seed ?? 0}`);
  return { path: resolved, sha256: hash.digest("hex"), questions };
}

/** Formats a question as the user message of an eval request, asking for the final answer in a form the extractor reads. */
export function formatEvalPrompt(question: EvalQuestion): string {
  if (question.kind === "multiple-choice") {
    const valid = letters.slice(0, question.choices.length).split("");
    const options = question.choices.map((choice, index) => `${letters[index]}) ${choice}`).join("\n");
    return [
      `Answer the following multiple-choice question. Give your final answer on the last line in the form "Answer: X", where X is one of ${valid.join(", ")}.`,
      "",
      question.question.trim(),
      "",
      options,
    ].join("\n");
  }
  return [
    'Solve the following problem. Give your final answer on the last line in the form "Answer: X", where X is the answer alone (a number or a short phrase).',
    "",
    question.question.trim(),
  ].join("\n");
}
