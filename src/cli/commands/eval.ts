import { createHash } from "node:crypto";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { apiKeyFromFlagOrEnv } from "../api-key-option.js";
import { loadEvalDataset, type EvalDatasetFormat } from "../../bench/eval-dataset.js";
import { loadEvalPricer } from "../../bench/eval-pricing.js";
import type { EvalCostBasis, EvalReport, EvalThinkingMode } from "../../wire/eval-report.js";
import { createEvalRunIdentity, runEval } from "../../bench/eval-runner.js";
import { createFileEvalStore, evalStoreFiles } from "../../bench/eval-store.js";
import { probeThinkingSwitch } from "../../bench/thinking-switch.js";
import { CountProgressBar } from "../count-progress-bar.js";
import { formatTable } from "../format-table.js";
import { parseNumber, parseWholeNumber } from "../number-options.js";
import { runUntilInterrupted } from "../run-until-interrupted.js";

interface EvalFlags {
  url: string;
  dataset: string;
  model: string[];
  apiKey?: string;
  thinking: "on" | "off" | "both" | "default";
  thinkingBudget?: number;
  limit?: number;
  concurrency: number;
  maxTokens: number;
  temperature: number;
  seed?: number;
  datasetFormat: EvalDatasetFormat;
  shuffleSeed: number;
  priceBook?: string;
  priceInput?: number;
  priceOutput?: number;
  costBasis: EvalCostBasis;
  timeoutMs: number;
  json?: boolean;
  out?: string;
  progress: boolean;
}

const thinkingModes: Record<EvalFlags["thinking"], EvalThinkingMode[]> = {
  on: ["on"],
  off: ["off"],
  both: ["off", "on"],
  default: ["default"],
};

const usd = (value: number): string => (value === 0 ? "0" : value >= 0.01 ? value.toFixed(2) : value.toPrecision(2));
const mean = (value: number | null, digits = 0): string => (value === null ? "-" : value.toFixed(digits));

