#!/usr/bin/env node
// @ts-check
// Serving benchmark: raw node-llama-cpp in-process against the same work through moestro's HTTP API (and llama-server
// when a binary is given), at concurrency 1 and 4, on a tiny trained model (per-request overhead dominates) and on a
// generated random-weight Qwen3-MoE of about 400 MB (compute dominates). Prints figures and ratios measured in this run.
//
// On the models of BENCH_FLOOR (default stories) it also measures a bare node:http server around the raw loop
// (scripts/bench-serve-floor.mjs): the floor of what HTTP in a second process adds, whatever the server does.
//
// usage: npm run bench:serve            (env: BENCH_THREADS=1, BENCH_REQUESTS=96 stories / 24 moe, BENCH_ROUNDS=4, BENCH_MAX_TOKENS=32,
//                                        LLAMA_SERVER=/path/to/llama-server, BENCH_MODELS=stories,moe, BENCH_FLOOR=stories
//                                        (`tiny` is read as `stories`), MOESTRO_SHARED=../shared,
//                                        BENCH_LEVELS=one,plain,four (c=1 streamed, c=1 not streamed, c=4),
//                                        BENCH_DIR=/tmp/moestro-bench)
// Build llama-server from the llama.cpp source inside node-llama-cpp (same commit) with scripts/build-llama-server.sh.
import { existsSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { ensureMoeModel, readBenchModels, root, startProcess, startServe, storiesModelPath } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 32);
const parallel = 4;
const contextTokens = 512;
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const llamaServer =
  process.env.LLAMA_SERVER ??
  (existsSync("/tmp/llama-build/src/build/bin/llama-server") ? "/tmp/llama-build/src/build/bin/llama-server" : undefined);
const which = readBenchModels("BENCH_MODELS", "stories,moe");
/** The models on which the node:http floor (scripts/bench-serve-floor.mjs) is measured too. */
const withFloor = readBenchModels("BENCH_FLOOR", "stories");
/** Which blocks run: concurrency 1 streamed (one), 1 not streamed (plain), 4 streamed (four). */
const levels = (process.env.BENCH_LEVELS ?? "one,plain,four").split(",");

/**
 * One request's figures: time to first token and end-to-end latency (ms), tokens generated.
 * @typedef {{ ttftMs: number, latencyMs: number, tokens: number }} RunResult
 */
