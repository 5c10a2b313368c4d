// @ts-check
// What the benchmark scripts (scripts/bench-*.mjs) share: where the repository and the shared test models are, the
// names of their models, the generated benchmark MoE, and starting a server process (moestro serve, llama-server, the
// node:http floor) that is killed again when it does not come up.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The shared test models and GGUF tools beside the checkout (docs/test-models.md); `MOESTRO_SHARED` overrides it. */
export const shared = process.env.MOESTRO_SHARED ?? path.resolve(root, "../shared");

/**
 * The models a benchmark can run on, as `BENCH_MODELS` (and bench:serve's `BENCH_FLOOR`) name them:
 * - `stories`: stories260K, the tests' tiny trained model (per-request overhead dominates); `tiny` is read as `stories`;
 * - `moe`: the generated random-weight Qwen3-MoE of {@link ensureMoeModel} (compute dominates).
 * @typedef {"stories" | "moe"} BenchModel
 */

/**
 * Reads a comma-separated list of {@link BenchModel} names from the environment variable `name`, else `fallback`.
 * @param {string} name
 * @param {string} fallback
 * @returns {BenchModel[]}
 * @throws {Error} naming the variable when a name is not a benchmark model's.
 */
export function readBenchModels(name, fallback) {
  return (process.env[name] ?? fallback)
    .split(",")
    .filter(Boolean)
    .map((model) => {
      const known = model === "tiny" ? "stories" : model;
      if (known !== "stories" && known !== "moe") throw new Error(`${name}: unknown model '${model}' (stories, moe)`);
      return known;
    });
}

/** The path of stories260K in the shared models. */
export const storiesModelPath = path.join(shared, "models/stories260K.gguf");

/**
 * The path of the ~735M-parameter random-weight Qwen3-MoE of docs/engine.md (8 layers, hidden 1024, 16 heads / 4 KV
 * of 64, 32 experts top-8, expert FFN 512, Q4_0, about 420 MB) in `benchDir`, generated there once with the shared
 * `make-tiny-qwen.mjs` (about a minute) and reused by every benchmark after.
 * @param {string} benchDir
 * @returns {string}
 * @throws {Error} when the shared GGUF tools are missing, or the generator fails.
 */
