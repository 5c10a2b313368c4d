#!/usr/bin/env node
// @ts-check
// Prefix cache benchmark (issue 19, section 3): 16 conversations take turns over 4 slots, each with its own history of
// about 700 tokens. Round 1 sends every conversation's first turn (a cold prompt); round 2 sends every follow-up, which
// carries an assistant reply that is not the model's own and a new user message. By then the 4 slots hold the last 4
// conversations' first turns, so a follow-up finds its history only in the prefix cache. Two `moestro serve` processes
// run the same model in-process, one with the prefix cache (`--cache-ram` at its default) and one without
// (`--cache-ram 0`), driven one after the other in the same run. Prints TTFT p50 of the follow-ups against the cold
// prompts' of round 1 (4 at a time, as the follow-ups) and against 4 cold prompts sent one at a time, for both (target:
// follow-up p50 <= 0.3x cold with the cache), and the cached tokens the follow-ups report (BENCH_DEBUG=1: each one's).
//
// usage: npm run bench:prefix-cache   (env: BENCH_MODEL=moe|stories (default moe: the generated 735M random Qwen3-MoE),
//                                      BENCH_THREADS=1, BENCH_CONVERSATIONS=16, BENCH_CONCURRENCY=4, BENCH_MAX_TOKENS=8,
//                                      MOESTRO_SHARED=../shared, BENCH_DIR=/tmp/moestro-bench)
// Run it on an otherwise idle machine, once or twice: it takes a few minutes on 2 cores with the MoE.
import { execSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { ensureMoeModel, median, startServe, storiesModelPath, streamChat } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const conversations = Number(process.env.BENCH_CONVERSATIONS ?? 16);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 8);
const parallel = 4;
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const modelName = process.env.BENCH_MODEL ?? "moe";
if (modelName !== "moe" && modelName !== "stories") throw new Error(`BENCH_MODEL: unknown model '${modelName}' (moe, stories)`);
const modelPath = modelName === "moe" ? ensureMoeModel(benchDir) : storiesModelPath;
const modelId = path.basename(modelPath).replace(/\.gguf$/i, "");
/** Words of each history: about 700 Qwen3 tokens; stories260K's context of 512 tokens holds about 60 words of it with the follow-up. */
const historyWords = modelName === "moe" ? 620 : 60;

const words = (
  "apple river stone cloud garden window yellow quiet market engine silver forest bridge candle winter summer pocket " +
  "ladder mirror violin harbor pepper lantern meadow rocket saddle thunder velvet walnut anchor basket copper desert " +
  "feather glacier hammer island jacket kettle lemon marble needle orange pillow quartz ribbon shadow tunnel umbrella " +
  "valley wagon blanket compass dolphin falcon garlic helmet insect jungle koala lizard magnet nectar oyster parrot"
).split(" ");

/**
 * Conversation `index`'s history: about 700 tokens (on the MoE) of words drawn by a generator seeded with the index, so that no two
 * conversations share more than the system prompt and the template's first tokens.
 * @param {number} index
 */
function history(index) {
  let state = (index + 1) * 2654435761;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const picked = [`Story ${index}:`];
  for (let count = 0; count < historyWords; count++) picked.push(words[next() % words.length]);
  return `${picked.join(" ")}. Summarize the story.`;
}

/**
 * The messages of a conversation's first turn, or of its follow-up (with a reply the model did not write).
 * @param {number} index
 * @param {boolean} isFollowUp
 */
function messages(index, isFollowUp) {
  const first = [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: history(index) },
  ];
  if (!isFollowUp) return first;
  return [
    ...first,
    { role: "assistant", content: `It is a story about ${words[index % words.length]} and ${words[(index * 7) % words.length]}.` },
    { role: "user", content: "Tell me more about the second one." },
  ];
}

/**
 * Sends every conversation's first turn or follow-up, in order, through `concurrency` workers pulling from one queue.
 * @param {string} url
 * @param {boolean} isFollowUp
 */
async function round(url, isFollowUp) {
  /** @type {Array<{ ttftMs: number, promptTokens: number, cachedTokens: number }>} */
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < conversations) {
      const index = next++;
      results[index] = await streamChat(url, { model: modelId, messages: messages(index, isFollowUp), maxTokens });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/**
 * Starts a server with or without the prefix cache, runs both rounds on it, stops it.
 * @param {string} label
 * @param {string[]} cacheArgs
 */
async function measure(label, cacheArgs) {
  const args = ["--model", modelPath, "--threads", String(threads), "--parallel", String(parallel), ...cacheArgs];
  args.push("--log-level", "error", "--home", path.join(benchDir, `home-prefix-cache-${label}`));
  const server = await startServe(args, { timeoutMs: 300_000 });
  try {
    const cold = await round(server.url, false);
    const followUps = await round(server.url, true);
    if (process.env.BENCH_DEBUG) console.error(label, followUps.map((result) => result.cachedTokens).join(" "));
    // Cold prompts one at a time too (new conversations, after the rounds): a cold prompt's TTFT without three others
    // prefilling beside it, the stricter reference.
    const alone = [];
    for (let index = conversations; index < conversations + 4; index++)
      alone.push(await streamChat(server.url, { model: modelId, messages: messages(index, false), maxTokens }));
    const coldP50 = median(cold.map((result) => result.ttftMs));
    const aloneP50 = median(alone.map((result) => result.ttftMs));
    const followUpP50 = median(followUps.map((result) => result.ttftMs));
    return {
      label,
      promptTokensP50: median(cold.map((result) => result.promptTokens)),
      followUpPromptTokensP50: median(followUps.map((result) => result.promptTokens)),
      coldTtftP50Ms: Math.round(coldP50),
      followUpTtftP50Ms: Math.round(followUpP50),
      followUpOverCold: Number((followUpP50 / coldP50).toFixed(3)),
      coldAloneTtftP50Ms: Math.round(aloneP50),
      followUpOverColdAlone: Number((followUpP50 / aloneP50).toFixed(3)),
      followUpCachedTokensP50: median(followUps.map((result) => result.cachedTokens)),
    };
  } finally {
    await server.stop();
  }
}

const commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
console.error(
  `prefix cache benchmark: ${modelId}, ${conversations} conversations over ${parallel} slots, concurrency ${concurrency}, ${threads} thread(s), commit ${commit}`,
);
const results = [await measure("cache-on", []), await measure("cache-off", ["--cache-ram", "0"])];
console.table(results);
console.log(
  JSON.stringify({ date: new Date().toISOString(), commit, cpu: os.cpus()[0]?.model, cores: os.cpus().length, modelId, results }),
);
