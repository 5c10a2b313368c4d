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
//        beside the server), BENCH_ROUNDS=5, BENCH_REQUESTS=2 (per configuration and round), BENCH_MODELS=stories,moe,
//        BENCH_DIR=/tmp/moestro-bench (where the MoE is generated, once), BENCH_TIMEOUT_MS=120000 (per request)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The shared test models and GGUF tools beside the checkout (docs/test-models.md); `MOESTRO_SHARED` overrides it. */
const shared = process.env.MOESTRO_SHARED ?? path.resolve(root, "../shared");
const cores = os.availableParallelism();
/** @type {(name: string, fallback: string) => string[]} */
const list = (name, fallback) => (process.env[name] ?? fallback).split(",").filter(Boolean);
const threadCounts = list("BENCH_THREADS", [...new Set([cores, Math.max(1, cores - 1)])].join(",")).map(Number);
const hogCounts = list("BENCH_HOGS", "0,1").map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const requestsPerCell = Number(process.env.BENCH_REQUESTS ?? 2);
const modelNames = list("BENCH_MODELS", "stories,moe");
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 120_000);
const maxTokens = 40;

/** The ~735M-parameter random Qwen3-MoE that `npm run bench:serve` uses too (same file, generated once). */
function moeModelPath() {
  const file = path.join(benchDir, "qwen3moe-735m-q4_0.gguf");
  if (existsSync(file)) return file;
  mkdirSync(benchDir, { recursive: true });
  console.error(`generating ${file} (once; about a minute)...`);
  const shape = "--layers 8 --hidden 1024 --heads 16 --kvheads 4 --headdim 64 --experts 32 --used 8 --expertff 512 --ctx 4096";
  const args = ["--arch", "qwen3moe", "--qtype", "q4_0", "--fast", ...shape.split(" "), "--name", "bench-qwen3moe-735m"];
  execFileSync(process.execPath, [path.join(shared, "tools/gguf/make-tiny-qwen.mjs"), ...args, "--out", file], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return file;
}

/** @type {Record<string, string>} */
const modelPaths = {
  stories: path.join(shared, "models/stories260K.gguf"),
  ...(modelNames.includes("moe") ? { moe: moeModelPath() } : {}),
};

/**
 * Starts `moestro serve --threads N` with every model loaded and resolves with its URL and process.
 * @param {number} threads
 * @param {string} home
 * @returns {Promise<{threads: number, url: string, child: import("node:child_process").ChildProcess}>}
 */
async function startServe(threads, home) {
  const args = [path.join(root, "bin/moestro.js"), "serve", "--threads", String(threads), "--port", "0", "--json"];
  for (const name of modelNames) args.push("--model", `${name}=${modelPaths[name]}`);
  args.push("--keep-alive", "-1", "--log-level", "warn", "--home", home);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  /** @type {string} */
  const url = await new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (data) => {
      output += data.toString();
      const line = output.split("\n").find((candidate) => candidate.includes('"listening"'));
      if (line) resolve(JSON.parse(line).url);
    });
    child.once("exit", (code) => reject(new Error(`serve --threads ${threads} exited with ${code}`)));
  });
  return { threads, url, child };
}

/**
 * One streamed completion: TTFT, the time for all tokens, and decode tokens/s between the first and the last token.
 * @param {string} url
 * @param {string} model
 * @returns {Promise<{tokens: number | undefined, ttftMs: number, totalMs: number, decodeTokensPerSecond: number | null}>}
 */
async function completion(url, model) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model,
      prompt: "Once upon a time",
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`${model}: HTTP ${response.status} ${await response.text()}`);
  /** @type {number | undefined} */
  let firstAt;
  /** @type {number | undefined} */
  let lastAt;
  /** @type {number | undefined} */
  let tokens;
  let buffer = "";
  const decoder = new TextDecoder();
  if (response.body === null) throw new Error(`${model}: HTTP ${response.status} with no body`);
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop() ?? "";
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      if (chunk.choices?.[0]?.text) {
        firstAt ??= performance.now();
        lastAt = performance.now();
      }
    }
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

/** @type {(values: number[]) => number} */
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
/** @type {(value: number | null | undefined, digits: number) => string} */
const fixed = (value, digits) => (value === null || value === undefined ? "-" : value.toFixed(digits));

const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-threads-"));
/** @type {Array<{threads: number, url: string, child: import("node:child_process").ChildProcess}>} */
const servers = [];
/** @type {Array<{round: number, hogs: number, threads: number, model: string, loadAverage: number, tokens: number | undefined, ttftMs: number, totalMs: number, decodeTokensPerSecond: number | null}>} */
const samples = [];
try {
  for (const threads of threadCounts) servers.push(await startServe(threads, home));
  for (const server of servers) for (const model of modelNames) await completion(server.url, model); // warm-up
  for (let round = 0; round < rounds; round++) {
    // Alternate the order of loads and of servers from round to round, so that a drift in the machine's other load
    // does not favour one configuration.
    const loads = round % 2 ? [...hogCounts].reverse() : hogCounts;
    for (const hogCount of loads) {
      const hogs = startHogs(hogCount);
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
      await stopHogs(hogs);
    }
  }
} finally {
  for (const server of servers) server.child.kill("SIGTERM");
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