export function ensureMoeModel(benchDir) {
  const file = path.join(benchDir, "qwen3moe-735m-q4_0.gguf");
  if (existsSync(file)) return file;
  const generator = path.join(shared, "tools/gguf/make-tiny-qwen.mjs");
  if (!existsSync(generator)) throw new Error(`${generator} not found: set MOESTRO_SHARED to the shared folder (docs/test-models.md)`);
  mkdirSync(benchDir, { recursive: true });
  console.error(`generating ${file} (once; about a minute)...`);
  const shape = "--layers 8 --hidden 1024 --heads 16 --kvheads 4 --headdim 64 --experts 32 --used 8 --expertff 512 --ctx 4096";
  const args = ["--arch", "qwen3moe", "--qtype", "q4_0", "--fast", ...shape.split(" "), "--name", "bench-qwen3moe-735m"];
  execFileSync(process.execPath, [generator, ...args, "--out", file], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  return file;
}

/**
 * A server process that is up.
 * @typedef {{ url: string, child: import("node:child_process").ChildProcess, stop: () => Promise<void> }} StartedServer
 */

/**
 * Starts a server process and resolves once it is ready: once `readUrl` finds its URL in what it printed on stdout,
 * and, with `isHealthPolled`, once `GET URL/health` answers 2xx. Its output is kept until then for the error message,
 * and afterwards passed to this process's stderr when `isLogShown`, else dropped (it is always read, so a chatty
 * server never blocks on a full pipe).
 * @param {string} command
 * @param {string[]} args
 * @param {{ label: string, readUrl: (stdout: string) => string | undefined, isHealthPolled?: boolean, timeoutMs?: number, isLogShown?: boolean, env?: Record<string, string> }} options
 *   `label` names the process in errors; `timeoutMs` defaults to 120000; `env` is added to this process's environment.
 * @returns {Promise<StartedServer>}
 * @throws {Error} with the end of its output when the process exits first or is not ready within `timeoutMs`; the
 *   process is killed first.
 */
export async function startProcess(command, args, options) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  let stdout = "";
  let output = "";
  let isReady = false;
  /** @param {Buffer} data */
  const onOutput = (data) => {
    if (!isReady) output += data;
    else if (options.isLogShown) process.stderr.write(data);
  };
  child.stdout.on("data", (/** @type {Buffer} */ data) => {
    if (!isReady) stdout += data;
    onOutput(data);
  });
  child.stderr.on("data", onOutput);
  /** @type {() => Promise<void>} */
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${options.label} exited (${child.exitCode ?? child.signalCode}): ${output.slice(-2000)}`);
      const url = options.readUrl(stdout);
      if (url !== undefined) {
        const isHealthy =
          !options.isHealthPolled ||
          (await fetch(`${url}/health`).then(
            (response) => response.ok,
            () => false,
          ));
        if (isHealthy) {
          isReady = true;
          return { url, child, stop };
        }
      }
      if (Date.now() > deadline)
        throw new Error(`${options.label} did not start within ${options.timeoutMs ?? 120_000} ms: ${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts `moestro serve` (the built CLI, `bin/moestro.js` on dist/) with `args` on a free port of 127.0.0.1 and
 * resolves once it prints that it is listening (its models are loaded by then).
 * @param {string[]} args `serve`'s flags (`--model`, `--threads`, `--home`...), without `--port` and `--json`.
 * @param {{ timeoutMs?: number, isLogShown?: boolean, env?: Record<string, string>, checkout?: string }} [options] as
 *   {@link startProcess}'s (`env` sets configuration too, as `MOESTRO_ENGINE__KIND=llama-server`: `MOESTRO_SECTION__FIELD`
 *   variables); `checkout`: the built checkout whose CLI runs (a baseline `git worktree`). Defaults to this one.
 * @returns {Promise<StartedServer>}
 * @throws {Error} as {@link startProcess} does.
 */
export async function startServe(args, options = {}) {
  const { checkout = root, ...processOptions } = options;
  return await startProcess(process.execPath, [path.join(checkout, "bin/moestro.js"), "serve", ...args, "--port", "0", "--json"], {
    ...processOptions,
    label: "moestro serve",
    // `--json` prints one line, {"event":"listening","url":…}, on stdout; the logs go to stderr. Whole lines only.
    readUrl: (stdout) => {
      const line = stdout
        .split("\n")
        .slice(0, -1)
        .find((candidate) => candidate.includes('"listening"'));
      return line === undefined ? undefined : JSON.parse(line).url;
    },
  });
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on Linux everywhere in practice). */
const clockTicksPerSecond = 100;

/**
 * CPU time (user + system, ms) that process `pid` and its descendants have used so far, from /proc/<pid>/stat
 * (fields 14 and 15, in clock ticks: a 10 ms resolution, fine over a block of hundreds of tokens); `undefined` where
 * /proc cannot be read (not Linux). A worker (llama-server) is a child of `moestro serve`, so both are counted.
 * @param {number | undefined} pid
 * @returns {number | undefined}
 */
export function processTreeCpuMs(pid) {
  if (pid === undefined || !existsSync("/proc/self/stat")) return undefined;
  /** @type {Map<number, number[]>} */
  const children = new Map();
  /** @type {Map<number, number>} */
  const ticks = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const { parent, cpuTicks } = readStat(stat);
    ticks.set(Number(entry), cpuTicks);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  let total = 0;
  for (const stack = [pid]; stack.length > 0; ) {
    const next = /** @type {number} */ (stack.pop());
    total += ticks.get(next) ?? 0;
    stack.push(...(children.get(next) ?? []));
  }
  return (total * 1000) / clockTicksPerSecond;
}

/**
 * The fields of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line that the CPU readers use: the parent's pid
 * (field 4) and utime + stime (fields 14 and 15), in clock ticks.
 * @param {string} stat
 */
function readStat(stat) {
  // The command name (field 2) is in parentheses and may hold spaces: the fields after it start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { parent: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/**
 * CPU time (user + system, ms) of a process's main thread and of all its other threads (libuv's pool: llama.cpp's
 * decode and sampling in process) so far, from /proc/<pid>/task/<tid>/stat (Linux only).
 * @param {number} [pid] defaults to this process.
 * @returns {{ main: number, others: number }}
 */
export function threadCpuMs(pid = process.pid) {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const ms = (readStat(stat).cpuTicks * 1000) / clockTicksPerSecond;
    if (Number(tid) === pid) main += ms;
    else others += ms;
  }
  return { main, others };
}

/**
 * The median of `values` (the mean of the two middle ones for an even count); `NaN` when there are none.
 * @param {number[]} values
 */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * One streamed greedy chat completion with usage (`stream_options.include_usage`), read event by event.
 * @param {string} url the server's base URL
 * @param {{ model: string, messages: unknown[], maxTokens: number }} request
 * @returns {Promise<{ ttftMs: number, promptTokens: number, cachedTokens: number }>} the time to the first text or
 *   thought chunk (the whole answer's time when it has none), and the usage's prompt and cached prompt tokens.
 * @throws {Error} on a status other than 2xx, or an error event in the stream.
 */
export async function streamChat(url, request) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: request.model,
      messages: request.messages,
      max_tokens: request.maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  let ttftMs = 0;
  let promptTokens = 0;
  let cachedTokens = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const data = JSON.parse(event.slice(6));
      if (data.error) throw new Error(JSON.stringify(data.error));
      const delta = data.choices?.[0]?.delta;
      if (ttftMs === 0 && (delta?.content || delta?.reasoning_content)) ttftMs = performance.now() - startedAt;
      if (data.usage) {
        promptTokens = data.usage.prompt_tokens;
        cachedTokens = data.usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
    }
  }
  // A reply that ends at once (an end-of-generation token first) carries no text: its end is its first token.
  if (ttftMs === 0) ttftMs = performance.now() - startedAt;
  return { ttftMs, promptTokens, cachedTokens };
}
