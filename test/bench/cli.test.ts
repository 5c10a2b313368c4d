import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");
// Asynchronous on purpose: the server runs in this process, so a synchronous spawn would block it.
const run = promisify(execFile);

describe.skipIf(!hasTestModels)("moestro bench and moestro eval on the command line", () => {
  let test: TestServer;
  let folder: string;

  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("tiny-qwen3moe.gguf") }],
      engine: { parallel: 2 },
    });
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-bench-"));
  });
  afterAll(async () => {
    await test?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  /** `moestro eval`'s argv against the test server on the built-in sample dataset: each of `models`, then `extra`. */
  const evalArgs = (models: string[], ...extra: string[]) => [
    bin,
    "eval",
    "--url",
    test.url,
    "--dataset",
    "sample",
    ...models.flatMap((model) => ["--model", model]),
    ...extra,
  ];

  it("bench --json prints the report on stdout and --out writes it with a chart beside it", async () => {
    const out = path.join(folder, "bench.json");
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "--url",
      test.url,
      "--model",
      "stories260K",
      "-c",
      "1,2",
      "-n",
      "3",
      "--max-tokens",
      "8",
      "--prompt-tokens",
      "40",
      "--warmup",
      "0",
      "--json",
      "--out",
      out,
    ]);
    const report = JSON.parse(stdout) as {
      targets: Array<{ levels: Array<{ concurrency: number; completed: number; ttftMs: { p50: number }; e2eLatencyMs: { p50: number } }> }>;
    };
    expect(report.targets[0]!.levels.map((level) => [level.concurrency, level.completed])).toEqual([
      [1, 3],
      [2, 3],
    ]);
    for (const level of report.targets[0]!.levels) expect(level.ttftMs.p50).toBeLessThan(level.e2eLatencyMs.p50);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(report);
    expect(readFileSync(path.join(folder, "bench.svg"), "utf8")).toMatch(/^<svg /);
  });

  it("eval --json prints results per model and mode and stores them in --out, resumable", async () => {
    const out = path.join(folder, "eval");
    const args = evalArgs(
      ["stories260K"],
      ...["--limit", "3", "--max-tokens", "24", "--price-input", "1", "--price-output", "2"],
      ...["--json", "--out", out],
    );
    const { stdout } = await run(process.execPath, args);
    const report = JSON.parse(stdout) as { results: Array<Record<string, unknown>> };
    expect(report.results).toHaveLength(1);
    const result = report.results[0]!;
    for (const field of ["model", "thinking", "accuracy", "wilsonLower", "wilsonUpper", "unparsable", "errors", "costUsd"])
      expect(result).toHaveProperty(field);
    expect(result).toMatchObject({ model: "stories260K", thinking: "default", done: 3, errors: 0 });
    expect(result.costUsd as number).toBeGreaterThan(0);
    for (const file of ["results.json", "pareto.svg", "answers.jsonl", "manifest.json"])
      expect(existsSync(path.join(out, file))).toBe(true);
    // Run again: everything is stored, so the same results come back.
    const again = JSON.parse((await run(process.execPath, args)).stdout) as { results: unknown[] };
    expect(again.results).toEqual(report.results);
  });

  it("eval --thinking both asks a model without a thinking switch once, warning once on stderr (a JSON line with --json)", async () => {
    const args = (...extra: string[]) =>
      evalArgs(["stories260K", "tiny-qwen3moe"], "--thinking", "both", "--limit", "1", "--max-tokens", "8", ...extra);
    const json = await run(process.execPath, args("--json", "--no-progress", "--out", path.join(folder, "eval-both-json")));
    const report = JSON.parse(json.stdout) as { results: Array<{ model: string; thinking: string; done: number }> };
    // stories260K's vocabulary has no <think>: off only; tiny-qwen3moe (a Qwen3 vocabulary) thinks: off then on.
    expect(report.results.map((result) => [result.model, result.thinking, result.done])).toEqual([
      ["stories260K", "off", 1],
      ["tiny-qwen3moe", "off", 1],
      ["tiny-qwen3moe", "on", 1],
    ]);
    const warnings = json.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { warning?: { message: string; param: string } })
      .filter((line) => line.warning !== undefined);
    expect(warnings).toEqual([
      { warning: { message: expect.stringContaining("'stories260K' has no thinking switch"), param: "--thinking" } },
    ]);
    const text = await run(process.execPath, args("--no-progress", "--out", path.join(folder, "eval-both-text")));
    expect(text.stderr.match(/^moestro eval: warning: .*$/gm)).toEqual([
      "moestro eval: warning: the model 'stories260K' has no thinking switch: --thinking both asks it once, with thinking off.",
    ]);
  });
});