/** The terminal table of an eval report: a row per model and thinking mode; `*` marks the Pareto-optimal ones. */
export function formatEvalReport(report: EvalReport): string {
  const rows = report.results.map((result) => [
    result.model,
    result.thinking,
    `${result.done}/${result.questions}`,
    (result.accuracy * 100).toFixed(1),
    `${(result.wilsonLower * 100).toFixed(1)}-${(result.wilsonUpper * 100).toFixed(1)}`,
    String(result.unparsable),
    String(result.errors),
    mean(result.meanPromptTokens),
    mean(result.meanCompletionTokens),
    mean(result.meanReasoningTokens),
    usd(result.costPer1000QuestionsUsd),
    usd(result.cloudCostPer1000QuestionsUsd),
    mean(result.meanLatencyMs),
    result.isParetoOptimal ? "*" : "",
  ]);
  return (
    `${report.dataset.questions} questions; accuracy counts unparsable answers and errors as wrong; cost in USD per 1,000 questions (cloud: ${report.results.find((result) => result.cloudModel)?.cloudModel ?? "none"} list price)\n` +
    formatTable(
      [
        "model",
        "thinking",
        "done",
        "acc %",
        "95% CI",
        "unparsable",
        "errors",
        "prompt tok",
        "compl tok",
        "reason tok",
        "$/1k q",
        "cloud $/1k q",
        "latency ms",
        "pareto",
      ],
      rows,
    )
  );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `moestro eval`: accuracy against cost of models and thinking modes on a question set, resumable. */
export function createEvalCommand(): Command {
  return new Command("eval")
    .description(
      "Evaluate models on a multiple-choice or exact-match dataset: accuracy (95% Wilson interval), tokens, cost and latency per model and thinking mode; resumable.",
    )
    .requiredOption("--url <url>", "the server, http://host:port or a base URL ending in /v1")
    .requiredOption("--dataset <file>", "a JSONL dataset, GPQA's CSV, or 'sample' (the questions shipped with moestro)")
    .option("-m, --model <id>", "a model id to evaluate; repeatable", collect, [])
    .option(
      "--api-key <key>",
      "sent as Authorization: Bearer (default: env MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY; prefer the env: flags show in ps)",
    )
    .addOption(
      new Option(
        "--thinking <mode>",
        "on, off, both (off then on; off only for a model the server says cannot think), or default (send no thinking field)",
      )
        .choices(["on", "off", "both", "default"])
        .default("default"),
    )
    .option("--thinking-budget <tokens>", "thinking_budget of requests with thinking on", (value) => parseWholeNumber(value, 0))
    .option("--limit <n>", "ask only the first n questions", (value) => parseWholeNumber(value, 1))
    .option("-c, --concurrency <n>", "requests in flight at once", (value) => parseWholeNumber(value, 1), 4)
    .option("--max-tokens <n>", "max_tokens of each request (thinking models need thousands)", (value) => parseWholeNumber(value, 1), 256)
    .option("--temperature <t>", "temperature of each request", parseNumber, 0)
    .option("--seed <n>", "seed of each request (default: none sent)", (value) => parseWholeNumber(value, 0))
    .addOption(
      new Option("--dataset-format <format>", "how to read --dataset: auto (.csv is GPQA), jsonl or gpqa-csv")
        .choices(["auto", "jsonl", "gpqa-csv"])
        .default("auto"),
    )
    .option("--shuffle-seed <n>", "seed of the GPQA choice shuffle", (value) => parseWholeNumber(value, 0), 0)
    .option("--price-book <file>", "a JSON price book (default: the built-in one, where served models cost 0)")
    .option("--price-input <usd>", "the models' price per 1M prompt tokens, USD, instead of the price book's", parseNumber)
    .option("--price-output <usd>", "the models' price per 1M generated tokens, USD, instead of the price book's", parseNumber)
    .addOption(
      new Option("--cost-basis <basis>", "the cost of the Pareto chart: own (the models' price) or cloud (the nearest cloud list price)")
        .choices(["own", "cloud"])
        .default("own"),
    )
    .option("--timeout-ms <ms>", "time limit of each request", (value) => parseWholeNumber(value, 1), 600_000)
    .option("--json", "print the report as JSON on stdout instead of a table")
    .option(
      "-o, --out <dir>",
      "where answers, results.json and pareto.svg are stored; an interrupted eval resumes from it (default: ./moestro-eval/DATASET-SETTINGS)",
    )
    .option("--no-progress", "no progress bar on stderr")
    .action(async (flags: EvalFlags) => {
      if (flags.model.length === 0) throw new InvalidArgumentError("give at least one --model.");
      for (const price of [flags.priceInput, flags.priceOutput])
        if (price !== undefined && price < 0) throw new InvalidArgumentError("prices must be ≥ 0.");
      const dataset = await loadEvalDataset(flags.dataset, { format: flags.datasetFormat, seed: flags.shuffleSeed });
      const settings = {
        dataset,
        maxTokens: flags.maxTokens,
        temperature: flags.temperature,
        seed: flags.seed,
        thinkingBudgetTokens: flags.thinkingBudget,
      };
      const identityHash = createHash("sha256")
        .update(JSON.stringify(createEvalRunIdentity(settings)))
        .digest("hex")
        .slice(0, 10);
      const out = flags.out ?? path.join("moestro-eval", `${path.basename(dataset.path).replace(/\.[^.]+$/, "")}-${identityHash}`);
      const store = createFileEvalStore(out);
      const pricer = await loadEvalPricer({
        priceBookPath: flags.priceBook,
        inputUsdPerMillionTokens: flags.priceInput,
        outputUsdPerMillionTokens: flags.priceOutput,
      });
      // The key as `batch` and `bench` read it: --api-key, else MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY.
      const apiKey = apiKeyFromFlagOrEnv(flags.apiKey);
      const models = [...new Set(flags.model)];
      // `both` on a model without a thinking switch would ask every question twice for the same answers: it is asked
      // with thinking off only, and one warning says so (the server's `/api/show`; a server that cannot say keeps both).
      const modelThinkingModes: Record<string, EvalThinkingMode[]> = {};
      if (flags.thinking === "both") {
        for (const model of models) {
          if ((await probeThinkingSwitch({ baseUrl: flags.url, apiKey, model })) !== false) continue;
          modelThinkingModes[model] = ["off"];
          const message = `the model '${model}' has no thinking switch: --thinking both asks it once, with thinking off.`;
          process.stderr.write(
            flags.json ? `${JSON.stringify({ warning: { message, param: "--thinking" } })}\n` : `moestro eval: warning: ${message}\n`,
          );
        }
      }
      const bar = new CountProgressBar({ label: "eval", isEnabled: flags.progress });
      const report = await runUntilInterrupted(
        (signal) =>
          runEval({
            ...settings,
            baseUrl: flags.url,
            apiKey,
            models,
            thinkingModes: thinkingModes[flags.thinking],
            modelThinkingModes,
            limit: flags.limit,
            store,
            pricer,
            concurrency: flags.concurrency,
            costBasis: flags.costBasis,
            timeoutMs: flags.timeoutMs,
            signal,
            onProgress: (progress) => bar.update(progress.completed, progress.total, `${progress.model} thinking ${progress.thinking}`),
          }),
        {
          prefix: "moestro eval",
          message: `interrupted; the answers so far are in ${out}: run the same command again to continue.`,
          json: flags.json,
          onEnd: () => bar.stop(),
        },
      );
      if (report === undefined) return;
      if (flags.json) process.stdout.write(JSON.stringify(report) + "\n");
      else process.stdout.write(formatEvalReport(report));
      (flags.json ? process.stderr : process.stdout).write(
        `stored in ${out}: ${evalStoreFiles.report}, ${evalStoreFiles.chart}, ${evalStoreFiles.answers}\n`,
      );
    });
}
