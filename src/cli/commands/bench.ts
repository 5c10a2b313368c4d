import { Command, Option } from "commander";
import { loadBenchDataset } from "../../bench/bench-prompts.js";
import { writeBenchReportFiles } from "../../bench/bench-report-files.js";
import { runServingBench, type BenchTarget } from "../../bench/serving-bench.js";
import type { ServingBenchReport } from "../../wire/bench-report.js";
import { apiKeyFromFlagOrEnv } from "../api-key-option.js";
import { CountProgressBar } from "../count-progress-bar.js";
import { formatTable } from "../format-table.js";
import { parseLevelList, parseNumber, parseWholeNumber } from "../number-options.js";
import { runUntilInterrupted } from "../run-until-interrupted.js";

interface BenchFlags {
  url: string;
  model: string;
  apiKey?: string;
  label?: string;
  compareUrl?: string;
  compareModel?: string;
  compareApiKey?: string;
  compareLabel?: string;
  endpoint: "chat" | "completions";
  concurrency: number[];
  requests: number;
  promptTokens: number;
  maxTokens: number;
  dataset?: string;
  warmup: number;
  temperature: number;
  ignoreEos?: boolean;
  sloTtftMs: number;
  sloTpotMs: number;
  seed: number;
  timeoutMs: number;
  json?: boolean;
  out?: string;
  progress: boolean;
}

const fixed = (value: number | null, digits = 1): string => (value === null ? "-" : value.toFixed(digits));

/** The terminal table of a benchmark: a row per target and level, then the ratios in compare mode. */
export function formatBenchReport(report: ServingBenchReport): string {
  const isCompare = report.targets.length > 1;
  const header = [
    ...(isCompare ? ["target"] : []),
    "conc",
    "ok",
    "err",
    "req/s",
    "out tok/s",
    "goodput/s",
    "TTFT p50",
    "p90",
    "p99",
    "TPOT p50",
    "p90",
    "p99",
    "ITL p50",
    "p99",
    "E2E p50",
    "p90",
    "p99",
    "prompt tok",
    "out tok",
  ];
  const rows = report.targets.flatMap((target) =>
    target.levels.map((level) => [
      ...(isCompare ? [target.label] : []),
      String(level.concurrency),
      String(level.completed),
      String(level.errors),
      fixed(level.requestsPerSecond, 2),
      fixed(level.outputTokensPerSecond),
      fixed(level.goodputRequestsPerSecond, 2),
      fixed(level.ttftMs.p50),
      fixed(level.ttftMs.p90),
      fixed(level.ttftMs.p99),
      fixed(level.tpotMs.p50, 2),
      fixed(level.tpotMs.p90, 2),
      fixed(level.tpotMs.p99, 2),
      fixed(level.itlMs.p50, 2),
      fixed(level.itlMs.p99, 2),
      fixed(level.e2eLatencyMs.p50),
      fixed(level.e2eLatencyMs.p90),
      fixed(level.e2eLatencyMs.p99),
      fixed(level.meanPromptTokens),
      fixed(level.meanOutputTokens),
    ]),
  );
  const { slo } = report.settings;
  let text = `latencies in ms; goodput: requests within TTFT ≤ ${slo.ttftMs} ms and TPOT ≤ ${slo.tpotMs} ms\n` + formatTable(header, rows);
  const errors = report.targets.flatMap((target) =>
    target.levels.flatMap((level) =>
      Object.entries(level.errorCodes).map(([code, count]) => `${target.label} c=${level.concurrency}: ${count} × ${code}`),
    ),
  );
  if (errors.length > 0) text += `errors: ${errors.join("; ")}\n`;
  if (report.comparison) {
    const [a, b] = report.targets;
    const ratio = (value: number | null): string => (value === null ? "-" : `${value.toFixed(2)}x`);
    text +=
      `\n${b!.label} / ${a!.label} (throughput above 1x: ${b!.label} serves more; latency below 1x: ${b!.label} is faster)\n` +
      formatTable(
        ["conc", "req/s", "out tok/s", "goodput", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "E2E p50", "E2E p99"],
        report.comparison.map((level) => [
          String(level.concurrency),
          ratio(level.requestsPerSecond),
          ratio(level.outputTokensPerSecond),
          ratio(level.goodputRequestsPerSecond),
          ratio(level.ttftP50),
          ratio(level.ttftP99),
          ratio(level.tpotP50),
          ratio(level.tpotP99),
          ratio(level.e2eLatencyP50),
          ratio(level.e2eLatencyP99),
        ]),
      );
  }
  return text;
}

