#!/usr/bin/env node
// @ts-check
// Shared prefill benchmark (issue 19, section 3, last sentence): 4 requests sent together on a `--parallel 4` model share
// a system prompt of about 700 tokens and differ in their user turn. With shared prefills (the default) the first
// request evaluates its prompt and the other three wait for it, then restore its state and evaluate only their user
// turn; without (`MOESTRO_ENGINE__SHARED_PREFILL=off`) each of the four evaluates the whole prompt. Two `moestro serve`
// processes run the same model in-process, both with the prefix cache at its default, and are driven in alternation,
// round after round (which one goes first alternates too), so that both see the same machine load. Each round uses a
// system prompt of its own, so that neither server finds it in its prefix cache. Prints, for both: TTFT p50 of all
// requests and of the three that arrived after the first, the prompt tokens evaluated per round (prompt tokens less
// cached tokens), and the ratios on/off; and the load average before and after.
//
// usage: npm run bench:shared-prefill   (env: BENCH_MODEL=moe|stories (default moe: the generated 735M random
//                                        Qwen3-MoE), BENCH_ROUNDS=3, BENCH_THREADS=1, BENCH_MAX_TOKENS=8,
//                                        BENCH_SYSTEM_WORDS (620 on the MoE, 60 on stories260K),
//                                        MOESTRO_SHARED=../shared, BENCH_DIR=/tmp/moestro-bench)
import { execSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureMoeModel, median, startServe, storiesModelPath, streamChat } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 8);
const parallel = 4;
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const modelName = process.env.BENCH_MODEL ?? "moe";
if (modelName !== "moe" && modelName !== "stories") throw new Error(`BENCH_MODEL: unknown model '${modelName}' (moe, stories)`);
const modelPath = modelName === "moe" ? ensureMoeModel(benchDir) : storiesModelPath;
const modelId = path.basename(modelPath).replace(/\.gguf$/i, "");
/** Words of the system prompt: about 700 Qwen3 tokens; stories260K's context of 512 tokens holds about 300 of its tokens. */
const systemWords = Number(process.env.BENCH_SYSTEM_WORDS ?? (modelName === "moe" ? 620 : 60));

const words = (
  "apple river stone cloud garden window yellow quiet market engine silver forest bridge candle winter summer pocket " +
  "ladder mirror violin harbor pepper lantern meadow rocket saddle thunder velvet walnut anchor basket copper desert " +
  "feather glacier hammer island jacket kettle lemon marble needle orange pillow quartz ribbon shadow tunnel umbrella " +
  "valley wagon blanket compass dolphin falcon garlic helmet insect jungle koala lizard magnet nectar oyster parrot"
).split(" ");

/**
 * A system prompt of its own for `seed` (a round and a server): words drawn by a generator seeded with it.
 * @param {number} seed
 */
function systemPrompt(seed) {
  let state = (seed + 1) * 2654435761;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const picked = [`You are assistant number ${seed}. Keep these words in mind:`];
  for (let count = 0; count < systemWords; count++) picked.push(words[next() % words.length]);
  return `${picked.join(" ")}.`;
}

const questions = [
  "Which word comes first?",
  "Write a short poem with three of the words.",
  "Tell me which of the words is an animal.",
  "Summarize the list in one sentence.",
];

/**
 * One round on one server: the 4 requests sent together (2 ms apart, so that which one leads is the first one sent).
 * @param {string} url
 * @param {number} seed
 */
async function round(url, seed) {
  const system = systemPrompt(seed);
  const sent = questions.map(async (question, index) => {
    await sleep(2 * index);
    const messages = [
      { role: "system", content: system },
      { role: "user", content: question },
    ];
    return await streamChat(url, { model: modelId, messages, maxTokens });
  });
  return await Promise.all(sent);
}

/** @type {Array<{ label: string, env: Record<string, string> }>} */
const variants = [
  { label: "shared prefill on (default)", env: {} },
  { label: "shared prefill off", env: { MOESTRO_ENGINE__SHARED_PREFILL: "off" } },
];

const commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
console.error(
  `shared prefill benchmark: ${modelId}, ${parallel} requests sharing a system prompt of ${systemWords} words, ${rounds} round(s), ${threads} thread(s), commit ${commit}`,
);
const loadBefore = os.loadavg().map((value) => Number(value.toFixed(2)));
const servers = [];
try {
  for (const [index, variant] of variants.entries()) {
    const args = ["--model", modelPath, "--threads", String(threads), "--parallel", String(parallel), "--log-level", "error"];
    args.push("--home", path.join(benchDir, `home-shared-prefill-${index}`));
    servers.push(await startServe(args, { timeoutMs: 300_000, env: variant.env }));
  }
  // Loads each model (and its first sampler) before the measured rounds.
  for (const server of servers) await streamChat(server.url, { model: modelId, messages: [{ role: "user", content: "Hello" }], maxTokens });
  /** @type {Array<Array<Awaited<ReturnType<typeof round>>>>} */
  const results = variants.map(() => []);
  for (let index = 0; index < rounds; index++) {
    const order = index % 2 === 0 ? [0, 1] : [1, 0];
    for (const which of order) results[which].push(await round(servers[which].url, index * variants.length + which + 1));
  }
  const loadAfter = os.loadavg().map((value) => Number(value.toFixed(2)));
  const rows = variants.map((variant, which) => {
    const all = results[which].flat();
    // Which request led is not told: the one with the fewest cached tokens in its round.
    const followers = results[which].flatMap((requests) => {
      const leader = requests.reduce((least, request) => (request.cachedTokens < least.cachedTokens ? request : least));
      return requests.filter((request) => request !== leader);
    });
    return {
      variant: variant.label,
      promptTokensP50: median(all.map((request) => request.promptTokens)),
      ttftP50Ms: Math.round(median(all.map((request) => request.ttftMs))),
      followerTtftP50Ms: Math.round(median(followers.map((request) => request.ttftMs))),
      ttftMaxMs: Math.round(Math.max(...all.map((request) => request.ttftMs))),
      cachedTokensOfFollowersP50: median(followers.map((request) => request.cachedTokens)),
      promptTokensEvaluatedPerRound: Math.round(
        all.reduce((sum, request) => sum + request.promptTokens - request.cachedTokens, 0) / results[which].length,
      ),
    };
  });
  const [on, off] = rows;
  console.table(rows);
  const ratios = {
    ttftP50OnOverOff: Number((on.ttftP50Ms / off.ttftP50Ms).toFixed(3)),
    followerTtftP50OnOverOff: Number((on.followerTtftP50Ms / off.followerTtftP50Ms).toFixed(3)),
    promptTokensEvaluatedOnOverOff: Number((on.promptTokensEvaluatedPerRound / off.promptTokensEvaluatedPerRound).toFixed(3)),
  };
  console.error(`ratios on/off: ${JSON.stringify(ratios)}; load average before ${loadBefore.join(" ")}, after ${loadAfter.join(" ")}`);
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      commit,
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      modelId,
      rounds,
      loadBefore,
      loadAfter,
      rows,
      ratios,
      perRequest: variants.map((variant, which) => ({
        variant: variant.label,
        rounds: results[which].map((requests) =>
          requests.map(({ ttftMs, cachedTokens }) => ({ ttftMs: Math.round(ttftMs), cachedTokens })),
        ),
      })),
    }),
  );
} finally {
  for (const server of servers) await server.stop();
}
