#!/usr/bin/env node
// @ts-check
// Serving benchmark (issue 16, "Speed"): in one run, interleaved, with the same threads, slots, batch and prompts,
// llama-server started directly, moestro with a llama-server worker (`engine.kind` llama-server) and moestro in-process
// (node-llama-cpp), at concurrency 1 and 4, on a tiny trained model (per-token overhead dominates) and on a generated
// random-weight Qwen3-MoE of about 420 MB (compute dominates). Prints tokens/s, TTFT, TPOT and ITL per engine, and the
// worker's and the in-process engine's figures over direct llama-server's (targets: worker/direct tokens/s >= 0.95,
// worker - direct TTFT p50 <= +1 ms).
//
// Optional, for the in-process engine's own costs: raw node-llama-cpp in the benchmark's process (BENCH_RAW=1), and a
// bare node:http server around that raw loop (BENCH_FLOOR=stories, scripts/bench-serve-floor.mjs): the floor of what
// HTTP in a second process adds, whatever the server does. BENCH_FLOOR_ENGINES=evaluate,addon adds a second floor
// around scripts/addon-loop.mjs (node-llama-cpp's native addon driven directly, issue 19 section 1 spike).
//
// usage: npm run bench:serve            (env: BENCH_THREADS=1, BENCH_REQUESTS=192 stories / 48 moe, BENCH_ROUNDS=4, BENCH_MAX_TOKENS=32,
//                                        LLAMA_SERVER (default /tmp/lcpp/src/build/bin/llama-server, where the dev builds put it), BENCH_MODELS=stories,moe,
//                                        BENCH_LEVELS=one,four (one: c=1 streamed, plain: c=1 not streamed, four: c=4 streamed),
//                                        BENCH_RAW=0, BENCH_FLOOR= (empty: none; `tiny` is read as `stories`),
//                                        MOESTRO_SHARED=../shared, BENCH_DIR=/tmp/moestro-bench,
//                                        BENCH_BASELINE=<built checkout>: its in-process engine too, in the same rounds,
//                                        BENCH_WORKER=0: leaves the worker out of the rounds)
// Build llama-server from the llama.cpp source inside node-llama-cpp (same commit) with scripts/build-llama-server.sh
// or `moestro engine build --backend cpu`.
import { existsSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { ensureMoeModel, processTreeCpuMs, readBenchModels, root, startProcess, startServe, storiesModelPath } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 32);
const parallel = 4;
const contextTokens = 512;
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
/** The llama-server binary: run directly, and as moestro's worker. Where the development builds put it, unless given. */
const llamaServer =
  process.env.LLAMA_SERVER ??
  ["/tmp/lcpp/src/build/bin/llama-server", "/tmp/llama-build/src/build/bin/llama-server"].find((candidate) => existsSync(candidate));
if (llamaServer === undefined || !existsSync(llamaServer)) {
  console.error(
    `llama-server not found${llamaServer ? ` at ${llamaServer}` : ""}: set LLAMA_SERVER, or build it (scripts/build-llama-server.sh)`,
  );
  process.exit(2);
}
const which = readBenchModels("BENCH_MODELS", "stories,moe");
/** Whether raw node-llama-cpp runs in the benchmark's process too (the in-process engine's floor). */
const withRaw = ["1", "true", "on"].includes(process.env.BENCH_RAW ?? "0");
/** The models on which the node:http floor (scripts/bench-serve-floor.mjs) is measured too; none by default. */
const withFloor = readBenchModels("BENCH_FLOOR", "");
/** The loops the floor runs (scripts/bench-serve-floor.mjs ENGINE): `evaluate` (sequence.evaluate) and/or `addon`. */
const floorEngines = (process.env.BENCH_FLOOR_ENGINES ?? "evaluate").split(",").filter(Boolean);
/** @param {string} engine */
const floorLabel = (engine) => (engine === "evaluate" ? "node:http floor" : `node:http floor (${engine})`);
/** Which blocks run: concurrency 1 streamed (one), 1 not streamed (plain), 4 streamed (four). */
const levels = (process.env.BENCH_LEVELS ?? "one,four").split(",");