/** `moestro bench`: a serving benchmark of any OpenAI-compatible endpoint (or two, compared). */
export function createBenchCommand(): Command {
  return new Command("bench")
    .description(
      "Benchmark an OpenAI-compatible endpoint: TTFT, TPOT, ITL, latency, throughput and goodput per concurrency level; --compare-url or --compare-model compares two.",
    )
    .requiredOption("--url <url>", "the server, http://host:port or a base URL ending in /v1")
    .requiredOption("-m, --model <id>", "the model id to send")
    .option(
      "--api-key <key>",
      "sent as Authorization: Bearer (default: env MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY; prefer the env: flags show in ps)",
    )
    .option("--label <name>", "the endpoint's name in tables and charts (default: the model id)")
    .option("--compare-url <url>", "compare mode: a second server (default: --url when --compare-model is given)")
    .option("--compare-model <id>", "compare mode: the second model id (default: --model)")
    .option("--compare-api-key <key>", "compare mode: the second server's key (default: the first's)")
    .option("--compare-label <name>", "compare mode: the second endpoint's name (default: its model id)")
    .addOption(
      new Option("--endpoint <endpoint>", "chat (/v1/chat/completions) or completions (/v1/completions)")
        .choices(["chat", "completions"])
        .default("chat"),
    )
    .option("-c, --concurrency <levels>", "concurrency levels, comma-separated", parseLevelList, [1, 2, 4])
    .option("-n, --requests <n>", "measured requests per level", (value) => parseWholeNumber(value, 1), 16)
    .option(
      "--prompt-tokens <n>",
      "size of the synthetic prompts, in tokens as the server counts them",
      (value) => parseWholeNumber(value, 1),
      128,
    )
    .option("--max-tokens <n>", "max_tokens of each request", (value) => parseWholeNumber(value, 1), 64)
    .option(
      "--dataset <file.jsonl>",
      'prompts instead of synthetic ones: {"prompt"}, {"messages"} or {"question"} lines, optional "max_tokens"',
    )
    .option("--warmup <n>", "unmeasured requests per endpoint before measuring", (value) => parseWholeNumber(value, 0), 2)
    .option("--temperature <t>", "temperature of each request", parseNumber, 0)
    .option("--ignore-eos", "send ignore_eos: true (vLLM, llama-server) so every request generates --max-tokens")
    .option("--slo-ttft-ms <ms>", "goodput SLO: the most time to first token", parseNumber, 1000)
    .option("--slo-tpot-ms <ms>", "goodput SLO: the most time per output token", parseNumber, 100)
    .option("--seed <n>", "seed of the synthetic prompts' words", (value) => parseWholeNumber(value, 0), 0)
    .option("--timeout-ms <ms>", "time limit of each request", (value) => parseWholeNumber(value, 1), 300_000)
    .option("--json", "print the report as JSON on stdout instead of a table")
    .option("-o, --out <file.json>", "write the report as JSON to this file, and its chart beside it (.svg)")
    .option("--no-progress", "no progress bar on stderr")
    .action(async (flags: BenchFlags) => {
      const isCompare = flags.compareUrl !== undefined || flags.compareModel !== undefined;
      // The key as `moestro batch` finds it (flag, else MOESTRO_API_KEY, else MOESTRO_ADMIN_KEY).
      const apiKey = apiKeyFromFlagOrEnv(flags.apiKey);
      const targets: BenchTarget[] = [{ label: flags.label ?? flags.model, baseUrl: flags.url, model: flags.model, apiKey }];
      if (isCompare) {
        const model = flags.compareModel ?? flags.model;
        targets.push({
          label: flags.compareLabel ?? model,
          baseUrl: flags.compareUrl ?? flags.url,
          model,
          apiKey: flags.compareApiKey ?? apiKey,
        });
        if (targets[0]!.label === targets[1]!.label)
          [targets[0]!.label, targets[1]!.label] = [`${targets[0]!.label} (A)`, `${targets[1]!.label} (B)`];
      }
      const prompts = flags.dataset === undefined ? undefined : await loadBenchDataset(flags.dataset);
      const bar = new CountProgressBar({ label: "bench", isEnabled: flags.progress });
      const report = await runUntilInterrupted(
        (signal) =>
          runServingBench({
            targets,
            endpoint: flags.endpoint,
            concurrencyLevels: flags.concurrency,
            requestsPerLevel: flags.requests,
            promptTokens: flags.promptTokens,
            maxTokens: flags.maxTokens,
            prompts,
            warmupRequests: flags.warmup,
            temperature: flags.temperature,
            ignoreEos: flags.ignoreEos ?? false,
            slo: { ttftMs: flags.sloTtftMs, tpotMs: flags.sloTpotMs },
            seed: flags.seed,
            timeoutMs: flags.timeoutMs,
            signal,
            onProgress: (progress) =>
              bar.update(
                progress.completed,
                progress.total,
                `${progress.phase}${progress.concurrency === undefined ? "" : ` c=${progress.concurrency}`}${isCompare ? ` ${progress.target}` : ""}`,
              ),
          }),
        { prefix: "moestro bench", message: "interrupted", json: flags.json, onEnd: () => bar.stop() },
      );
      if (report === undefined) return;
      if (flags.json) process.stdout.write(JSON.stringify(report) + "\n");
      else process.stdout.write(formatBenchReport(report));
      if (flags.out !== undefined) {
        const written = await writeBenchReportFiles(report, flags.out);
        (flags.json ? process.stderr : process.stdout).write(`wrote ${written.reportPath} and ${written.chartPath}\n`);
      }
    });
}
