import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { servingBenchReportSchema, type ServingBenchReport } from "../wire/bench-report.js";
import type { WireBenchLevel, WireBenchRun, WireEvalRun, WireResultList } from "../wire/console.js";
import { evalReportSchema, type EvalReport } from "../wire/eval-report.js";

/**
 * Reads the bench and eval results stored under one folder, as `moestro bench --out DIR/NAME.json` and
 * `moestro eval --out DIR/NAME` write them (docs/bench.md): a serving benchmark is a JSON report
 * (`servingBenchReportSchema`, src/wire/bench-report.ts); an eval is a folder with a `results.json`
 * (`evalReportSchema`, src/wire/eval-report.ts). Each is validated against the schema its writer's type comes from, and
 * answered in the console's wire shape. Read-only.
 */
export interface StoredResultsReader {
  /** The folder read. */
  readonly dir: string;
  /**
   * Every stored run, newest first. A missing folder is an empty list. JSON files that are neither kind are ignored;
   * files that look like results but do not parse are listed in `skipped` with the reason.
   */
  list(): Promise<WireResultList>;
}

/** How deep folders are walked below the results folder (an eval folder inside a folder per project is depth 2). */
const maxDepth = 4;
/** Larger files are skipped: a bench report with per-request records of 10k requests stays well below this. */
const maxFileBytes = 64 * 1024 * 1024;

/** Creates a {@link StoredResultsReader} over `dir`. */
export function createStoredResultsReader(dir: string): StoredResultsReader {
  return {
    dir,
    async list() {
      const runs: Array<{ run: WireBenchRun | WireEvalRun; sortKey: string }> = [];
      const skipped: WireResultList["skipped"] = [];
      for (const file of await findJsonFiles(dir)) {
        const id = path.relative(dir, file).split(path.sep).join("/");
        let json: unknown;
        try {
          json = JSON.parse(await readFile(file, "utf8"));
        } catch (error) {
          if (path.basename(file) === "results.json") skipped.push({ id, reason: `not JSON: ${(error as Error).message}` });
          continue;
        }
        if (!isObject(json)) continue;
        if ("results" in json && "dataset" in json) {
          const parsed = evalReportSchema.safeParse(json);
          if (!parsed.success) skipped.push({ id, reason: describeIssue(parsed.error) });
          else {
            // An eval is named by its folder (results.json sits in the folder given to --out).
            const evalId = path.basename(file) === "results.json" ? path.posix.dirname(id) : id;
            runs.push({ run: toWireEvalRun(evalId === "." ? "." : evalId, parsed.data), sortKey: parsed.data.createdAt });
          }
        } else if ("targets" in json && "settings" in json) {
          const parsed = servingBenchReportSchema.safeParse(json);
          if (!parsed.success) skipped.push({ id, reason: describeIssue(parsed.error) });
          else runs.push({ run: toWireBenchRun(id, parsed.data), sortKey: parsed.data.startedAt });
        }
      }
      runs.sort((a, b) => (a.sortKey < b.sortKey ? 1 : a.sortKey > b.sortKey ? -1 : 0));
      return { object: "list", results_dir: dir, data: runs.map((entry) => entry.run), skipped };
    },
  };
}

async function findJsonFiles(dir: string, depth = 0): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && depth < maxDepth) files.push(...(await findJsonFiles(full, depth + 1)));
    else if (entry.isFile() && entry.name.endsWith(".json") && entry.name !== "manifest.json" && (await stat(full)).size <= maxFileBytes)
      files.push(full);
  }
  return files;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue === undefined ? "invalid" : `'${issue.path.join(".")}': ${issue.message}`;
}

function toWireBenchRun(id: string, report: ServingBenchReport): WireBenchRun {
  return {
    kind: "bench",
    id,
    started_at: report.startedAt,
    finished_at: report.finishedAt,
    endpoint: report.settings.endpoint,
    prompt_tokens: report.settings.promptTokens,
    max_tokens: report.settings.maxTokens,
    slo: { ttft_ms: report.settings.slo.ttftMs, tpot_ms: report.settings.slo.tpotMs },
    targets: report.targets.map((target) => ({
      label: target.label,
      model: target.model,
      base_url: target.baseUrl,
      levels: target.levels.map(
        (level): WireBenchLevel => ({
          concurrency: level.concurrency,
          requests: level.requests,
          completed: level.completed,
          errors: level.errors,
          requests_per_second: level.requestsPerSecond,
          output_tokens_per_second: level.outputTokensPerSecond,
          total_tokens_per_second: level.totalTokensPerSecond,
          goodput_requests_per_second: level.goodputRequestsPerSecond,
          slo_attainment: level.sloAttainment,
          mean_prompt_tokens: level.meanPromptTokens,
          mean_output_tokens: level.meanOutputTokens,
          ttft_ms: level.ttftMs,
          tpot_ms: level.tpotMs,
          itl_ms: level.itlMs,
          e2e_latency_ms: level.e2eLatencyMs,
        }),
      ),
    })),
  };
}

function toWireEvalRun(id: string, report: EvalReport): WireEvalRun {
  return {
    kind: "eval",
    id,
    created_at: report.createdAt,
    dataset: { path: report.dataset.path, questions: report.dataset.questions },
    cost_basis: report.costBasis,
    max_tokens: report.settings.maxTokens,
    results: report.results.map((result) => ({
      model: result.model,
      thinking: result.thinking,
      questions: result.questions,
      done: result.done,
      correct: result.correct,
      wrong: result.wrong,
      unparsable: result.unparsable,
      errors: result.errors,
      accuracy: result.accuracy,
      wilson_lower: result.wilsonLower,
      wilson_upper: result.wilsonUpper,
      mean_prompt_tokens: result.meanPromptTokens,
      mean_completion_tokens: result.meanCompletionTokens,
      mean_reasoning_tokens: result.meanReasoningTokens,
      cost_usd: result.costUsd,
      cost_per_1000_questions_usd: result.costPer1000QuestionsUsd,
      cloud_model: result.cloudModel,
      cloud_cost_usd: result.cloudCostUsd,
      cloud_cost_per_1000_questions_usd: result.cloudCostPer1000QuestionsUsd,
      mean_latency_ms: result.meanLatencyMs,
      is_pareto_optimal: result.isParetoOptimal,
    })),
  };
}
