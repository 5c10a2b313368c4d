#!/usr/bin/env node
// @ts-check
// Spike (issue 19, section 1): how fast can a decode loop go on node-llama-cpp 3.21.1's native addon, below its
// LlamaContext layer? Measures in one process, interleaved rounds, greedy generations of PROFILE-like prompts:
//   - `evaluate`: node-llama-cpp's own loop (`sequence.evaluate(tokens, {temperature: 0})`, a sequence per request),
//     the floor of any engine built on LlamaContext (what scripts/profile-inproc.mjs PROFILE_RAW=1 measures);
//   - `addon`: a plain continuous-batching loop on the addon (`context._ctx`: initBatch, addToBatch, decodeBatch,
//     sampleToken with one AddonSampler per sequence), every active sequence in one batch per step, as llama-server's
//     slot loop does. No queue, locks, token meter, thread splitter or promise chains: just two pool trips per step
//     (decodeBatch, then the sequences' sampleToken calls in parallel).
// For each engine and concurrency it prints tokens/s (wall) and CPU ms per token (process.cpuUsage: all threads),
// split into the main thread and the others (/proc/self/task, Linux only). It checks that the addon loop's greedy
// tokens equal sequence.evaluate's for the same prompts, and times one pool trip three ways: a decodeBatch step, a
// greedy sampleToken on logits already computed, and a bare libuv pool trip (crypto.randomFill of 1 byte).
// Internal API: `_ctx` and `_sampler` are node-llama-cpp internals (3.21.1), not a supported interface.
//
// With SPIKE_LLAMA_SERVER=<binary> it also runs llama-server (`-c 2048 -np 4 -t 1 -fa on -b 64 --cache-ram 0`) in
// the same rounds: non-streamed POST /completion (n_predict, top_k 1), tokens/s from the client's wall clock and from
// llama-server's own `timings.predicted_per_second` (decode only, no HTTP, no prompt), CPU ms/token of its process.
//
// usage: node scripts/spike-addon-floor.mjs   (env: SPIKE_MODEL=stories|<path.gguf>, SPIKE_TOKENS=64 per request,
//                                              SPIKE_REQUESTS=24 per level, SPIKE_LEVELS=1,4, SPIKE_ROUNDS=5,
//                                              SPIKE_LLAMA_SERVER= (empty: not run))
import { randomFill } from "node:crypto";
import os from "node:os";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { createAddonLoop } from "./addon-loop.mjs";
import { processTreeCpuMs, startProcess, storiesModelPath, threadCpuMs } from "./bench-common.mjs";

const which = process.env.SPIKE_MODEL ?? "stories";
const modelPath = which === "stories" ? storiesModelPath : which;
const tokensPerRequest = Number(process.env.SPIKE_TOKENS ?? 64);
const requests = Number(process.env.SPIKE_REQUESTS ?? 24);
const levels = (process.env.SPIKE_LEVELS ?? "1,4").split(",").map(Number);
const rounds = Number(process.env.SPIKE_ROUNDS ?? 5);
const sequences = 4;
const batchSize = 64;

/** Prompts, all different; prompt n is the same text for both engines (for the equality check). */
/** @param {number} n */
const promptText = (n) =>
  `Story ${n}. Once upon a time, in a small town, there lived a child named ${["Lily", "Tom", "Sue", "Ben"][n % 4]} who`;

const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
/** @param {number} n */
const promptTokens = (n) => model.tokenize(promptText(n), true);
const contextOptions = { contextSize: 512, sequences, threads: 1, batchSize, flashAttention: true };

// (a) node-llama-cpp's own loop, a free sequence per request.
const evaluateContext = await model.createContext(contextOptions);
const freeSequences = Array.from({ length: sequences }, () => evaluateContext.getSequence());
/** @param {number} n @returns {Promise<import("node-llama-cpp").Token[]>} */
async function runEvaluate(n) {
  const sequence = freeSequences.pop();
  if (sequence === undefined) throw new Error("no free sequence");
  try {
    await sequence.clearHistory();
    /** @type {import("node-llama-cpp").Token[]} */
    const out = [];
    for await (const token of sequence.evaluate(promptTokens(n), { temperature: 0 })) {
      if (model.isEogToken(token)) break;
      out.push(token);
      if (out.length >= tokensPerRequest) break;
    }
    return out;
  } finally {
    freeSequences.push(sequence);
  }
}

// (b) the addon directly: a second context whose LlamaContext layer is never asked to decode, so its batch queue stays
// idle and the loop below owns the native context (sequence ids 0..3, never handed out by getSequence()).
const addonContext = await model.createContext(contextOptions);
const addonLoop = createAddonLoop(model, addonContext, { sequences, batchSize });
const { ctx, samplers, trips } = addonLoop;
/** @param {number} n @returns {Promise<import("node-llama-cpp").Token[]>} */
const runAddon = (n) => addonLoop.generate(promptTokens(n), tokensPerRequest);

