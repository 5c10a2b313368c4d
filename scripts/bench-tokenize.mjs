#!/usr/bin/env node
// @ts-check
// Tokenizer worst-case benchmark (issue 14, item 6): how long a long prompt takes to tokenize or refuse, per MB, and how
// long the event loop (and so /health) stalls meanwhile, against a baseline measured in the same run.
//
// 1. In this process, on the shared tiny models (vocabulary only): the baseline is node-llama-cpp's `model.tokenize` on
//    the event loop, as the server did before (the loop stalls for all of it); moestro's PromptTokenizer (dist/) bounds
//    the prompt by its length, then counts or tokenizes it in its tokenizer process. The worst gap of a 1 ms timer is
//    the stall.
// 2. Over HTTP, `moestro serve` (dist/) in a separate process: the time to answer worst-case requests, and the slowest
//    /health answer while each runs (polled every 20 ms), against /health polled on the idle server.
//
// usage: npm run bench:tokenize   (env: MOESTRO_SHARED=../shared, BENCH_BASELINE_MAX_MS=10000: the baseline skips a size
//                                  predicted (quadratically) to take longer; --json prints the rows)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { pino } from "pino";
import { root, shared, startServe } from "./bench-common.mjs";

const baselineMaxMs = Number(process.env.BENCH_BASELINE_MAX_MS ?? 10000);
const asJson = process.argv.includes("--json");
/** @type {typeof import("../src/engines/inproc/prompt-tokenizer.js")} The compiled tokenizer, typed by its source. */
const { PromptTokenizer } = await import(path.join(root, "dist/engines/inproc/prompt-tokenizer.js"));

const MB = 1024 * 1024;
const story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ";
/** Repeats `unit` to about `bytes` UTF-8 bytes. */
const textOf = (/** @type {string} */ unit, /** @type {number} */ bytes) =>
  unit.repeat(Math.max(1, Math.round(bytes / Buffer.byteLength(unit))));
const log = (/** @type {string} */ line) => {
  if (!asJson) console.log(line);
};

/**
 * Runs `work` while a 1 ms timer watches the event loop.
 * @template T
 * @param {() => T | Promise<T>} work
 * @returns {Promise<{ result: T, ms: number, worstGapMs: number }>}
 */
async function watchLoop(work) {
  let last = performance.now();
  let worstGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstGapMs = Math.max(worstGapMs, now - last);
    last = now;
  }, 1);
  const startedAt = performance.now();
  try {
    const result = await work();
    const ms = performance.now() - startedAt;
    // The last stretch of a synchronous call shows only when the timer runs again.
    await new Promise((resolve) => setTimeout(resolve, 2));
    worstGapMs = Math.max(worstGapMs, performance.now() - last);
    return { result, ms, worstGapMs };
  } finally {
    clearInterval(timer);
  }
}

/** @typedef {{ section: string, model: string, text: string, sizeMB: number, maxTokens: number, baselineMs?: number, baselineMsPerMB?: number, ms: number, msPerMB: number, worstGapMs: number, outcome: string }} TokenizerRow */
/** @type {TokenizerRow[]} */
const tokenizerRows = [];

