#!/usr/bin/env node
// @ts-check
// Speculative decoding benchmark (issue 19, section 2), in-process engine, concurrency 1, greedy /v1/completions.
// One moestro server serves three models configured with speculative decoding; every request is sent twice in turn,
// with `speculative: true` and `speculative: false` (plain decoding on the same server, model and sequence), so that
// both modes see the same machine load:
// - padded: a target whose greedy text equals stories260K's but costs tens of times more per token
//   (scripts/make-padded-stories.mjs, generated into BENCH_DIR), with stories260K as its draft model
//   (target: >= 2x plain tokens/s);
// - moe: the random-weight Qwen3-MoE of bench:serve (about 420 MB) with tiny-qwen3moe (another random model with the
//   same vocabulary) as draft: the draft cannot predict it, so drafting must back off (target: >= 0.95x plain);
// - lookup: stories260K with prompt lookup (ngram), on a prompt that holds the text the model is about to write;
// - padded-lookup: the padded target with prompt lookup, on the same prompts (where a decode step costs more);
// - worker: the padded target with stories260K as draft on a llama-server worker, against the padded target on a plain
//   worker (a worker speculates for every request or none, so plain decoding needs a second worker; both run at
//   once on the same server, requests alternate between them);
// - worker-lookup: stories260K with prompt lookup on a worker, against stories260K on a plain worker, on the lookup
//   prompts;
// - worker-padded-lookup: the padded target with prompt lookup on a worker, against the padded target on a plain
//   worker, on the lookup prompts;
// - worker-moe: the random MoE with tiny-qwen3moe as draft on a worker, against the MoE on a plain worker: the draft
//   predicts nothing, so the worker backs off (moestro restarts it without speculation after a window of 512 drafted
//   tokens; BENCH_BACK_OFF=false keeps it speculating, as before the back-off existed). Besides the whole run's ratio it
//   prints the ratio over the pairs whose speculative request started after the restart was done (the steady state),
//   and the restart's time, from `ps`. Not in the default list.
// The worker entries need a llama-server binary (BENCH_LLAMA_SERVER, else MOESTRO_TEST_LLAMA_SERVER); they are in the
// default list only when one is given.
// Prints, per model, tokens/s of both modes, their ratio, and the drafted and accepted tokens with the acceptance rate,
// then one JSON line with every figure.
//
// usage: npm run bench:speculative   (env: BENCH_THREADS=1, BENCH_ROUNDS=3, BENCH_MAX_TOKENS=128 (moe: 64),
//                                     BENCH_PADDED_FFN=65536, BENCH_MIN_CONFIDENCE=0 (the draft models'; empty: moestro's default),
//                                     BENCH_MODELS=padded,moe,lookup,padded-lookup[,worker,worker-lookup,worker-padded-lookup,worker-moe], MOESTRO_SHARED=../shared,
//                                     BENCH_DIR=/tmp/moestro-bench, BENCH_LLAMA_SERVER=path of llama-server,
//                                     BENCH_BACK_OFF=true|false (worker-moe's speculative.backOff; default: moestro's, true))
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureMoeModel, root, shared, startServe, storiesModelPath } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 128);
const paddedFfn = Number(process.env.BENCH_PADDED_FFN ?? 65536);
/** The draft models' `minConfidence`: 0 (draft until maxDraftTokens) unless given; empty leaves moestro's default, 0.6. */
const minConfidence = process.env.BENCH_MIN_CONFIDENCE === "" ? undefined : Number(process.env.BENCH_MIN_CONFIDENCE ?? 0);
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const llamaServer = process.env.BENCH_LLAMA_SERVER || process.env.MOESTRO_TEST_LLAMA_SERVER || undefined;
/** worker-moe's `speculative.backOff`: moestro's default unless BENCH_BACK_OFF says. */
const backOff =
  process.env.BENCH_BACK_OFF === undefined || process.env.BENCH_BACK_OFF === "" ? undefined : process.env.BENCH_BACK_OFF !== "false";
const which = (
  process.env.BENCH_MODELS ?? `padded,moe,lookup,padded-lookup${llamaServer ? ",worker,worker-lookup,worker-padded-lookup" : ""}`
)
  .split(",")
  .filter(Boolean);
const workerModels = ["worker", "worker-lookup", "worker-padded-lookup", "worker-moe"];
if (workerModels.some((model) => which.includes(model)) && llamaServer === undefined) {
  throw new Error("BENCH_MODELS names worker models: give the llama-server binary in BENCH_LLAMA_SERVER");
}