// (c) optional: llama-server, the target, driven over HTTP from this process.
const llamaServerPath = process.env.SPIKE_LLAMA_SERVER ?? "";
const port = 19000 + Math.floor(Math.random() * 1000);
const server = llamaServerPath
  ? await startProcess(
      llamaServerPath,
      ["-m", modelPath, "-c", "2048", "-np", "4", "-t", "1", "-fa", "on", "-b", "64", "--cache-ram", "0"].concat([
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
      ]),
      { label: "llama-server", readUrl: () => `http://127.0.0.1:${port}`, isHealthPolled: true },
    )
  : undefined;
/** llama-server's own decode speed per request (timings.predicted_per_second), per key. */
/** @type {number[]} */
let serverDecodeRates = [];
/** @param {number} n @returns {Promise<import("node-llama-cpp").Token[]>} */
async function runServer(n) {
  const response = await fetch(`${server?.url}/completion`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: promptText(n), n_predict: tokensPerRequest, top_k: 1, cache_prompt: false }),
  });
  const body = /** @type {{ timings: { predicted_per_second: number }, tokens_predicted: number }} */ (await response.json());
  serverDecodeRates.push(body.timings.predicted_per_second);
  // Only the count is used (the equality check is between the two in-process engines).
  return Array.from({ length: body.tokens_predicted }, () => /** @type {import("node-llama-cpp").Token} */ (/** @type {unknown} */ (0)));
}

let promptIndex = 0;
/**
 * Runs `count` requests through `run` with `concurrency` in flight; tokens, wall ms and CPU ms.
 * @param {(n: number) => Promise<import("node-llama-cpp").Token[]>} run
 * @param {number} concurrency
 * @param {number} count
 */
async function measure(run, concurrency, count) {
  let started = 0;
  let tokens = 0;
  const cpuBefore = threadCpuMs();
  const usageBefore = process.cpuUsage();
  const serverBefore = run === runServer ? processTreeCpuMs(server?.child.pid) : undefined;
  const wallBefore = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        started++;
        const generated = await run(++promptIndex);
        tokens += generated.length;
      }
    }),
  );
  const wallMs = performance.now() - wallBefore;
  const usage = process.cpuUsage(usageBefore);
  const cpuAfter = threadCpuMs();
  const serverAfter = run === runServer ? processTreeCpuMs(server?.child.pid) : undefined;
  return {
    tokens,
    wallMs,
    // llama-server: its own process's CPU (this process is only its HTTP client); the others: this process's.
    cpuMs: serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : (usage.user + usage.system) / 1000,
    // Threads of this process: not llama-server's (its split is not read here).
    mainMs: serverBefore !== undefined ? Number.NaN : cpuAfter.main - cpuBefore.main,
    othersMs: serverBefore !== undefined ? Number.NaN : cpuAfter.others - cpuBefore.others,
  };
}

// Equality: the same prompts, greedy, through both engines, alone (c=1) and four at once (c=4, one batch).
const checkPrompts = [1001, 1002, 1003, 1004];
/** @type {import("node-llama-cpp").Token[][]} */
const viaEvaluate = [];
for (const n of checkPrompts) viaEvaluate.push(await runEvaluate(n));
const viaAddonAlone = [];
for (const n of checkPrompts) viaAddonAlone.push(await runAddon(n));
const viaAddonBatched = await Promise.all(checkPrompts.map(runAddon));
const same = (/** @type {number[][]} */ a) => a.every((tokens, i) => tokens.join() === viaEvaluate[i].join());
const equal = { alone: same(viaAddonAlone), batched: same(viaAddonBatched) };
console.log(JSON.stringify({ check: "greedy tokens equal to sequence.evaluate", ...equal }));
console.log(JSON.stringify({ sample: model.detokenize(viaEvaluate[0]).slice(0, 80) }));

// Warm-up, then interleaved rounds (the engines' order alternates per round).
await Promise.all([runEvaluate(++promptIndex), runEvaluate(++promptIndex)]);
await Promise.all([runAddon(++promptIndex), runAddon(++promptIndex)]);
/** @param {number} value */
const fixed = (value, digits = 3) => value.toFixed(digits);
/** @type {Record<string, { tokens: number, wallMs: number, cpuMs: number, mainMs: number, othersMs: number }[]>} */
const results = {};
/** @type {[string, (n: number) => Promise<import("node-llama-cpp").Token[]>][]} */
const engines = [
  ["evaluate", runEvaluate],
  ["addon", runAddon],
];
if (server) {
  engines.push(["llama-server", runServer]);
  await Promise.all([runServer(++promptIndex), runServer(++promptIndex)]);
}
/** @type {Record<string, number[]>} */
const serverRates = {};
const loadBefore = os.loadavg();
for (let round = 0; round < rounds; round++) {
  for (const concurrency of levels) {
    for (const [label, run] of round % 2 === 0 ? engines : [...engines].reverse()) {
      serverDecodeRates = [];
      const result = await measure(run, concurrency, requests);
      if (run === runServer) (serverRates[`c=${concurrency}`] ??= []).push(...serverDecodeRates);
      const key = `${label} c=${concurrency}`;
      (results[key] ??= []).push(result);
      console.log(
        JSON.stringify({
          round,
          engine: label,
          concurrency,
          "tok/s": fixed((result.tokens / result.wallMs) * 1000, 0),
          "cpu ms/tok": fixed(result.cpuMs / result.tokens),
        }),
      );
    }
  }
}
const loadAfter = os.loadavg();

