#!/usr/bin/env node
// @ts-check
// Thread-count benchmark: the quick start's request (`/v1/completions`, "Once upon a time", 40 tokens, temperature 0,
// streamed) against `moestro serve --threads N` for every N of BENCH_THREADS, on stories260K and on a generated
// random-weight Qwen3-MoE of about 420 MB, with the machine idle and with CPU hogs (`node -e "for(;;){}"`, one core
// each) running beside it. Configurations are interleaved over BENCH_ROUNDS rounds (the machine may be shared), and
// the medians, minima and maxima of decode tokens/s, TTFT and the time for the 40 tokens are printed as a Markdown
// table (docs/threads.md holds the figures).
//
// usage: npm run build && node scripts/bench-threads.mjs
//   env: BENCH_THREADS=2,1 (thread counts to compare; default: all cores and all but one), BENCH_HOGS=0,1 (CPU hogs
//        beside the server), BENCH_ROUNDS=5, BENCH_REQUESTS=2 (per configuration and round), BENCH_MODELS=stories,moe
//        (`tiny` is read as `stories`), BENCH_DIR=/tmp/moestro-bench (where the MoE is generated, once),
//        BENCH_TIMEOUT_MS=120000 (per request), MOESTRO_SHARED=../shared
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureMoeModel, median, readBenchModels, root, startServe, storiesModelPath } from "./bench-common.mjs";

/** @type {typeof import("../src/client/completion-stream.js")} The compiled streaming client, typed by its source. */
const { streamCompletion } = await import(path.join(root, "dist/client/completion-stream.js"));

const cores = os.availableParallelism();
/** @type {(name: string, fallback: string) => string[]} */
const list = (name, fallback) => (process.env[name] ?? fallback).split(",").filter(Boolean);
const threadCounts = list("BENCH_THREADS", [...new Set([cores, Math.max(1, cores - 1)])].join(",")).map(Number);
const hogCounts = list("BENCH_HOGS", "0,1").map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const requestsPerCell = Number(process.env.BENCH_REQUESTS ?? 2);
const modelNames = readBenchModels("BENCH_MODELS", "stories,moe");
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 120_000);
const maxTokens = 40;

/** The served models by name: the MoE is the one `npm run bench:serve` uses too (same file, generated once). */
const modelPaths = {
  stories: storiesModelPath,
  ...(modelNames.includes("moe") ? { moe: ensureMoeModel(benchDir) } : {}),
};

/**
 * Starts `moestro serve --threads N` with every model loaded and resolves with its URL and how to stop it.
 * @param {number} threads
 * @param {string} home
 */
async function startServer(threads, home) {
  const args = ["--threads", String(threads)];
  for (const name of modelNames) args.push("--model", `${name}=${modelPaths[name]}`);
  args.push("--keep-alive", "-1", "--log-level", "warn", "--home", home);
  return { threads, ...(await startServe(args, { isLogShown: true })) };
}

/**
 * One streamed completion (the repository's streaming client): TTFT, the time for all tokens, and decode tokens/s
 * between the first and the last token.
 * @param {string} url
 * @param {string} model
 * @returns {Promise<{tokens: number | undefined, ttftMs: number, totalMs: number, decodeTokensPerSecond: number | null}>}
 */
async function completion(url, model) {
  const startedAt = performance.now();
  /** @type {number | undefined} */
  let firstAt;
  /** @type {number | undefined} */
  let lastAt;
  /** @type {number | undefined} */
  let tokens;
  const parts = streamCompletion({
    baseUrl: url,
    endpoint: "completions",
    body: { model, prompt: "Once upon a time", max_tokens: maxTokens, temperature: 0 },
    timeoutMs,
  });
  for await (const part of parts) {
    if (part.type === "text-delta") {
      firstAt ??= part.atMs;
      lastAt = part.atMs;
    }
    if (part.type === "usage") tokens = part.usage.completionTokens;
  }
  const endedAt = performance.now();
  if (firstAt === undefined || lastAt === undefined) throw new Error(`${model}: the stream held no text`);
  return {
    tokens,
    ttftMs: firstAt - startedAt,
    totalMs: endedAt - startedAt,
    decodeTokensPerSecond: tokens !== undefined && tokens > 1 && lastAt > firstAt ? (tokens - 1) / ((lastAt - firstAt) / 1000) : null,
  };
}