/** Prompts of the stories models: beginnings of children's stories, as stories260K was trained on. */
const storyPrompts = [
  "Once upon a time",
  "Tom and Lily went to the park. They saw a dog.",
  "One day, a little bird",
  "Sam had a red ball.",
];
/** Prompts of the random MoE (its text is noise whatever the prompt). */
const moePrompts = ["The quick brown fox", "Write a poem about the sea.", "def fibonacci(n):", "Once upon a time"];

/**
 * One greedy completion: its tokens, the wall time, and the usage's speculative counts (0 when it did not speculate).
 * @param {string} url
 * @param {string} model
 * @param {string} prompt
 * @param {number} tokens
 * @param {boolean} speculative
 */
async function complete(url, model, prompt, tokens, speculative) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt, max_tokens: tokens, temperature: 0, speculative }),
  });
  const body = /** @type {any} */ (await response.json());
  const seconds = (performance.now() - startedAt) / 1000;
  if (!response.ok) throw new Error(`${model}: ${response.status} ${JSON.stringify(body)}`);
  const details = body.usage.completion_tokens_details ?? {};
  const accepted = details.accepted_prediction_tokens ?? 0;
  return {
    text: /** @type {string} */ (body.choices[0].text),
    tokens: /** @type {number} */ (body.usage.completion_tokens),
    seconds,
    drafted: accepted + (details.rejected_prediction_tokens ?? 0),
    accepted,
  };
}

/**
 * The speculation of `model`'s worker as `ps` shows it (`draft`, `off (backed off: …)`), or null.
 * @param {string} url
 * @param {string} model
 * @returns {Promise<string | null>}
 */
async function workerSpeculation(url, model) {
  const body = /** @type {any} */ (await (await fetch(`${url}/v1/moestro/ps`)).json());
  return body.data.find((/** @type {any} */ loaded) => loaded.id === model)?.worker?.speculation ?? null;
}

/**
 * Runs every prompt `rounds` times in both modes, alternating which goes first, after one warm-up of each; checks that
 * both modes wrote the same text (greedy decoding). Plain requests go to `plainModel` (a second worker, for worker
 * models) with `speculative: false`. With `watchBackOff`, reads the worker's speculation (`ps`) after each pair and adds
 * the totals of the pairs that started after its back-off's restart was done (`steady`), and the back-off as `ps` says.
 * @param {string} url
 * @param {string} model
 * @param {string[]} prompts
 * @param {number} tokens
 * @param {string} [plainModel] defaults to `model`
 * @param {boolean} [watchBackOff]
 */
async function measure(url, model, prompts, tokens, plainModel = model, watchBackOff = false) {
  const totals = {
    speculative: { tokens: 0, seconds: 0, drafted: 0, accepted: 0 },
    plain: { tokens: 0, seconds: 0, drafted: 0, accepted: 0 },
  };
  const steady = { speculative: { tokens: 0, seconds: 0 }, plain: { tokens: 0, seconds: 0 }, pairs: 0 };
  let restarted = false;
  /** @type {number | undefined} */
  let backedOffAfterPair;
  let pair = 0;
  let mismatches = 0;
  await complete(url, model, prompts[0], 16, true);
  await complete(url, plainModel, prompts[0], 16, false);
  for (let round = 0; round < rounds; round++) {
    for (const [index, prompt] of prompts.entries()) {
      /** @type {Record<string, string>} */
      const texts = {};
      const order = (round + index) % 2 === 0 ? [true, false] : [false, true];
      const isSteady = restarted;
      for (const speculative of order) {
        const result = await complete(url, speculative ? model : plainModel, prompt, tokens, speculative);
        const total = totals[speculative ? "speculative" : "plain"];
        total.tokens += result.tokens;
        total.seconds += result.seconds;
        total.drafted += result.drafted;
        total.accepted += result.accepted;
        texts[String(speculative)] = result.text;
        if (isSteady) {
          steady[speculative ? "speculative" : "plain"].tokens += result.tokens;
          steady[speculative ? "speculative" : "plain"].seconds += result.seconds;
        }
      }
      if (isSteady) steady.pairs++;
      if (texts.true !== texts.false) mismatches++;
      pair++;
      if (watchBackOff && !restarted) {
        const speculation = await workerSpeculation(url, model);
        if (speculation?.startsWith("off") && backedOffAfterPair === undefined) backedOffAfterPair = pair;
        restarted = speculation?.includes("restarted in") === true;
      }
    }
  }
  const rate = (/** @type {{tokens: number, seconds: number}} */ total) => total.tokens / total.seconds;
  return {
    model,
    speculativeTokensPerSecond: rate(totals.speculative),
    plainTokensPerSecond: rate(totals.plain),
    ratio: rate(totals.speculative) / rate(totals.plain),
    draftedTokens: totals.speculative.drafted,
    acceptedTokens: totals.speculative.accepted,
    acceptanceRate: totals.speculative.drafted === 0 ? 0 : totals.speculative.accepted / totals.speculative.drafted,
    requestsPerMode: rounds * prompts.length,
    textMismatches: mismatches,
    ...(watchBackOff
      ? {
          speculation: await workerSpeculation(url, model),
          backedOffAfterPair: backedOffAfterPair ?? null,
          steadyPairs: steady.pairs,
          steadyRatio: steady.pairs === 0 ? null : rate(steady.speculative) / rate(steady.plain),
        }
      : {}),
  };
}