/**
 * One request's figures: time to first token and end-to-end latency (ms), tokens generated, the gaps between
 * successive chunks that carried text (ms; empty where not streamed), and whether the server reported an error.
 * @typedef {{ ttftMs: number, latencyMs: number, tokens: number, gapsMs: number[], failed?: boolean }} RunResult
 */
/** @typedef {(prompt: string) => Promise<RunResult>} Run */
/** @typedef {{ results: RunResult[], seconds: number, cpuMs?: number }} Block */
/** @typedef {"one" | "plain" | "four"} Level */
/**
 * An engine under test: its label, how it runs a request (streamed, and not streamed where it can), how it stops.
 * @typedef {{ label: string, run: Run, runPlain?: Run, close: () => Promise<unknown>, pid?: number }} Engine
 * `pid`: the engine's server process, whose CPU time (with its child processes': a worker) each block reads from /proc.
 */

/**
 * The prompts of one engine, all different: a prompt cache that outlives a request (llama-server keeps up to 8 GiB of
 * past prompts' KV cache in RAM by default, `--cache-ram`) must not turn a repeated benchmark prompt into a free
 * prefill. Every engine gets the same sequence of prompts.
 */
function promptSource() {
  let index = 0;
  return () => {
    index++;
    return `Story ${index}. Once upon a time, in a small town, there lived a child named ${["Lily", "Tom", "Sue", "Ben"][index % 4]} who`;
  };
}

/**
 * The value at `fraction` (0 to 1) of the sorted values, nearest rank below.
 * @param {number[]} values
 * @param {number} fraction
 */
function percentile(values, fraction) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

/**
 * Runs `count` requests through `concurrency` workers pulling from one queue; `run(prompt)` returns {ttftMs, latencyMs, tokens}.
 * @param {Run} run
 * @param {() => string} nextPrompt
 * @param {number} concurrency
 * @param {number} count
 * @returns {Promise<Block>}
 */
async function drive(run, nextPrompt, concurrency, count) {
  const queue = Array.from({ length: count }, nextPrompt);
  /** @type {RunResult[]} */
  const results = [];
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let prompt = queue.shift(); prompt !== undefined; prompt = queue.shift()) results.push(await run(prompt));
    }),
  );
  return { results, seconds: (performance.now() - startedAt) / 1000 };
}

/**
 * Figures of the blocks of one engine and level, pooled; `undefined` when the level did not run.
 * @param {Block[]} blocks
 */
function summarize(blocks) {
  if (blocks.length === 0) return undefined;
  const results = blocks.flatMap((block) => block.results);
  const seconds = blocks.reduce((total, block) => total + block.seconds, 0);
  const tokens = results.reduce((total, result) => total + result.tokens, 0);
  return {
    requests: results.length,
    tokensPerSecond: tokens / seconds,
    requestsPerSecond: results.length / seconds,
    ttftP50Ms: percentile(
      results.map((result) => result.ttftMs),
      0.5,
    ),
    latencyP50Ms: percentile(
      results.map((result) => result.latencyMs),
      0.5,
    ),
    msPerTokenP50: percentile(
      results.map((result) => result.latencyMs / Math.max(result.tokens, 1)),
      0.5,
    ),
    // vLLM's TPOT: (latency - TTFT) / (output tokens - 1), over the requests with more than one token.
    tpotP50Ms: percentile(
      results.filter((result) => result.tokens > 1).map((result) => (result.latencyMs - result.ttftMs) / (result.tokens - 1)),
      0.5,
    ),
    itlP50Ms: percentile(
      results.flatMap((result) => result.gapsMs),
      0.5,
    ),
    tokensPerRequest: tokens / results.length,
    // The server's CPU time (its process and children) per output token, ms: a figure that moves far less with the
    // machine's load than wall time does. `undefined` for an engine without a process (raw node-llama-cpp).
    cpuMsPerToken: blocks.every((block) => block.cpuMs !== undefined)
      ? blocks.reduce((total, block) => total + (block.cpuMs ?? 0), 0) / Math.max(tokens, 1)
      : undefined,
    failed: results.filter((result) => result.failed).length,
  };
}