/** @typedef {(prompt: string) => Promise<RunResult>} Run */
/** @typedef {{ results: RunResult[], seconds: number }} Block */
/** @typedef {"one" | "plain" | "four"} Level */
/**
 * An engine under test: its label, how it runs a request (streamed, and not streamed where it can), how it stops.
 * @typedef {{ label: string, run: Run, runPlain?: Run, close: () => Promise<unknown> }} Engine
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
    try {
      await sequence.clearHistory();
      const input = model.tokenize(prompt, true);
      if (model.tokens.shouldPrependBosToken && bos !== null) input.unshift(bos);
      for await (const token of sequence.evaluate(input, { temperature: 0 })) {
        if (tokens === 0) ttftMs = performance.now() - startedAt;
        if (model.isEogToken(token)) break;
        model.detokenize([token]);
        if (++tokens >= maxTokens) break;
      }
    } finally {
      free.push(sequence);
    }
    return { ttftMs, latencyMs: performance.now() - startedAt, tokens };
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
 * (docs/bench.md#npm-run-benchserve-moestro-against-raw-node-llama-cpp-and-llama-server). Tried again (up to 3 times)
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
 * Streams one completion from an OpenAI-compatible server and measures it.
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
    await post(
      `${baseUrl}/v1/completions`,
      { model: modelId, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } },
      (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
          const data = JSON.parse(event.slice(6));
          if (data.choices?.[0]?.text && ttftMs === 0) ttftMs = performance.now() - startedAt;
          if (data.choices?.[0]?.text) pieces++;
          if (data.usage) tokens = data.usage.completion_tokens;
        }
      },
    );
    return { ttftMs, latencyMs: performance.now() - startedAt, tokens: tokens || pieces };
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
    return { ttftMs: latencyMs, latencyMs, tokens: body.usage?.completion_tokens ?? 0 };
  };
}

/**
 * Measures every engine in interleaved blocks, so that the machine's drift (another VM on the host, frequency, page
 * cache) falls on all of them alike: round r runs each engine's block in turn (reversed every other round, ABBA), at
 * concurrency 1 streamed, 1 not streamed, then 4. Engines that are not measuring sit idle.
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
  for (const engine of engines) {
    for (let index = 0; index < 2; index++) await engine.run(engine.nextPrompt());
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
        engine.blocks[level].push(await drive(run, engine.nextPrompt, concurrency, perBlock));
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

const rows = [];
for (const kind of which) {
  const modelPath = kind === "stories" ? storiesModelPath : ensureMoeModel(benchDir);
  const modelId = path.basename(modelPath).replace(/\.gguf$/, "");
  const requests = Number(process.env.BENCH_REQUESTS ?? (kind === "stories" ? 96 : 24));
  console.error(
    `\n== ${kind}: ${modelPath}, threads ${threads}, ${parallel} sequences, ${requests} requests per level in ${rounds} interleaved rounds, ${maxTokens} tokens each`,
  );
  /** @type {Engine[]} */
  const engines = [];
  /** @type {Awaited<ReturnType<typeof benchEngines>>} */
  let results;
  try {
    engines.push({ label: "node-llama-cpp (raw)", ...(await rawEngine(modelPath)) });
    const moestro = await startServe([
      "--model",
      modelPath,
      "--threads",
      String(threads),
      "--parallel",
      String(parallel),
      "--ctx-size",
      String(contextTokens),
      "-b",
      "64",
      "--log-level",
      "error",
      "--home",
      path.join(benchDir, "home"),
    ]);
    engines.push({
      label: "moestro (HTTP)",
      run: httpRun(moestro.url, modelId),
      runPlain: httpRunPlain(moestro.url, modelId),
      close: moestro.stop,
    });
    if (withFloor.includes(kind)) {
      const floor = await startProcess(
        process.execPath,
        [path.join(root, "scripts/bench-serve-floor.mjs"), modelPath, String(threads), String(parallel), String(contextTokens), "64"],
        { label: "node:http floor", readUrl: (stdout) => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], isHealthPolled: true },
      );
      engines.push({
        label: "node:http floor",
        run: httpRun(floor.url, modelId),
        runPlain: httpRunPlain(floor.url, modelId),
        close: floor.stop,
      });
    }
    if (llamaServer) {
      const port = 18000 + Math.floor(Math.random() * 1000);
      const server = await startProcess(
        llamaServer,
        [
          "-m",
          modelPath,
          "-t",
          String(threads),
          "-tb",
          String(threads),
          "-np",
          String(parallel),
          "-c",
          String(contextTokens * parallel),
          "-b",
          "64",
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "--no-webui",
          "-lv",
          "0",
        ],
        { label: "llama-server", readUrl: () => `http://127.0.0.1:${port}`, isHealthPolled: true },
      );
      engines.push({
        label: "llama-server (HTTP)",
        run: httpRun(server.url, modelId),
        runPlain: httpRunPlain(server.url, modelId),
        close: server.stop,
      });
    }
    results = await benchEngines(engines, requests, rounds);
  } finally {
    for (const engine of engines) await engine.close();
  }
  for (const result of results) {
    for (const [concurrency, figures] of /** @type {Array<[number, Figures]>} */ ([
      [1, result.one],
      [4, result.four],
    ])) {
      if (figures) rows.push({ model: kind, engine: result.label, concurrency, ...figures });
    }
  }
  const raw = results[0];
  const moestro = results[1];
  const floor = results.find((result) => result.label === "node:http floor");
  const server = results.find((result) => result.label === "llama-server (HTTP)");
  console.log(`\n${kind} model (${modelId})`);
  console.log("engine                 conc  req/s   out tok/s  TTFT p50 ms  latency p50 ms  ms/token p50");
  for (const result of results) {
    for (const [concurrency, f] of /** @type {Array<[number, Figures]>} */ ([
      [1, result.one],
      [4, result.four],
    ])) {
      if (f)
        console.log(
          `${result.label.padEnd(22)} ${String(concurrency).padStart(4)} ${f.requestsPerSecond.toFixed(2).padStart(6)} ${f.tokensPerSecond.toFixed(1).padStart(11)} ${f.ttftP50Ms.toFixed(2).padStart(12)} ${f.latencyP50Ms.toFixed(2).padStart(15)} ${f.msPerTokenP50.toFixed(3).padStart(13)}`,
        );
    }
  }
  // Differences and ratios of the levels that ran (BENCH_LEVELS), "n/a" for the others.
  /** @type {(a: Figures, b: Figures) => string} */
  const minus = (a, b) => (a && b ? (a.latencyP50Ms - b.latencyP50Ms).toFixed(2) : "n/a");
  /** @type {(a: Figures, b: Figures) => string} */
  const over = (a, b) => (a && b ? (a.tokensPerSecond / b.tokensPerSecond).toFixed(2) : "n/a");
  console.log(
    `added per request by moestro's HTTP API at concurrency 1, p50 latency minus raw: streamed ${minus(moestro.one, raw.one)} ms, not streamed ${minus(moestro.plain, raw.one)} ms`,
  );
  if (floor) {
    console.log(`node:http floor, same: streamed ${minus(floor.one, raw.one)} ms, not streamed ${minus(floor.plain, raw.one)} ms`);
    console.log(
      `moestro over the floor: streamed ${minus(moestro.one, floor.one)} ms, not streamed ${minus(moestro.plain, floor.plain)} ms`,
    );
  }
  if (server) console.log(`llama-server, same: streamed ${minus(server.one, raw.one)} ms, not streamed ${minus(server.plain, raw.one)} ms`);
  console.log(`aggregate tokens/s, moestro / raw: c=1 ${over(moestro.one, raw.one)}, c=4 ${over(moestro.four, raw.four)}`);
  if (server)
    console.log(`aggregate tokens/s, moestro / llama-server: c=1 ${over(moestro.one, server.one)}, c=4 ${over(moestro.four, server.four)}`);
  else console.log("llama-server: not measured (set LLAMA_SERVER or run scripts/build-llama-server.sh)");
}
if (process.argv.includes("--json")) console.log(JSON.stringify(rows));
agent.destroy();