mkdirSync(benchDir, { recursive: true });
/** @type {Array<Record<string, unknown>>} */
const models = [];
const draftOptions = minConfidence === undefined ? {} : { minConfidence };
const paddedPath = path.join(benchDir, `stories260K-padded-${paddedFfn}.gguf`);
if (["padded", "padded-lookup", "worker", "worker-padded-lookup"].some((model) => which.includes(model))) {
  const padded = paddedPath;
  if (!existsSync(padded)) {
    console.error(`generating ${padded}...`);
    const script = path.join(root, "scripts/make-padded-stories.mjs");
    execFileSync(process.execPath, [script, "--source", storiesModelPath, "--out", padded, "--ffn", String(paddedFfn)], {
      stdio: "inherit",
    });
  }
  if (which.includes("padded")) {
    models.push({ path: padded, id: "padded", speculative: { type: "draft", draftModel: storiesModelPath, ...draftOptions } });
  }
}
if (which.includes("moe")) {
  const draft = path.join(shared, "models/tiny-qwen3moe.gguf");
  models.push({ path: ensureMoeModel(benchDir), id: "moe", speculative: { type: "draft", draftModel: draft, ...draftOptions } });
}
if (which.includes("worker-moe")) {
  const draft = path.join(shared, "models/tiny-qwen3moe.gguf");
  const moe = ensureMoeModel(benchDir);
  models.push(
    {
      path: moe,
      id: "worker-moe",
      engine: "llama-server",
      speculative: { type: "draft", draftModel: draft, ...draftOptions, ...(backOff === undefined ? {} : { backOff }) },
    },
    { path: moe, id: "worker-moe-plain", engine: "llama-server" },
  );
}
if (which.includes("lookup") || which.includes("padded-lookup")) {
  models.push({ path: storiesModelPath, id: "lookup", speculative: { type: "ngram", maxDraftTokens: 8 } });
}
if (which.includes("padded-lookup")) {
  models.push({ path: paddedPath, id: "padded-lookup", speculative: { type: "ngram", maxDraftTokens: 8 } });
}
if (which.includes("worker")) {
  models.push({
    path: paddedPath,
    id: "worker",
    engine: "llama-server",
    speculative: { type: "draft", draftModel: storiesModelPath, ...draftOptions },
  });
}
if (which.includes("worker-padded-lookup")) {
  models.push({ path: paddedPath, id: "worker-padded-lookup", engine: "llama-server", speculative: { type: "ngram", maxDraftTokens: 8 } });
}
if (which.includes("worker") || which.includes("worker-padded-lookup")) {
  models.push({ path: paddedPath, id: "worker-plain", engine: "llama-server" });
}
if (which.includes("worker-lookup")) {
  models.push({ path: storiesModelPath, id: "worker-lookup", engine: "llama-server", speculative: { type: "ngram", maxDraftTokens: 8 } });
}
if (which.includes("worker-lookup") || which.includes("worker-padded-lookup")) {
  // Also where the lookup prompts are found when no in-process model is run: stories260K writes them fast.
  models.push({ path: storiesModelPath, id: "worker-lookup-plain", engine: "llama-server" });
}
const home = path.join(benchDir, "home-speculative");
rmSync(home, { recursive: true, force: true });
mkdirSync(home, { recursive: true });
const configPath = path.join(home, "config.json");
writeFileSync(configPath, JSON.stringify({ models }, null, 2));
const server = await startServe(
  [
    "--config",
    configPath,
    "--home",
    home,
    "--threads",
    String(threads),
    "--parallel",
    "1",
    "--ctx-size",
    "1024",
    "--log-level",
    "error",
    ...(llamaServer === undefined ? [] : ["--llama-server", llamaServer]),
  ],
  { timeoutMs: 300_000 },
);
/** @type {Array<Record<string, unknown>>} */
const results = [];
try {
  if (which.includes("padded")) results.push(await measure(server.url, "padded", storyPrompts, maxTokens));
  if (which.includes("moe")) {
    const moe = await measure(server.url, "moe", moePrompts, Math.min(maxTokens, 64));
    // The control: two plain requests in a row. On a random-weight model logits nearly tie, and the rounding of a
    // step depends on the KV cache's history (the cells a sequence's tokens sit in), so greedy texts differ between
    // plain runs too.
    let plainMismatches = 0;
    for (const prompt of moePrompts) {
      const first = await complete(server.url, "moe", prompt, Math.min(maxTokens, 64), false);
      const second = await complete(server.url, "moe", prompt, Math.min(maxTokens, 64), false);
      if (first.text !== second.text) plainMismatches++;
    }
    results.push({ ...moe, plainVersusPlainMismatches: plainMismatches, plainVersusPlainPairs: moePrompts.length });
  }
  if (which.includes("worker-moe")) {
    results.push(await measure(server.url, "worker-moe", moePrompts, Math.min(maxTokens, 64), "worker-moe-plain", true));
  }
  if (which.includes("worker")) results.push(await measure(server.url, "worker", storyPrompts, maxTokens, "worker-plain"));
  const lookupModels = ["lookup", "padded-lookup", "worker-lookup", "worker-padded-lookup"].filter((candidate) =>
    which.includes(candidate),
  );
  if (lookupModels.length > 0) {
    // Prompts that hold the text the model writes next: a story's beginning, a text T, a blank line and the beginning
    // again, where T is what stories260K writes after that very prompt. Found by iteration (T = its continuation of
    // the prompt with the previous T; at most 20 times): stories260K does not copy a story it has just read unless the
    // text is one it would write there anyway, and on the last iteration's prompt it writes T again, or nearly.
    /** @type {string[]} */
    const seen = [];
    // Any stories260K model finds the prompts (the padded target too): plain decoding, in-process or on a plain worker,
    // writes the same text.
    const lookupBase = which.includes("lookup") || which.includes("padded-lookup") ? "lookup" : "worker-lookup-plain";
    let fixedPoints = 0;
    for (const prompt of storyPrompts) {
      let text = (await complete(server.url, lookupBase, prompt, maxTokens, false)).text;
      for (let iteration = 0; iteration < 20; iteration++) {
        const next = (await complete(server.url, lookupBase, `${prompt}${text}\n\n${prompt}`, maxTokens, false)).text;
        if (next === text) {
          fixedPoints++;
          break;
        }
        text = next;
      }
      seen.push(`${prompt}${text}\n\n${prompt}`);
    }
    // The same prompts on the padded target, whose greedy text is stories260K's: prompt lookup where a step costs more.
    for (const model of lookupModels) {
      const plainModel = { "worker-lookup": "worker-lookup-plain", "worker-padded-lookup": "worker-plain" }[model] ?? model;
      results.push({ ...(await measure(server.url, model, seen, maxTokens, plainModel)), promptsRepeatedWhole: fixedPoints });
    }
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const acceptance = metrics.split("\n").filter((line) => line.startsWith("moestro_draft_acceptance_ratio"));
  for (const result of results) {
    console.log(
      `${String(result.model).padEnd(13)} speculative ${Number(result.speculativeTokensPerSecond).toFixed(1)} tok/s, plain ${Number(result.plainTokensPerSecond).toFixed(1)} tok/s, ratio ${Number(result.ratio).toFixed(2)}x; drafted ${result.draftedTokens}, accepted ${result.acceptedTokens} (${(Number(result.acceptanceRate) * 100).toFixed(1)}%); texts differing: ${result.textMismatches} of ${result.requestsPerMode}${result.plainVersusPlainMismatches === undefined ? "" : ` (plain against plain: ${result.plainVersusPlainMismatches} of ${result.plainVersusPlainPairs})`}`,
    );
    if (result.speculation !== undefined) {
      console.log(
        `${" ".repeat(13)} worker speculation: ${result.speculation ?? "none"}; backed off after pair ${result.backedOffAfterPair ?? "-"} of ${result.requestsPerMode}; after its restart: ratio ${result.steadyRatio === null ? "-" : `${Number(result.steadyRatio).toFixed(2)}x`} over ${result.steadyPairs} pairs`,
      );
    }
  }
  for (const line of acceptance) console.log(`/metrics: ${line}`);
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      loadAverage: os.loadavg(),
      threads,
      rounds,
      maxTokens,
      paddedFfn,
      minConfidence,
      backOff,
      results,
    }),
  );
} finally {
  await server.stop();
}
