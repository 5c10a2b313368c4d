#!/usr/bin/env node
// @ts-check
// The in-process engine's CPU cost per generated token (issue 19, section 1), measured in CPU time rather than wall
// time so that it holds on a loaded machine: loads a model with moestro's own backend (dist/, `npm run build` first),
// one thread, 4 sequences, and generates greedily at concurrency 1 and 4 through `backend.generate`, the path every
// dialect takes. For each level it prints the CPU milliseconds per token of the whole process, split into the main
// thread (JavaScript: the generation loop, the parser, node-llama-cpp's batching) and the other threads (llama.cpp's
// decode and sampling on libuv's pool), read from /proc/self/task (Linux only). With PROFILE_RAW=1 it also runs raw
// node-llama-cpp (`sequence.evaluate`, greedy) in the same process: the floor of any engine built on it.
//
// usage: node scripts/profile-inproc.mjs   (env: PROFILE_MODEL=stories|moe|<path.gguf>, PROFILE_TOKENS=64 per request,
//                                           PROFILE_REQUESTS=40 per level, PROFILE_LEVELS=1,4, PROFILE_RAW=0,
//                                           PROFILE_REPEAT=1 times the whole set is measured, BENCH_DIR for the MoE)
// PROFILE_CPU=file.cpuprofile writes a V8 CPU profile of the main thread over the measured part only (not the start-up).
// Under `valgrind --tool=callgrind --instr-atstart=no`, PROFILE_CALLGRIND=1 turns instrumentation on for the measured
// part only (`callgrind_control -i on|off`): instruction counts of exactly that work, whatever the machine's load.
// `perf record` gives a native profile of the same work.
import { writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import pino from "pino";
import { ensureMoeModel, root, storiesModelPath, threadCpuMs } from "./bench-common.mjs";

const which = process.env.PROFILE_MODEL ?? "stories";
const modelPath =
  which === "stories"
    ? storiesModelPath
    : which === "moe"
      ? ensureMoeModel(process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench"))
      : which;
const tokensPerRequest = Number(process.env.PROFILE_TOKENS ?? 64);
const requests = Number(process.env.PROFILE_REQUESTS ?? 40);
const levels = (process.env.PROFILE_LEVELS ?? "1,4").split(",").map(Number);
const withRaw = ["1", "true", "on"].includes(process.env.PROFILE_RAW ?? "0");
const repeat = Number(process.env.PROFILE_REPEAT ?? 1);
const callgrind = process.env.PROFILE_CALLGRIND === "1";
/** @param {"on" | "off"} state */
const instrument = (state) => {
  if (callgrind) execFileSync("callgrind_control", ["-i", state, String(process.pid)], { stdio: "ignore" });
};

/** The prompts, all different (no prefix reuse across requests beyond the shared opening). */
let promptIndex = 0;
const nextPrompt = () => {
  promptIndex++;
  return `Story ${promptIndex}. Once upon a time, in a small town, there lived a child named ${["Lily", "Tom", "Sue", "Ben"][promptIndex % 4]} who`;
};

/**
 * Runs `count` requests through `run` with `concurrency` in flight; returns tokens, wall ms and CPU ms.
 * @param {(prompt: string) => Promise<number>} run
 * @param {number} concurrency
 * @param {number} count
 */
async function measure(run, concurrency, count) {
  let started = 0;
  let tokens = 0;
  const cpuBefore = threadCpuMs();
  const usageBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        started++;
        const generated = await run(nextPrompt());
        tokens += generated;
      }
    }),
  );
  const wallMs = performance.now() - wallBefore;
  const usage = process.cpuUsage(usageBefore);
  const cpuAfter = threadCpuMs();
  return {
    tokens,
    wallMs,
    cpuMs: (usage.user + usage.system) / 1000,
    mainMs: cpuAfter.main - cpuBefore.main,
    othersMs: cpuAfter.others - cpuBefore.others,
  };
}

const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
const { createLlamaBackend } = await import(path.join(root, "dist/engines/inproc/llama-backend.js"));
const backend = await createLlamaBackend({
  llama,
  modelPath,
  threads: 1,
  parallel: 4,
  contextTokens: 512,
  batchSize: 64,
  cacheRamBytes: 0,
  logger: pino({ level: "silent" }),
});
/** @param {string} prompt */
const runMoestro = async (prompt) => {
  const stream = await backend.generate({
    input: { kind: "completion", prompt },
    maxTokens: tokensPerRequest,
    sampling: { temperature: 0 },
    stop: [],
  });
  let tokens = 0;
  for await (const part of stream) if (part.type === "finish") tokens = part.usage.completionTokens;
  return tokens;
};

/** @type {((prompt: string) => Promise<number>) | undefined} */
let runRaw;
if (withRaw) {
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 512, sequences: 4, threads: 1, batchSize: 64, flashAttention: true });
  const free = Array.from({ length: 4 }, () => context.getSequence());
  runRaw = async (prompt) => {
    const sequence = free.pop();
    if (sequence === undefined) throw new Error("no free sequence");
    try {
      await sequence.clearHistory();
      let tokens = 0;
      for await (const token of sequence.evaluate(model.tokenize(prompt, true), { temperature: 0 })) {
        if (model.isEogToken(token)) break;
        if (++tokens >= tokensPerRequest) break;
      }
      return tokens;
    } finally {
      free.push(sequence);
    }
  };
}

// Warm-up: JIT, allocations, the first prompts.
await Promise.all([runMoestro(nextPrompt()), runMoestro(nextPrompt()), runMoestro(nextPrompt()), runMoestro(nextPrompt())]);
if (runRaw) await Promise.all([runRaw(nextPrompt()), runRaw(nextPrompt())]);

/** @param {number} value */
const fixed = (value, digits = 3) => value.toFixed(digits);
const rows = [];
const cpuProfile = process.env.PROFILE_CPU;
const session = cpuProfile ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 250 });
  await session.post("Profiler.start");
}
for (let round = 0; round < repeat; round++) {
  for (const concurrency of levels) {
    for (const [label, run] of /** @type {const} */ ([
      ["moestro", runMoestro],
      ["raw", runRaw],
    ])) {
      if (run === undefined) continue;
      instrument("on");
      const result = await measure(run, concurrency, requests);
      instrument("off");
      const row = {
        engine: label,
        concurrency,
        tokens: result.tokens,
        "cpu ms/tok": fixed(result.cpuMs / result.tokens),
        "main ms/tok": fixed(result.mainMs / result.tokens),
        "others ms/tok": fixed(result.othersMs / result.tokens),
        "wall ms/tok": fixed(result.wallMs / result.tokens),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
}
if (session && cpuProfile) {
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(cpuProfile, JSON.stringify(profile));
  session.disconnect();
}
console.table(rows);
await backend.dispose();
