import { type ErrorCode, errorCodes, MoestroError } from "../errors/index.js";
import type { BenchLevelComparison, BenchLevelResult, LevelSummary, ServingBenchReport, ServingSlo } from "../wire/bench-report.js";
import type { CompletionEndpoint } from "../client/completion-stream.js";
import { createSyntheticPrompt, type BenchPrompt } from "./bench-prompts.js";
import { measureRequest, type RequestMeasurement } from "./request-measurement.js";
import { summarizeLevel } from "./serving-stats.js";
import { runPool } from "./worker-pool.js";

/** An endpoint and model to benchmark. */
export interface BenchTarget {
  /** Names it in tables, charts and ratios. */
  label: string;
  /** The server: `http://host:port` or a base URL ending in `/v1`. */
  baseUrl: string;
  /** The model id sent. */
  model: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
}

/** Where a benchmark stands. */
export interface BenchProgress {
  /**
   * What is running.
   * - `calibrate`: six one-token requests that size the synthetic prompts to `promptTokens`.
   * - `warmup`: requests not measured.
   * - `measure`: the measured requests.
   */
  phase: "calibrate" | "warmup" | "measure";
  /** The target's label. */
  target: string;
  /** The concurrency level (`measure` only). */
  concurrency?: number;
  /** Measured requests done, over all levels and targets; 0 ≤ completed ≤ total. */
  completed: number;
  /** Measured requests in the whole benchmark. */
  total: number;
}

/** Options of {@link runServingBench}. */
export interface ServingBenchOptions {
  /** One target, or two for compare mode (the second is compared with the first). */
  targets: BenchTarget[];
  /** Which endpoint to call. Defaults to `chat`. */
  endpoint?: CompletionEndpoint;
  /** The concurrency levels, each run in turn. Defaults to `[1, 2, 4]`. */
  concurrencyLevels?: number[];
  /** Measured requests per level (and per target). Defaults to 16. */
  requestsPerLevel?: number;
  /** The prompts, used in order and cycled; defaults to synthetic prompts of about `promptTokens` tokens. */
  prompts?: BenchPrompt[];
  /** Target size of synthetic prompts, tokens as the first target counts them (chat template included). Defaults to 128. */
  promptTokens?: number;
  /** `max_tokens` of each request (a prompt's own wins). Defaults to 64 (with 128 prompt tokens it fits a 512-token context). */
  maxTokens?: number;
  /** `temperature`. Defaults to 0. */
  temperature?: number;
  /** Sends `ignore_eos: true` (vLLM, llama-server) so every request generates `maxTokens`. Defaults to false. */
  ignoreEos?: boolean;
  /** Unmeasured requests per target before the first level. Defaults to 2. */
  warmupRequests?: number;
  /** The SLOs of goodput. Defaults to TTFT 1000 ms and TPOT 100 ms. */
  slo?: ServingSlo;
  /** Seed of the synthetic prompts' words. Defaults to 0. */
  seed?: number;
  /** Time limit of each request, ms. Defaults to 300000. */
  timeoutMs?: number;
  /** Stops the benchmark: requests in flight are cancelled, and {@link runServingBench} throws the signal's reason. */
  signal?: AbortSignal;
  /** Called as requests finish. Defaults to none. */
  onProgress?: (progress: BenchProgress) => void;
  /** The `fetch` to use. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Monotonic clock, ms. Defaults to `performance.now`. */
  now?: () => number;
  /** Wall clock for the report's dates, epoch ms. Defaults to `Date.now`. */
  clock?: () => number;
}

function ratio(candidate: number | null, baseline: number | null): number | null {
  return candidate === null || baseline === null || baseline === 0 ? null : candidate / baseline;
}

/** The second level's figures over the first's (see {@link BenchLevelComparison}). */
export function compareLevels(baseline: LevelSummary, candidate: LevelSummary): BenchLevelComparison {
  return {
    concurrency: baseline.concurrency,
    requestsPerSecond: ratio(candidate.requestsPerSecond, baseline.requestsPerSecond),
    outputTokensPerSecond: ratio(candidate.outputTokensPerSecond, baseline.outputTokensPerSecond),
    goodputRequestsPerSecond: ratio(candidate.goodputRequestsPerSecond, baseline.goodputRequestsPerSecond),
    ttftP50: ratio(candidate.ttftMs.p50, baseline.ttftMs.p50),
    ttftP99: ratio(candidate.ttftMs.p99, baseline.ttftMs.p99),
    tpotP50: ratio(candidate.tpotMs.p50, baseline.tpotMs.p50),
    tpotP99: ratio(candidate.tpotMs.p99, baseline.tpotMs.p99),
    e2eLatencyP50: ratio(candidate.e2eLatencyMs.p50, baseline.e2eLatencyMs.p50),
    e2eLatencyP99: ratio(candidate.e2eLatencyMs.p99, baseline.e2eLatencyMs.p99),
  };
}