/** @typedef {ReturnType<typeof summarize>} Figures The figures of one engine and level. */

/**
 * Raw node-llama-cpp: one context with 4 sequences, a free sequence per request, greedy decoding.
 * @param {string} modelPath
 */
async function rawEngine(modelPath) {
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: contextTokens, sequences: parallel, threads, batchSize: 64 });
  const free = Array.from({ length: parallel }, () => context.getSequence());
  const bos = model.tokens.bos;
  /** @type {Run} */
  const run = async (prompt) => {
    // At most `parallel` requests run at once (the highest concurrency), so a sequence is always free.
    const sequence = /** @type {import("node-llama-cpp").LlamaContextSequence} */ (free.pop());
    const startedAt = performance.now();
    let ttftMs = 0;
    let tokens = 0;
    /** @type {number[]} */
    const gapsMs = [];
    let lastAt = 0;
    try {
      await sequence.clearHistory();
      const input = model.tokenize(prompt, true);
      if (model.tokens.shouldPrependBosToken && bos !== null) input.unshift(bos);
      for await (const token of sequence.evaluate(input, { temperature: 0 })) {
        const now = performance.now();
        if (tokens === 0) ttftMs = now - startedAt;
        else gapsMs.push(now - lastAt);
        lastAt = now;
        if (model.isEogToken(token)) break;
        model.detokenize([token]);
        if (++tokens >= maxTokens) break;
      }
    } finally {
      free.push(sequence);
    }
    return { ttftMs, latencyMs: performance.now() - startedAt, tokens, gapsMs };
  };
  return {
    run,
    close: async () => {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** One keep-alive connection pool for every HTTP engine. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/**
 * POSTs `body` as JSON with node:http and hands each chunk of the response to `onChunk` (a string), resolving at its
 * end. node:http, not fetch: fetch costs more per request and per streamed chunk (its web streams), a cost of the
 * benchmark's client that would fall on every server's figures alike
 * (docs/bench.md#npm-run-benchserve-llama-server-direct-moestro-with-a-worker-moestro-in-process). Tried again (up to 3 times)
 * when a kept-alive connection was closed under it: llama-server closes idle connections, and the interleaved rounds
 * leave each server idle for a while.
 * @param {string} url
 * @param {unknown} body
 * @param {(chunk: string) => void} onChunk
 * @returns {Promise<void>}
 */
async function post(url, body, onChunk) {
  const payload = JSON.stringify(body);
  for (let attempt = 1; ; attempt++) {
    let received = false;
    try {
      return await new Promise((/** @type {(value?: void) => void} */ resolve, reject) => {
        const request = http.request(
          url,
          { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
          (response) => {
            response.setEncoding("utf8");
            response.on("data", (chunk) => {
              received = true;
              onChunk(chunk);
            });
            response.on("end", resolve);
            response.on("error", reject);
          },
        );
        request.on("error", reject);
        request.end(payload);
      });
    } catch (error) {
      if (received || attempt >= 3) throw error;
    }
  }
}

/**
 * Streams one completion from an OpenAI-compatible server (`POST /v1/completions`, moestro's and llama-server's alike)
 * and measures it. Every server gets the same body: `max_tokens`, temperature 0, usage in the stream, and no `ignore_eos`:
 * moestro ignores it, so llama-server alone would go on past the end-of-generation tokens where moestro stops. Without
 * it both stop at the same token (greedy decoding, the same llama.cpp). On the random-weight MoE about a quarter of the
 * requests end early that way; llama-server then ends the stream with an error (its output parser rejects the text, see
 * docs/bench.md), counted as `failed` with the tokens it streamed, the same tokens moestro streams.
 * @param {string} baseUrl
 * @param {string} modelId
 * @returns {Run}
 */
function httpRun(baseUrl, modelId) {
  return async (prompt) => {
    const startedAt = performance.now();
    let buffer = "";
    let ttftMs = 0;
    let tokens = 0;
    let pieces = 0;
    let lastAt = 0;
    let failed = false;
    /** @type {number[]} */
    const gapsMs = [];
    await post(
      `${baseUrl}/v1/completions`,
      {
        model: modelId,
        prompt,
        max_tokens: maxTokens,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      },
      (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          // An error mid-stream: llama-server writes `error: {…}`, moestro an `error` event or a `data:` with `error`.
          if (event.startsWith("error") || event.startsWith("event: error")) failed = true;
          if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
          const data = JSON.parse(event.slice(6));
          if (data.error) failed = true;
          if (data.choices?.[0]?.text) {
            const now = performance.now();
            if (pieces === 0) ttftMs = now - startedAt;
            else gapsMs.push(now - lastAt);
            lastAt = now;
            pieces++;
          }
          if (data.usage) tokens = data.usage.completion_tokens;
        }
      },
    );
    return { ttftMs, latencyMs: performance.now() - startedAt, tokens: tokens || pieces, gapsMs, failed };
  };
}

/**
 * One non-streamed completion: the per-request cost without per-token chunks.
 * @param {string} baseUrl
 * @param {string} modelId
 * @returns {Run}
 */
function httpRunPlain(baseUrl, modelId) {
  return async (prompt) => {
    const startedAt = performance.now();
    let text = "";
    await post(`${baseUrl}/v1/completions`, { model: modelId, prompt, max_tokens: maxTokens, temperature: 0 }, (chunk) => (text += chunk));
    const body = JSON.parse(text);
    const latencyMs = performance.now() - startedAt;
    return { ttftMs: latencyMs, latencyMs, tokens: body.usage?.completion_tokens ?? 0, gapsMs: [], failed: body.error !== undefined };
  };
}

/**
 * Measures every engine in interleaved blocks, so that the machine's drift (another VM on the host, frequency, page
 * cache) falls on all of them alike: round r runs each engine's block in turn (reversed every other round: A B C,
 * C B A, ...), at concurrency 1 streamed, 1 not streamed, then 4. Engines that are not measuring sit idle.
 * @param {Engine[]} engineList
 * @param {number} requests
 * @param {number} rounds
 */
async function benchEngines(engineList, requests, rounds) {
  const perBlock = Math.max(1, Math.round(requests / rounds));
  const engines = engineList.map((engine) => ({
    ...engine,
    nextPrompt: promptSource(),
    /** @type {Record<Level, Block[]>} */
    blocks: { one: [], plain: [], four: [] },
  }));
  // Unmeasured: two requests one at a time, then four at once (every slot has run once). Each engine's prompt source
  // moves on alike, so the measured prompts stay the same sequence for all.
  for (const engine of engines) {
    for (let index = 0; index < 2; index++) await engine.run(engine.nextPrompt());
    await drive(engine.run, engine.nextPrompt, parallel, parallel);
  }
  /** @type {Array<[Level, number]>} */
  const levelConcurrency = [
    ["one", 1],
    ["plain", 1],
    ["four", 4],
  ];
  for (const [level, concurrency] of levelConcurrency.filter(([level]) => levels.includes(level))) {
    for (let round = 0; round < rounds; round++) {
      for (const engine of round % 2 === 0 ? engines : [...engines].reverse()) {
        const run = level === "plain" ? (engine.runPlain ?? engine.run) : engine.run;
        const cpuBefore = processTreeCpuMs(engine.pid);
        const block = await drive(run, engine.nextPrompt, concurrency, perBlock);
        const cpuAfter = processTreeCpuMs(engine.pid);
        engine.blocks[level].push(cpuBefore === undefined || cpuAfter === undefined ? block : { ...block, cpuMs: cpuAfter - cpuBefore });
      }
    }
  }
  return engines.map((engine) => ({
    label: engine.label,
    one: summarize(engine.blocks.one),
    plain: summarize(engine.blocks.plain),
    four: summarize(engine.blocks.four),
  }));
}

/** The labels of the three engines of issue 16's comparison. */
const direct = "llama-server direct";
const worker = "moestro + worker";
const inproc = "moestro in-process";
/** A built checkout (a `git worktree` of an earlier commit) whose in-process engine runs too, in the same rounds. */
const baselineCheckout = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined;
const inprocBaseline = "in-process baseline";
/** Whether the worker runs (BENCH_WORKER=0 leaves it out: it still starts once, for its llama-server arguments). */
const withWorker = !["0", "false", "off"].includes(process.env.BENCH_WORKER ?? "1");

/**
 * Starts `moestro serve` on `modelPath` with the benchmark's threads, slots, context and batch, on engine `kind`
 * (`MOESTRO_ENGINE__KIND`; a worker runs `llamaServer`), with its own home (ledger) under BENCH_DIR.
 * @param {string} modelPath
 * @param {"inproc" | "llama-server"} kind
 * @param {string} [checkout] the built checkout that runs (BENCH_BASELINE's); defaults to this one.
 */
async function startMoestro(modelPath, kind, checkout = root) {
  const args = ["--model", modelPath, "--threads", String(threads), "--parallel", String(parallel), "--ctx-size", String(contextTokens)];
  const home = checkout === root ? `home-${kind}` : `home-${kind}-baseline`;
  args.push("-b", "64", "--log-level", "error", "--home", path.join(benchDir, home));
  return await startServe(args, {
    checkout,
    env: {
      MOESTRO_ENGINE__KIND: kind,
      ...(kind === "llama-server" ? { MOESTRO_ENGINE__LLAMA_SERVER: /** @type {string} */ (llamaServer) } : {}),
    },
  });
}

/**
 * The arguments moestro started its worker with (`GET /v1/moestro/ps`), without `--host`, `--port` and `--api-key`:
 * direct llama-server gets exactly these, so that flash attention, batch, prompt cache (`--cache-ram`: the worker's default, the slots' KV size in MiB) and context
 * are the same on both.
 * @param {string} url moestro's base URL
 * @returns {Promise<string[]>}
 * @throws {Error} when no model there is served by a worker.
 */
async function workerArgsOf(url) {
  const ps = /** @type {{ data: Array<{ worker?: { args: string[] } }> }} */ (await (await fetch(`${url}/v1/moestro/ps`)).json());
  const args = ps.data.find((model) => model.worker)?.worker?.args;
  if (args === undefined) throw new Error(`moestro at ${url} serves no model through a worker: ${JSON.stringify(ps)}`);
  /** @type {string[]} */
  const kept = [];
  for (let index = 0; index < args.length; index++) {
    if (["--host", "--port", "--api-key"].includes(args[index])) index++;
    else kept.push(args[index]);
  }
  return kept;
}

const rows = [];
/** @type {Array<{ model: string, summary: Record<string, string> }>} */
const summaries = [];
const startedAt = performance.now();
for (const kind of which) {
  const modelPath = kind === "stories" ? storiesModelPath : ensureMoeModel(benchDir);
  const modelId = path.basename(modelPath).replace(/\.gguf$/, "");
  const requests = Number(process.env.BENCH_REQUESTS ?? (kind === "stories" ? 192 : 48));
  console.error(
    `\n== ${kind}: ${modelPath}, threads ${threads}, ${parallel} slots, ${requests} requests per level and engine in ${rounds} interleaved rounds, ${maxTokens} tokens each`,
  );
  /** @type {Engine[]} */
  const engines = [];
  /** @type {Awaited<ReturnType<typeof benchEngines>>} */
  let results;
  try {
    const workerServer = await startMoestro(modelPath, "llama-server");
    const workerArgs = await workerArgsOf(workerServer.url);
    const port = 18000 + Math.floor(Math.random() * 1000);
    const server = await startProcess(/** @type {string} */ (llamaServer), [...workerArgs, "--host", "127.0.0.1", "--port", String(port)], {
      label: "llama-server",
      readUrl: () => `http://127.0.0.1:${port}`,
      isHealthPolled: true,
    });
    console.error(`llama-server (direct and as the worker): ${workerArgs.join(" ")}`);
    /** An engine behind HTTP: its label, and the server that runs it (stopped at the end). */
    const served = (/** @type {string} */ label, /** @type {import("./bench-common.mjs").StartedServer} */ started) => ({
      label,
      run: httpRun(started.url, modelId),
      runPlain: httpRunPlain(started.url, modelId),
      close: started.stop,
      pid: started.child.pid,
    });
    engines.push(served(direct, server));
    if (withWorker) engines.push(served(worker, workerServer));
    else await workerServer.stop();
    engines.push(served(inproc, await startMoestro(modelPath, "inproc")));
    if (baselineCheckout !== undefined) engines.push(served(inprocBaseline, await startMoestro(modelPath, "inproc", baselineCheckout)));
    if (withRaw) engines.push({ label: "node-llama-cpp (raw)", ...(await rawEngine(modelPath)) });
    for (const floorEngine of withFloor.includes(kind) ? floorEngines : []) {
      const label = floorLabel(floorEngine);
      const floor = await startProcess(
        process.execPath,
        [
          path.join(root, "scripts/bench-serve-floor.mjs"),
          modelPath,
          String(threads),
          String(parallel),
          String(contextTokens),
          "64",
          floorEngine,
        ],
        { label, readUrl: (stdout) => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], isHealthPolled: true },
      );
      engines.push({
        label,
        run: httpRun(floor.url, modelId),
        runPlain: httpRunPlain(floor.url, modelId),
        close: floor.stop,
        pid: floor.child.pid,
      });
    }
    results = await benchEngines(engines, requests, rounds);
  } finally {
    for (const engine of engines) await engine.close();
  }
  for (const result of results) {
    for (const [level, concurrency, figures] of /** @type {Array<[Level, number, Figures]>} */ ([
      ["one", 1, result.one],
      ["plain", 1, result.plain],
      ["four", 4, result.four],
    ])) {
      if (figures) rows.push({ model: kind, engine: result.label, concurrency, streamed: level !== "plain", ...figures });
    }
  }
  /** @param {string} label */
  const byLabel = (label) => results.find((result) => result.label === label);
  console.log(`\n${kind} model (${modelId}), ${maxTokens} tokens per request`);
  console.log(
    "engine                 conc  req/s  out tok/s  TTFT p50 ms  TPOT p50 ms  ITL p50 ms  latency p50 ms  tok/req  failed  CPU ms/tok",
  );
  for (const result of results) {
    for (const [level, f] of /** @type {Array<[string, Figures]>} */ ([
      ["1", result.one],
      ["1 plain", result.plain],
      ["4", result.four],
    ])) {
      if (!f) continue;
      const cells = [
        result.label.padEnd(22),
        level.padStart(4),
        f.requestsPerSecond.toFixed(2).padStart(6),
        f.tokensPerSecond.toFixed(1).padStart(10),
        f.ttftP50Ms.toFixed(2).padStart(12),
        (f.tpotP50Ms ?? Number.NaN).toFixed(3).padStart(12),
        (f.itlP50Ms ?? Number.NaN).toFixed(3).padStart(11),
        f.latencyP50Ms.toFixed(2).padStart(15),
        f.tokensPerRequest.toFixed(1).padStart(8),
        String(f.failed).padStart(7),
        (f.cpuMsPerToken ?? Number.NaN).toFixed(3).padStart(11),
      ];
      console.log(cells.join(" "));
    }
  }
  // Ratios and differences over direct llama-server, at the levels that ran (BENCH_LEVELS); "n/a" for the others.
  /** @type {(a: Figures, b: Figures) => string} */
  const over = (a, b) => (a && b ? (a.tokensPerSecond / b.tokensPerSecond).toFixed(3) : "n/a");
  /** @type {(a: Figures, b: Figures) => string} */
  const ttftMinus = (a, b) => (a && b ? `${a.ttftP50Ms - b.ttftP50Ms >= 0 ? "+" : ""}${(a.ttftP50Ms - b.ttftP50Ms).toFixed(2)}` : "n/a");
  /** @type {(a: Figures, b: Figures) => string} */
  const cpuOver = (a, b) => (a?.cpuMsPerToken && b?.cpuMsPerToken ? (a.cpuMsPerToken / b.cpuMsPerToken).toFixed(3) : "n/a");
  const base = byLabel(direct);
  /** @type {Record<string, string>} */
  const summary = {};
  /** @type {(a: Figures, b: Figures) => string} */
  const ttftOver = (a, b) => (a && b ? (a.ttftP50Ms / b.ttftP50Ms).toFixed(3) : "n/a");
  for (const label of [worker, inproc, inprocBaseline, "node-llama-cpp (raw)", ...floorEngines.map(floorLabel)]) {
    const other = byLabel(label);
    if (!base || !other) continue;
    summary[`${label} / direct tokens/s c=1`] = over(other.one, base.one);
    summary[`${label} / direct tokens/s c=4`] = over(other.four, base.four);
    summary[`${label} - direct TTFT p50 ms c=1`] = ttftMinus(other.one, base.one);
    summary[`${label} - direct TTFT p50 ms c=4`] = ttftMinus(other.four, base.four);
    summary[`${label} / direct TTFT p50 c=1`] = ttftOver(other.one, base.one);
    summary[`${label} / direct TTFT p50 c=4`] = ttftOver(other.four, base.four);
    summary[`${label} / direct CPU per token c=1`] = cpuOver(other.one, base.one);
    summary[`${label} / direct CPU per token c=4`] = cpuOver(other.four, base.four);
    console.log(
      `${label} over direct llama-server: tokens/s c=1 ${over(other.one, base.one)}x, c=4 ${over(other.four, base.four)}x; TTFT p50 c=1 ${ttftMinus(other.one, base.one)} ms (${ttftOver(other.one, base.one)}x), c=4 ${ttftMinus(other.four, base.four)} ms (${ttftOver(other.four, base.four)}x); CPU per token c=1 ${cpuOver(other.one, base.one)}x, c=4 ${cpuOver(other.four, base.four)}x`,
    );
  }
  summaries.push({ model: kind, summary });
  const workerResult = byLabel(worker);
  if (base && workerResult) {
    const levelsRun = /** @type {Array<[Figures, Figures]>} */ ([
      [workerResult.one, base.one],
      [workerResult.four, base.four],
    ]).filter(([a, b]) => a && b);
    const isFastEnough = levelsRun.every(([a, b]) => a && b && a.tokensPerSecond / b.tokensPerSecond >= 0.95);
    const isPromptEnough = levelsRun.every(([a, b]) => a && b && a.ttftP50Ms - b.ttftP50Ms <= 1);
    console.log(
      `targets (worker against direct): tokens/s >= 0.95x ${isFastEnough ? "met" : "MISSED"}; TTFT p50 <= +1 ms ${isPromptEnough ? "met" : "MISSED"}`,
    );
  }
}
console.error(`\nbench:serve took ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
if (process.argv.includes("--json")) console.log(JSON.stringify({ rows, summaries }));
agent.destroy();