/**
 * Starts `count` processes that each spin one core.
 * @param {number} count
 */
function startHogs(count) {
  return Array.from({ length: count }, () => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
}

/** @param {import("node:child_process").ChildProcess[]} hogs */
async function stopHogs(hogs) {
  await Promise.all(
    hogs.map(
      (hog) =>
        new Promise((resolve) => {
          hog.once("exit", resolve);
          hog.kill("SIGKILL");
        }),
    ),
  );
}

/** @type {(value: number | null | undefined, digits: number) => string} */
const fixed = (value, digits) => (value === null || value === undefined ? "-" : value.toFixed(digits));

const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-threads-"));
/** @type {Array<Awaited<ReturnType<typeof startServer>>>} */
const servers = [];
/** @type {Array<{round: number, hogs: number, threads: number, model: string, loadAverage: number, tokens: number | undefined, ttftMs: number, totalMs: number, decodeTokensPerSecond: number | null}>} */
const samples = [];
try {
  for (const threads of threadCounts) servers.push(await startServer(threads, home));
  for (const server of servers) for (const model of modelNames) await completion(server.url, model); // warm-up
  for (let round = 0; round < rounds; round++) {
    // Alternate the order of loads and of servers from round to round, so that a drift in the machine's other load
    // does not favour one configuration.
    const loads = round % 2 ? [...hogCounts].reverse() : hogCounts;
    for (const hogCount of loads) {
      const hogs = startHogs(hogCount);
      try {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const loadAverage = os.loadavg()[0];
        const order = (round + hogCount) % 2 ? [...servers].reverse() : servers;
        for (const server of order) {
          for (const model of modelNames) {
            for (let request = 0; request < requestsPerCell; request++) {
              const result = await completion(server.url, model);
              const sample = { round, hogs: hogCount, threads: server.threads, model, loadAverage, ...result };
              samples.push(sample);
              console.error(JSON.stringify(sample));
            }
          }
        }
      } finally {
        // A request that throws must not leave the hogs spinning after this process ends.
        await stopHogs(hogs);
      }
    }
  }
} finally {
  await Promise.all(servers.map((server) => server.stop()));
  rmSync(home, { recursive: true, force: true });
}

console.log(
  `\n${cores} cores (${os.cpus()[0]?.model ?? "cpu"}), ${rounds} rounds x ${requestsPerCell} requests per configuration, ${maxTokens} tokens; load average (1 min) during rounds ${fixed(Math.min(...samples.map((sample) => sample.loadAverage)), 2)}-${fixed(Math.max(...samples.map((sample) => sample.loadAverage)), 2)}\n`,
);
console.log("| model | CPU hogs | threads | decode tok/s median (min-max) | TTFT ms median | 40 tokens, ms median (min-max) |");
console.log("|---|---|---|---|---|---|");
for (const model of modelNames) {
  for (const hogCount of hogCounts) {
    for (const threads of threadCounts) {
      const cell = samples.filter((sample) => sample.model === model && sample.hogs === hogCount && sample.threads === threads);
      const decode = cell.map((sample) => sample.decodeTokensPerSecond).filter(/** @returns {value is number} */ (value) => value !== null);
      const total = cell.map((sample) => sample.totalMs);
      const ttft = cell.map((sample) => sample.ttftMs);
      console.log(
        `| ${model} | ${hogCount} | ${threads} | ${fixed(median(decode), 1)} (${fixed(Math.min(...decode), 1)}-${fixed(Math.max(...decode), 1)}) | ${fixed(median(ttft), 0)} | ${fixed(median(total), 0)} (${fixed(Math.min(...total), 0)}-${fixed(Math.max(...total), 0)}) |`,
      );
    }
  }
}