const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
const cases = [
  // SentencePiece with byte fallback: each 🦄 is 4 byte tokens, and llama.cpp's tokenizer is quadratic on such runs.
  { model: "stories260K", text: "🦄", unit: "🦄", maxTokens: 4095, sizes: [0.0625, 0.25, 6, 32] },
  { model: "stories260K", text: "🦄, fits", unit: "🦄", maxTokens: 1e9, sizes: [0.0625, 0.25] },
  // Qwen's byte-level BPE, roughly linear; a 32k window, which the length bound cannot rule out below 4 MB (32,768 x 128 bytes).
  { model: "tiny-qwen3moe", text: "English", unit: story, maxTokens: 32767, sizes: [1, 3, 16] },
  { model: "tiny-qwen3moe", text: "English, fits", unit: story, maxTokens: 1e9, sizes: [1, 4] },
];
for (const model of ["stories260K", "tiny-qwen3moe"]) {
  const modelPath = path.join(shared, "models", `${model}.gguf`);
  const vocabulary = await llama.loadModel({ modelPath, vocabOnly: true });
  const tokenizer = new PromptTokenizer({ model: vocabulary, modelPath, modelId: model, logger: pino({ level: "silent" }) });
  // Wait for the tokenizer process: a prompt above the inline limit goes to it.
  await tokenizer.tokenize({ kind: "text", text: textOf(story, 20_000), specialTokens: true, addBos: true }, { maxTokens: 1e9 });
  for (const testCase of cases.filter((each) => each.model === model)) {
    /** The baseline's last run, to predict the next: SentencePiece's time grows with the square of the size. */
    let previous = { sizeMB: 0, ms: 0 };
    for (const sizeMB of testCase.sizes) {
      if (!asJson) process.stderr.write(`${model}, ${testCase.text}, ${sizeMB} MB...\n`);
      const text = textOf(testCase.unit, sizeMB * MB);
      const bytesMB = Buffer.byteLength(text) / MB;
      /** @type {number | undefined} */
      let baselineMs;
      if (previous.ms * (sizeMB / Math.max(previous.sizeMB, 1e-9)) ** 2 <= baselineMaxMs) {
        baselineMs = (await watchLoop(() => vocabulary.tokenize(text, true))).ms;
        previous = { sizeMB, ms: baselineMs };
      }
      const prompt = /** @type {const} */ ({ kind: "text", text, specialTokens: true, addBos: true });
      const { result, ms, worstGapMs } = await watchLoop(() => tokenizer.tokenize(prompt, { maxTokens: testCase.maxTokens }));
      const outcome =
        "tokens" in result
          ? `${result.tokens.length} tokens`
          : `refused: ${result.atLeastTokens} tokens or more (${ms < 5 ? "length bound" : "counted in slices"})`;
      tokenizerRows.push({
        section: "tokenizer",
        model,
        text: testCase.text,
        sizeMB: Number(bytesMB.toFixed(3)),
        maxTokens: testCase.maxTokens,
        baselineMs: baselineMs === undefined ? undefined : Math.round(baselineMs),
        baselineMsPerMB: baselineMs === undefined ? undefined : Math.round(baselineMs / bytesMB),
        ms: Math.round(ms),
        msPerMB: Math.round(ms / bytesMB),
        worstGapMs: Math.round(worstGapMs),
        outcome,
      });
    }
  }
  await tokenizer.dispose();
  await vocabulary.dispose();
}

log("\n1. Tokenizer in this process (baseline: model.tokenize on the event loop; it stalls the loop for all of it)");
log("model          text           size MB  window     baseline ms  ms/MB   | moestro ms  ms/MB  worst loop gap ms  outcome");
for (const row of tokenizerRows) {
  const window = row.maxTokens >= 1e9 ? "none" : String(row.maxTokens + 1);
  const baseline =
    row.baselineMs === undefined
      ? "not run".padStart(11) + "".padStart(8)
      : `${String(row.baselineMs).padStart(11)}${String(row.baselineMsPerMB).padStart(8)}`;
  log(
    `${row.model.padEnd(15)}${row.text.padEnd(15)}${String(row.sizeMB).padStart(7)}  ${window.padEnd(9)}${baseline}   |` +
      `${String(row.ms).padStart(11)}${String(row.msPerMB).padStart(7)}${String(row.worstGapMs).padStart(19)}  ${row.outcome}`,
  );
}