/** @param {number[]} values */
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = Object.entries(results).map(([key, runs]) => ({
  engine: key,
  "tok/s (median)": fixed(median(runs.map((r) => (r.tokens / r.wallMs) * 1000)), 0),
  "cpu ms/tok": fixed(median(runs.map((r) => r.cpuMs / r.tokens))),
  "main ms/tok": fixed(median(runs.map((r) => r.mainMs / r.tokens))),
  "others ms/tok": fixed(median(runs.map((r) => r.othersMs / r.tokens))),
  "wall ms/tok": fixed(median(runs.map((r) => r.wallMs / r.tokens))),
}));
console.table(rows);
for (const [key, rates] of Object.entries(serverRates))
  console.log(JSON.stringify({ [`llama-server timings.predicted_per_second per request, median, ${key}`]: fixed(median(rates), 0) }));
for (const concurrency of levels) {
  /** @param {string} label */
  const row = (label) => rows.find((r) => r.engine === `${label} c=${concurrency}`);
  const evaluate = row("evaluate");
  const addon = row("addon");
  const direct = row("llama-server");
  if (!evaluate || !addon) continue;
  /** @param {typeof addon} a @param {typeof addon} b */
  const ratios = (a, b) => ({
    "tok/s": fixed(Number(a["tok/s (median)"]) / Number(b["tok/s (median)"]), 2),
    "cpu ms/tok": fixed(Number(a["cpu ms/tok"]) / Number(b["cpu ms/tok"]), 2),
  });
  console.log(
    JSON.stringify({
      concurrency,
      "addon/evaluate": ratios(addon, evaluate),
      ...(direct ? { "addon/llama-server": ratios(addon, direct), "evaluate/llama-server": ratios(evaluate, direct) } : {}),
    }),
  );
}
console.log(
  JSON.stringify({
    "addon steps": trips.decodes,
    "decodeBatch await ms (mean)": fixed(trips.decodeMs / trips.decodes),
    "sampleToken await ms (mean, all sequences of a step in parallel)": fixed(trips.sampleMs / trips.samples),
  }),
);

// One pool trip, three ways, N times each in a row: wall ms and CPU ms per trip.
const tripCount = 2000;
/** @param {() => Promise<unknown>} trip */
async function timeTrips(trip) {
  const usageBefore = process.cpuUsage();
  const wallBefore = performance.now();
  for (let i = 0; i < tripCount; i++) await trip();
  const usage = process.cpuUsage(usageBefore);
  return {
    "wall us/trip": fixed(((performance.now() - wallBefore) / tripCount) * 1000, 1),
    "cpu us/trip": fixed((usage.user + usage.system) / tripCount, 1),
  };
}
// Logits of one token at position 0 of sequence 0; sampling them again and again is a pure sampleToken trip (greedy
// argmax over the vocabulary, then accept into the sampler's empty chain).
ctx.initBatch(1);
const [logitIndex] = ctx.addToBatch(0, 0, Uint32Array.of(promptTokens(1)[0]), Uint32Array.of(0));
const oneByte = Buffer.alloc(1);
const tripRows = {
  "decodeBatch of 1 token (decode + trip)": await timeTrips(async () => {
    ctx.disposeSequence(0); // the same one-token batch at position 0 again: llama.cpp wants positions to follow on
    await ctx.decodeBatch();
  }),
  "sampleToken greedy (trip + argmax)": await timeTrips(() => ctx.sampleToken(logitIndex, samplers[0])),
  "crypto.randomFill 1 byte (bare libuv trip)": await timeTrips(
    () => new Promise((resolve, reject) => randomFill(oneByte, (error) => (error ? reject(error) : resolve(undefined)))),
  ),
  "Promise.resolve() (no trip, microtask)": await timeTrips(() => Promise.resolve()),
};
ctx.disposeSequence(0);
console.table(tripRows);
console.log(
  JSON.stringify({
    "load average before": loadBefore.map((v) => v.toFixed(2)).join(" "),
    after: loadAfter.map((v) => v.toFixed(2)).join(" "),
    cores: os.cpus().length,
  }),
);
addonLoop.dispose();
await server?.stop();
await addonContext.dispose();
await evaluateContext.dispose();
await model.dispose();