/**
 * Runs a serving benchmark through the public OpenAI API of one endpoint, or two in compare mode: sizes synthetic
 * prompts to `promptTokens` (two short requests read the server's prompt token counts), sends warmup requests, then at
 * each concurrency level sends `requestsPerLevel` streaming requests and measures each (TTFT, TPOT, ITL, end-to-end
 * latency, token counts from the server's `usage`), and summarises the level (throughput, goodput, percentiles).
 * Every level uses prompts of its own, so a prefix cache helps no level with another's prompts. Failed requests are
 * counted and reported by code, never thrown.
 *
 * @throws {MoestroError} `invalid_request` for an option out of range, or when the calibration requests fail (the
 * server cannot be used): `server_unavailable` when no server answers, the server's code when it refused them
 * (`model_not_found`), else `invalid_request`. `server_unavailable` too when a warmup request finds no server.
 * @throws the signal's reason when `signal` aborts.
 * @example
 * const report = await runServingBench({targets: [{label: "local", baseUrl: "http://127.0.0.1:8080", model: "stories260K"}], concurrencyLevels: [1, 4]});
 * console.log(report.targets[0].levels.map((level) => level.outputTokensPerSecond));
 */
export async function runServingBench(options: ServingBenchOptions): Promise<ServingBenchReport> {
  const now = options.now ?? (() => performance.now());
  const clock = options.clock ?? Date.now;
  const endpoint = options.endpoint ?? "chat";
  const levels = options.concurrencyLevels ?? [1, 2, 4];
  const requestsPerLevel = options.requestsPerLevel ?? 16;
  const promptTokens = options.promptTokens ?? 128;
  const maxTokens = options.maxTokens ?? 64;
  const temperature = options.temperature ?? 0;
  const warmupRequests = options.warmupRequests ?? 2;
  const slo = options.slo ?? { ttftMs: 1000, tpotMs: 100 };
  const seed = options.seed ?? 0;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const targets = options.targets;
  const check = (isValid: boolean, param: string, message: string): void => {
    if (!isValid) throw new MoestroError("invalid_request", message, { param });
  };
  check(targets.length === 1 || targets.length === 2, "targets", "A benchmark takes one target, or two to compare.");
  check(
    levels.length > 0 && levels.every((level) => Number.isInteger(level) && level >= 1),
    "concurrency",
    "Concurrency levels must be whole numbers ≥ 1.",
  );
  check(Number.isInteger(requestsPerLevel) && requestsPerLevel >= 1, "requests", "Requests per level must be a whole number ≥ 1.");
  check(Number.isInteger(promptTokens) && promptTokens >= 1, "prompt-tokens", "Prompt tokens must be a whole number ≥ 1.");
  check(Number.isInteger(maxTokens) && maxTokens >= 1, "max-tokens", "Max tokens must be a whole number ≥ 1.");
  check(Number.isInteger(warmupRequests) && warmupRequests >= 0, "warmup", "Warmup requests must be a whole number ≥ 0.");
  check(options.prompts === undefined || options.prompts.length > 0, "dataset", "The dataset holds no prompt.");

  const startedAt = new Date(clock()).toISOString();
  const origin = now();
  const total = targets.length * levels.length * requestsPerLevel;
  let completed = 0;

  const bodyFor = (target: BenchTarget, prompt: BenchPrompt, tokens: number): Record<string, unknown> => {
    const common = {
      model: target.model,
      max_tokens: prompt.maxTokens ?? tokens,
      temperature,
      ...(options.ignoreEos ? { ignore_eos: true } : {}),
    };
    return endpoint === "chat"
      ? { ...common, messages: prompt.messages ?? [{ role: "user", content: prompt.text }] }
      : { ...common, prompt: prompt.text };
  };
  const measure = (target: BenchTarget, prompt: BenchPrompt, index: number, tokens = maxTokens): Promise<RequestMeasurement> =>
    measureRequest({
      baseUrl: target.baseUrl,
      apiKey: target.apiKey,
      endpoint,
      body: bodyFor(target, prompt, tokens),
      index,
      originMs: origin,
      now,
      timeoutMs,
      signal: options.signal,
      fetch: options.fetch,
    });

  // Synthetic prompts are sized on the first target: prompts of two lengths give tokens per word and the fixed
  // overhead (chat template, BOS) as the server counts them. Words differ in tokens (2 to 3 each in a 512-token
  // vocabulary), so each length is the mean of a few prompts.
  let promptWords: number | null = null;
  if (options.prompts === undefined) {
    options.onProgress?.({ phase: "calibrate", target: targets[0]!.label, completed, total });
    const calibrationPrompts = 3;
    const count = async (words: number, firstIndex: number): Promise<number> => {
      let tokens = 0;
      for (let index = firstIndex; index < firstIndex + calibrationPrompts; index++) {
        const measurement = await measure(targets[0]!, { text: createSyntheticPrompt({ index, wordCount: words, seed }) }, -1, 1);
        if (!measurement.ok || measurement.promptTokens === null) {
          // The code says why, as every other command says it: no server there is `server_unavailable` (as `ps`), a
          // server's own refusal keeps its code (`model_not_found`, `invalid_api_key`), anything else is the URL's fault.
          const serverCode = measurement.errorCode;
          const code: ErrorCode =
            serverCode === "connection_error"
              ? "server_unavailable"
              : serverCode !== undefined && serverCode in errorCodes
                ? (serverCode as ErrorCode)
                : "invalid_request";
          throw new MoestroError(
            code,
            `The calibration request to ${targets[0]!.baseUrl} failed: ${measurement.errorMessage ?? "the server reported no usage"}`,
            { param: code === "invalid_request" || code === "server_unavailable" ? "url" : null },
          );
        }
        tokens += measurement.promptTokens;
      }
      return tokens / calibrationPrompts;
    };
    const [shortWords, longWords] = [Math.max(4, Math.round(promptTokens / 4)), Math.max(8, Math.round(promptTokens / 2))];
    const [shortTokens, longTokens] = [await count(shortWords, 2_000_000), await count(longWords, 2_000_100)];
    const tokensPerWord = longTokens > shortTokens ? (longTokens - shortTokens) / (longWords - shortWords) : 1.3;
    const overhead = shortTokens - tokensPerWord * shortWords;
    promptWords = Math.max(1, Math.round((promptTokens - overhead) / tokensPerWord));
  }
  const promptAt = (index: number): BenchPrompt =>
    options.prompts
      ? options.prompts[index % options.prompts.length]!
      : { text: createSyntheticPrompt({ index: index + 1, wordCount: promptWords!, seed }) };

  for (const target of targets) {
    options.onProgress?.({ phase: "warmup", target: target.label, completed, total });
    for (let index = 0; index < warmupRequests; index++) {
      const measurement = await measure(target, promptAt(1_000_000 + index), index);
      // A server that is not there (the calibration is skipped with a dataset, and a compare target is not calibrated)
      // stops the run here rather than filling a report with connection errors.
      if (measurement.errorCode === "connection_error")
        throw new MoestroError("server_unavailable", `The warmup request to ${target.baseUrl} failed: ${measurement.errorMessage}`, {
          param: target.baseUrl === targets[0]!.baseUrl ? "url" : "compare-url",
        });
    }
  }

  const results = targets.map(() => [] as BenchLevelResult[]);
  for (const [levelIndex, concurrency] of levels.entries()) {
    const prompts = Array.from({ length: requestsPerLevel }, (_, index) => promptAt(levelIndex * requestsPerLevel + index));
    const done =
      (target: BenchTarget) =>
      (measurement: RequestMeasurement): RequestMeasurement => {
        completed++;
        options.onProgress?.({ phase: "measure", target: target.label, concurrency, completed, total });
        return measurement;
      };
    const measured: RequestMeasurement[][] = targets.map(() => []);
    const busyMs = targets.map(() => 0);
    if (targets.length === 1) {
      const target = targets[0]!;
      measured[0] = await runPool(prompts, { concurrency, signal: options.signal }, (prompt, index) =>
        measure(target, prompt, index).then(done(target)),
      );
      const starts = measured[0].map((measurement) => measurement.startedAtMs);
      const ends = measured[0].map((measurement) => measurement.startedAtMs + measurement.e2eLatencyMs);
      busyMs[0] = Math.max(...ends) - Math.min(...starts);
    } else {
      for (let round = 0; round * concurrency < requestsPerLevel; round++) {
        const first = round * concurrency;
        const roundPrompts = prompts.slice(first, first + concurrency);
        // ABBA: the target that goes first alternates, so a slow drift of the machine favours neither.
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const targetIndex of order) {
          const target = targets[targetIndex]!;
          const roundStart = now();
          const roundResults = await Promise.all(
            roundPrompts.map((prompt, offset) => measure(target, prompt, first + offset).then(done(target))),
          );
          busyMs[targetIndex]! += now() - roundStart;
          measured[targetIndex]!.push(...roundResults);
          if (options.signal?.aborted) throw options.signal.reason;
        }
      }
    }
    targets.forEach((_, targetIndex) => {
      const summary = summarizeLevel(measured[targetIndex]!, { concurrency, durationMs: busyMs[targetIndex]!, slo });
      const perRequest = measured[targetIndex]!.map(({ itlMs: _itl, ...record }) => record);
      results[targetIndex]!.push({ ...summary, perRequest });
    });
  }

  const report: ServingBenchReport = {
    settings: {
      endpoint,
      concurrencyLevels: levels,
      requestsPerLevel,
      prompts: options.prompts ? "dataset" : "synthetic",
      promptTokens: options.prompts ? null : promptTokens,
      promptWords,
      maxTokens,
      temperature,
      ignoreEos: options.ignoreEos ?? false,
      warmupRequests,
      slo,
      schedule: targets.length === 1 ? "pool" : "interleaved-rounds",
    },
    // The API key stays out of the report, which is printed and written to files.
    targets: targets.map(({ apiKey: _apiKey, ...target }, index) => ({ ...target, levels: results[index]! })),
    startedAt,
    finishedAt: new Date(clock()).toISOString(),
  };
  if (targets.length === 2) report.comparison = results[0]!.map((level, index) => compareLevels(level, results[1]![index]!));
  return report;
}
