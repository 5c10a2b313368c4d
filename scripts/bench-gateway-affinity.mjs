// @ts-check
// What session affinity gains (docs/gateway.md, "Session affinity"): two `moestro serve` upstreams of one model
// (in-process engine, prefix cache on by default), and two gateways in front of both, one with gateway.affinity on and
// one with it off, measured in the same run. Each side holds BENCH_CONVERSATIONS multi-turn chats of its own (different
// words, so that one side's cached prefixes never serve the other's), which take turns: at each turn every chat sends
// its history plus a new user message (x-session-id names the chat), in a shuffled order, BENCH_CONCURRENCY at once; the
// sides alternate which goes first at each turn (ABBA). For the follow-up turns (the second on) it prints, per side, the
// p50 time to the first streamed content (TTFT) and the share of prompt tokens the upstream served from its cache
// (usage.prompt_tokens_details.cached_tokens), and the ratios on / off.
// usage: node scripts/bench-gateway-affinity.mjs
//   env: BENCH_MODEL (qwen3moe: the tiny Qwen3 MoE of the shared models, the default; stories: stories260K),
//        BENCH_CONVERSATIONS (default 8), BENCH_TURNS (default 5), BENCH_WORDS (user words per turn, default 120),
//        BENCH_CONCURRENCY (default 2), BENCH_THREADS (default 1)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { median, shared, startServe, storiesModelPath } from "./bench-common.mjs";

const modelName = process.env.BENCH_MODEL ?? "qwen3moe";
const modelPath = modelName === "stories" ? storiesModelPath : path.join(shared, "models/tiny-qwen3moe.gguf");
const modelId = path.basename(modelPath, ".gguf");
const conversations = Number(process.env.BENCH_CONVERSATIONS ?? 8);
const turns = Number(process.env.BENCH_TURNS ?? 5);
const wordsPerTurn = Number(process.env.BENCH_WORDS ?? (modelName === "stories" ? 20 : 120));
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);
const threads = process.env.BENCH_THREADS ?? "1";
const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-affinity-"));

/**
 * A small seeded generator (mulberry32), so that every run sends the same words in the same order.
 * @param {number} seed
 */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const vocabulary =
  "the a little girl boy dog cat park tree sun moon house river boat bird friend happy sad big small red blue green went saw found played ran jumped said liked wanted could would story day night morning garden flower ball toy book school teacher mother father".split(
    " ",
  );
/** @param {() => number} next @param {number} count */
const words = (next, count) => Array.from({ length: count }, () => vocabulary[Math.floor(next() * vocabulary.length)]).join(" ");

// Thinking off: a thought dropped from the history by Qwen3's template would change the prompt's tail each turn.
const upstreamEnv = (/** @type {string} */ name) => ({ MOESTRO_HOME: path.join(home, name), MOESTRO_ENGINE__THINKING: "false" });
const upstreams = await Promise.all(
  ["one", "two"].map((name) => startServe(["--model", modelPath, "--threads", threads, "--log-level", "warn"], { env: upstreamEnv(name) })),
);
/** @param {"on" | "off"} side */
const startGateway = async (side) => {
  const configFile = path.join(home, `gateway-${side}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      upstreams: upstreams.map((upstream, index) => ({ name: index === 0 ? "one" : "two", url: `${upstream.url}/v1`, kind: "moestro" })),
      gateway: { affinity: { enabled: side === "on" } },
    }),
  );
  return await startServe(["--config", configFile, "--threads", threads, "--log-level", "warn"], {
    env: { MOESTRO_HOME: path.join(home, `gateway-${side}`) },
  });
};
const gateways = { on: await startGateway("on"), off: await startGateway("off") };

/**
 * One streamed turn of a chat; resolves with its TTFT (ms), its prompt and cached tokens, the answer and the upstream.
 * @param {string} url
 * @param {string} session
 * @param {Array<{ role: string, content: string }>} messages
 */
async function turn(url, session, messages) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-session-id": session },
    body: JSON.stringify({
      model: modelId,
      messages,
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (response.status !== 200 || response.body === null) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  let ttftMs;
  let buffer = "";
  let answer = "";
  let usage;
  const decoder = new TextDecoder();
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6));
      const delta = chunk.choices?.[0]?.delta;
      if (ttftMs === undefined && (delta?.content || chunk.choices?.[0]?.finish_reason)) ttftMs = performance.now() - startedAt;
      answer += delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
  }
  return {
    ttftMs: ttftMs ?? performance.now() - startedAt,
    promptTokens: usage?.prompt_tokens ?? 0,
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    answer,
    upstream: response.headers.get("x-moestro-upstream"),
  };
}

try {
  /** @type {Record<"on" | "off", { histories: Array<Array<{ role: string, content: string }>>, next: () => number, ttft: number[], prompt: number, cached: number, sameUpstream: number, followUps: number, last: Array<string | null> }>} */
  const sides = {
    on: { histories: [], next: random(1), ttft: [], prompt: 0, cached: 0, sameUpstream: 0, followUps: 0, last: [] },
    off: { histories: [], next: random(2), ttft: [], prompt: 0, cached: 0, sameUpstream: 0, followUps: 0, last: [] },
  };
  for (const side of Object.values(sides))
    for (let index = 0; index < conversations; index++)
      side.histories.push([{ role: "system", content: `You tell stories. ${words(side.next, 40)}` }]);
  const order = random(3);
  for (let turnIndex = 0; turnIndex < turns; turnIndex++) {
    const sideOrder = /** @type {Array<"on" | "off">} */ (turnIndex % 2 === 0 ? ["on", "off"] : ["off", "on"]);
    for (const name of sideOrder) {
      const side = sides[name];
      // A shuffled order at each turn: with a fixed one, turn-taking balancing would send a chat to the same upstream
      // every time by accident.
      const queue = Array.from({ length: conversations }, (_, index) => index).sort(() => order() - 0.5);
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
            const history = side.histories[index];
            history.push({ role: "user", content: words(side.next, wordsPerTurn) });
            const result = await turn(gateways[name].url, `${name}-${index}`, history);
            history.push({ role: "assistant", content: result.answer });
            if (turnIndex > 0) {
              side.ttft.push(result.ttftMs);
              side.prompt += result.promptTokens;
              side.cached += result.cachedTokens;
              side.followUps++;
              if (side.last[index] === result.upstream) side.sameUpstream++;
            }
            side.last[index] = result.upstream;
          }
        }),
      );
    }
  }
  const summary = (/** @type {"on" | "off"} */ name) => {
    const side = sides[name];
    return {
      followUpTurns: side.followUps,
      ttftP50Ms: Number(median(side.ttft).toFixed(2)),
      cachedTokensShare: Number((side.cached / Math.max(1, side.prompt)).toFixed(3)),
      promptTokens: side.prompt,
      sameUpstreamShare: Number((side.sameUpstream / Math.max(1, side.followUps)).toFixed(3)),
    };
  };
  const on = summary("on");
  const off = summary("off");
  const result = {
    model: modelId,
    conversations,
    turns,
    wordsPerTurn,
    concurrency,
    threads: Number(threads),
    affinityOn: on,
    affinityOff: off,
    ttftP50OnOverOff: Number((on.ttftP50Ms / off.ttftP50Ms).toFixed(3)),
    cachedShareOnMinusOff: Number((on.cachedTokensShare - off.cachedTokensShare).toFixed(3)),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await Promise.all([gateways.on.stop(), gateways.off.stop()]);
  await Promise.all(upstreams.map((upstream) => upstream.stop()));
  rmSync(home, { recursive: true, force: true });
}
