import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { parseCsv } from "./csv.js";
import { formatEvalPrompt, loadEvalDataset, parseEvalJsonl, parseGpqaCsv } from "./eval-dataset.js";

const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-eval-dataset-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("parseCsv", () => {
  it("reads quoted fields with commas, quotes and line breaks, CRLF or LF, and a BOM", () => {
    const text = '\ufeffa,b,c\r\n"1,5","say ""hi""","two\nlines"\n,x,\n';
    expect(parseCsv(text)).toEqual([
      ["a", "b", "c"],
      ["1,5", 'say "hi"', "two\nlines"],
      ["", "x", ""],
    ]);
    expect(parseCsv("a,b")).toEqual([["a", "b"]]);
  });

  it("refuses an unclosed quote, naming its line", () => {
    expect(() => parseCsv('a\n"open,b\nc')).toThrow(/line 2/);
  });
});

describe("parseEvalJsonl", () => {
  it("reads multiple choice by letter, by MMLU's integer index and by text, and exact match", () => {
    const text = [
      JSON.stringify({ question: "Q1", choices: ["w", "x", "y", "z"], answer: "C" }),
      "",
      JSON.stringify({ question: "Q2", subject: "anatomy", choices: ["w", "x", "y", "z"], answer: 1 }),
      JSON.stringify({ id: "q3", question: "Q3", choices: ["w", "x"], answer: "x" }),
      JSON.stringify({ question: "Q4", answer: 42 }),
      JSON.stringify({ question: "Q5", options: ["a", "b", "c"], answer_index: 2 }),
    ].join("\n");
    const questions = parseEvalJsonl(text, { source: "t.jsonl" });
    expect(questions.map((question) => [question.id, question.kind, question.answer])).toEqual([
      ["1", "multiple-choice", "C"],
      ["2", "multiple-choice", "B"],
      ["q3", "multiple-choice", "B"],
      ["4", "exact-match", "42"],
      ["5", "multiple-choice", "C"],
    ]);
    expect(questions[1]!.subject).toBe("anatomy");
  });

  it.each([
    ['{"question": "Q", "choices": ["a", "b"], "answer": 2}', /line 1: 'answer' must be/],
    ['{"question": "Q", "choices": ["a", "b"], "answer": "C"}', /line 1: 'answer' must be/],
    ['{"question": ""}', /line 1: 'question'/],
    ["not json", /line 1 is not JSON/],
    ['{"question": "Q"}', /'answer' is missing/],
    ['{"id": "a", "question": "Q", "answer": "1"}\n{"id": "a", "question": "R", "answer": "2"}', /line 2: the id 'a' is used twice/],
  ])("refuses %s", (text, message) => {
    expect(() => parseEvalJsonl(text, { source: "t.jsonl" })).toThrow(MoestroError);
    expect(() => parseEvalJsonl(text, { source: "t.jsonl" })).toThrow(message);
  });
});

describe("parseGpqaCsv", () => {
  const header =
    "Pre-Revision Question,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3,Record ID,High-level domain";
  const rows = Array.from(
    { length: 12 },
    (_, index) =>
      `x,"Question ${index}, with a comma?","  right ${index}\n",wrong ${index}a,wrong ${index}b,"wrong ""${index}c""",rec${index},Physics`,
  );
  const csv = [header, ...rows].join("\n") + "\n";

  it("shuffles the four answers with a fixed seed: the same on every run, the correct letter spread", () => {
    const questions = parseGpqaCsv(csv, { source: "gpqa.csv" });
    expect(questions).toEqual(parseGpqaCsv(csv, { source: "gpqa.csv" }));
    expect(questions).toHaveLength(12);
    for (const [index, question] of questions.entries()) {
      expect(question.id).toBe(`rec${index}`);
      expect(question.question).toBe(`Question ${index}, with a comma?`);
      expect(question.subject).toBe("Physics");
      expect([...question.choices].sort()).toEqual([`right ${index}`, `wrong "${index}c"`, `wrong ${index}a`, `wrong ${index}b`].sort());
      expect(question.choices["ABCD".indexOf(question.answer)]).toBe(`right ${index}`);
    }
    expect(new Set(questions.map((question) => question.answer)).size).toBeGreaterThan(1);
    const reseeded = parseGpqaCsv(csv, { source: "gpqa.csv", seed: 7 });
    expect(reseeded.map((question) => question.choices)).not.toEqual(questions.map((question) => question.choices));
  });

  it("names a missing column", () => {
    expect(() => parseGpqaCsv("Question,Correct Answer\nq,a\n", { source: "g.csv" })).toThrow(/Incorrect Answer 1/);
  });

  it("is read by extension, and its seed is part of the dataset's hash", async () => {
    const file = path.join(folder, "gpqa.csv");
    writeFileSync(file, csv);
    const first = await loadEvalDataset(file);
    const reseeded = await loadEvalDataset(file, { seed: 1 });
    expect(first.questions[0]!.kind).toBe("multiple-choice");
    expect(first.sha256).not.toBe(reseeded.sha256);
  });
});

describe("the shipped sample set", () => {
  it("loads as 'sample': a few dozen valid questions of both kinds with unique ids", async () => {
    const dataset = await loadEvalDataset("sample");
    expect(dataset.questions.length).toBeGreaterThanOrEqual(30);
    expect(new Set(dataset.questions.map((question) => question.id)).size).toBe(dataset.questions.length);
    const kinds = new Set(dataset.questions.map((question) => question.kind));
    expect(kinds).toEqual(new Set(["multiple-choice", "exact-match"]));
    const letters = dataset.questions.flatMap((question) => (question.kind === "multiple-choice" ? [question.answer] : []));
    expect(new Set(letters)).toEqual(new Set(["A", "B", "C", "D"]));
  });

  it("formats prompts that ask for the answer line the extractor reads", async () => {
    const [multipleChoice] = (await loadEvalDataset("sample")).questions;
    const prompt = formatEvalPrompt(multipleChoice!);
    expect(prompt).toContain('"Answer: X", where X is one of A, B, C, D');
    expect(prompt).toContain("A) Mercury");
    expect(formatEvalPrompt({ kind: "exact-match", id: "1", question: "2+2?", answer: "4" })).toContain("2+2?");
  });

  it("refuses a missing file and an empty one", async () => {
    await expect(loadEvalDataset(path.join(folder, "missing.jsonl"))).rejects.toThrow(/Cannot read the dataset/);
    writeFileSync(path.join(folder, "empty.jsonl"), "\n");
    await expect(loadEvalDataset(path.join(folder, "empty.jsonl"))).rejects.toThrow(/holds no question/);
  });
});