// 2. Over HTTP.
/** @typedef {{ section: string, request: string, bodyMB: number, status: number, code: string, ms: number, healthWorstMs: number, healthPolls: number }} HttpRow */
/** @type {HttpRow[]} */
const httpRows = [];
const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-tokenize-"));
const server = await startServe([
  "--model",
  path.join(shared, "models/stories260K.gguf"),
  "--model",
  path.join(shared, "models/tiny-qwen3moe.gguf"),
  "--threads",
  "1",
  "--parallel",
  "1",
  "--ctx-size",
  "4096",
  "-b",
  "64",
  "--home",
  home,
  "--log-level",
  "warn",
]).catch((error) => {
  rmSync(home, { recursive: true, force: true });
  throw error;
});
const { url } = server;
try {
  // The tokenizer processes load their vocabularies beside the models: let them get ready before measuring.
  await new Promise((resolve) => setTimeout(resolve, 3000));

  /**
   * Polls /health every 20 ms while `work` runs.
   * @template T
   * @param {() => Promise<T>} work
   */
  const pollHealth = async (work) => {
    let worstMs = 0;
    let polls = 0;
    let done = false;
    const poller = (async () => {
      while (!done) {
        const startedAt = performance.now();
        await (await fetch(`${url}/health`)).arrayBuffer();
        worstMs = Math.max(worstMs, performance.now() - startedAt);
        polls++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    /** @type {T} */
    let result;
    try {
      result = await work();
    } finally {
      // Also when `work` throws: else the poller would poll on, and this process never end.
      done = true;
      await poller;
    }
    return { result, worstMs, polls };
  };
  const idle = await pollHealth(() => new Promise((resolve) => setTimeout(resolve, 2000)));
  httpRows.push({
    section: "http",
    request: "(idle server)",
    bodyMB: 0,
    status: 200,
    code: "",
    ms: 2000,
    healthWorstMs: Math.round(idle.worstMs),
    healthPolls: idle.polls,
  });

  const requests = [
    {
      request: "completion, stories260K, 🦄 x 128k (512 KB)",
      route: "completions",
      body: { model: "stories260K", prompt: "🦄".repeat(128 * 1024), max_tokens: 16 },
    },
    {
      request: "completion, stories260K, 🦄 x 1.5M (6 MB)",
      route: "completions",
      body: { model: "stories260K", prompt: "🦄".repeat(1_500_000), max_tokens: 16 },
    },
    {
      request: "completion, stories260K, 🦄, a 32 MiB body",
      route: "completions",
      body: { model: "stories260K", prompt: "🦄".repeat(8_388_000) },
    },
    {
      request: "chat, tiny-qwen3moe, English (1 MB)",
      route: "chat/completions",
      body: { model: "tiny-qwen3moe", messages: [{ role: "user", content: textOf(story, MB) }] },
    },
    {
      request: "chat, tiny-qwen3moe, English (400 KB)",
      route: "chat/completions",
      body: { model: "tiny-qwen3moe", messages: [{ role: "user", content: textOf(story, 400 * 1024) }] },
    },
    { request: "embeddings, stories260K, 🦄 (6 MB)", route: "embeddings", body: { model: "stories260K", input: "🦄".repeat(1_500_000) } },
    {
      // Short enough to be tokenized at once, one by one; the last cannot fit.
      request: "embeddings, stories260K, 2,000 inputs of 7.7k chars",
      route: "embeddings",
      body: { model: "stories260K", input: [...Array.from({ length: 1999 }, () => " friend".repeat(1100)), "🦄".repeat(5000)] },
    },
    {
      request: "chat, stories260K, a 20 MB JSON tool result",
      route: "chat/completions",
      body: {
        model: "stories260K",
        messages: [
          { role: "user", content: "List the rows." },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "rows", arguments: "{}" } }],
          },
          {
            role: "tool",
            tool_call_id: "call_1",
            content: JSON.stringify({ rows: Array.from({ length: 600_000 }, (_, id) => ({ id, name: `row ${id}` })) }),
          },
        ],
      },
    },
  ];
  for (const { request, route, body } of requests) {
    const bytes = Buffer.from(JSON.stringify(body));
    const { result, worstMs, polls } = await pollHealth(async () => {
      const startedAt = performance.now();
      const response = await fetch(`${url}/v1/${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: bytes });
      const answer = /** @type {{ error?: { code: string } }} */ (await response.json());
      return { status: response.status, code: answer.error?.code ?? "", ms: performance.now() - startedAt };
    });
    httpRows.push({
      section: "http",
      request,
      bodyMB: Number((bytes.length / MB).toFixed(2)),
      status: result.status,
      code: result.code,
      ms: Math.round(result.ms),
      healthWorstMs: Math.round(worstMs),
      healthPolls: polls,
    });
  }
} finally {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
}

log("\n2. moestro serve over HTTP (baseline: /health on the idle server), --ctx-size 4096, 1 thread");
log("request                                        body MB  answer                        ms  | /health worst ms (polls)");
for (const row of httpRows) {
  const answer = `${row.status} ${row.code}`.trim();
  log(
    `${row.request.padEnd(47)}${String(row.bodyMB).padStart(7)}  ${answer.padEnd(27)}${String(row.ms).padStart(5)}  |${String(row.healthWorstMs).padStart(17)} (${row.healthPolls})`,
  );
}
if (asJson) console.log(JSON.stringify([...tokenizerRows, ...httpRows], null, 2));
