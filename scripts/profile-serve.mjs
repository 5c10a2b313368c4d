#!/usr/bin/env node
// @ts-check
// A/B of the in-process engine's serving cost per token (issue 19, section 1): starts `moestro serve` (in-process
// engine, 1 thread, 4 slots) from one or more checkouts, each built (`npm run build`), and drives them in interleaved
// blocks with streamed greedy completions over node:http at concurrency 1 and 4. For each checkout and level it prints
// the server process's CPU milliseconds per token, split into its main thread (JavaScript: HTTP, routing, the
// generation loop, node-llama-cpp's batching) and its other threads (llama.cpp's decode and sampling on libuv's pool),
// read from /proc/<pid>/task (Linux only), and the wall time per token. CPU time holds on a loaded machine far better
// than wall time; the interleaving spreads the machine's drift over every checkout alike.
//
// usage: node scripts/profile-serve.mjs [ROOT...]   (default: this checkout; a baseline is a `git worktree` of an
//        earlier commit with node_modules linked and `npm run build` run. env: PROFILE_MODEL=stories|moe|<path.gguf>,
//        PROFILE_TOKENS=64 per request, PROFILE_REQUESTS=64 per level and checkout, PROFILE_ROUNDS=4, PROFILE_LEVELS=1,4,
//        PROFILE_NODE_ARGS: node flags of the servers, such as "--cpu-prof --cpu-prof-dir=/tmp/prof"; BENCH_DIR for the MoE)
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { ensureMoeModel, median, root, startProcess, storiesModelPath, threadCpuMs } from "./bench-common.mjs";

const which = process.env.PROFILE_MODEL ?? "stories";
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const modelPath = which === "stories" ? storiesModelPath : which === "moe" ? ensureMoeModel(benchDir) : which;
const modelId = path.basename(modelPath).replace(/\.gguf$/i, "");
const maxTokens = Number(process.env.PROFILE_TOKENS ?? 64);
const requests = Number(process.env.PROFILE_REQUESTS ?? 64);
const rounds = Number(process.env.PROFILE_ROUNDS ?? 4);
const levels = (process.env.PROFILE_LEVELS ?? "1,4").split(",").map(Number);
const roots = process.argv.length > 2 ? process.argv.slice(2).map((dir) => path.resolve(dir)) : [root];

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/**
 * One streamed completion; resolves with the tokens the server counted and the time to its first text chunk (ms).
 * @param {string} url
 * @param {string} prompt
 * @returns {Promise<{ tokens: number, ttftMs: number }>}
 */
function complete(url, prompt) {
  const payload = JSON.stringify({
    model: modelId,
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  const startedAt = performance.now();
  let ttftMs = 0;
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}/v1/completions`,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => {
          if (ttftMs === 0 && chunk.includes('"text":"') && !chunk.includes('"text":""')) ttftMs = performance.now() - startedAt;
          body += chunk;
        });
        response.on("end", () => {
          const match = /"completion_tokens":(\d+)/.exec(body);
          if (match === null) reject(new Error(`no usage in the response: ${body.slice(0, 300)}`));
          else resolve({ tokens: Number(match[1]), ttftMs });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

let promptIndex = 0;
/** Every request's prompt differs (no repeated prefill), and every checkout gets the same sequence. */
const promptAt = (/** @type {number} */ index) =>
  `Story ${index}. Once upon a time, in a small town, there lived a child named ${["Lily", "Tom", "Sue", "Ben"][index % 4]} who`;

const servers = [];
for (const [index, checkout] of roots.entries()) {
  const args = ["serve", "--model", modelPath, "--threads", "1", "--parallel", "4", "--ctx-size", "512", "-b", "64"];
  args.push("--log-level", "error", "--home", path.join(benchDir, `profile-home-${index}`), "--port", "0", "--json");
  const nodeArgs = (process.env.PROFILE_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const server = await startProcess(process.execPath, [...nodeArgs, path.join(checkout, "bin/moestro.js"), ...args], {
    label: `moestro serve (${checkout})`,
    env: { MOESTRO_ENGINE__KIND: "inproc" },
    readUrl: (stdout) => {
      const line = stdout
        .split("\n")
        .slice(0, -1)
        .find((candidate) => candidate.includes('"listening"'));
      return line === undefined ? undefined : JSON.parse(line).url;
    },
  });
  /** @typedef {{ tokPerS: number, cpuMsPerToken: number, ttftMs: number }} Block */
  /** @type {Map<number, { tokens: number, wallMs: number, mainMs: number, othersMs: number, blocks: Block[], ttfts: number[] }>} */
  const totals = new Map();
  servers.push({ checkout, ...server, totals });
}

try {
  // Warm-up: JIT and first prompts, one at a time then four at once.
  for (const server of servers) {
    for (let i = 0; i < 4; i++) await complete(server.url, promptAt(++promptIndex));
    await Promise.all(Array.from({ length: 8 }, () => complete(server.url, promptAt(++promptIndex))));
  }
  const perBlock = Math.max(1, Math.round(requests / rounds));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const concurrency of levels) {
      const first = promptIndex;
      for (const server of order) {
        let next = first;
        let tokens = 0;
        /** @type {number[]} */
        const ttfts = [];
        const pid = /** @type {number} */ (server.child.pid);
        const before = threadCpuMs(pid);
        const startedAt = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < first + perBlock) {
              const { tokens: generated, ttftMs } = await complete(server.url, promptAt(++next));
              tokens += generated;
              ttfts.push(ttftMs);
            }
          }),
        );
        const wallMs = performance.now() - startedAt;
        const after = threadCpuMs(pid);
        const total = server.totals.get(concurrency) ?? { tokens: 0, wallMs: 0, mainMs: 0, othersMs: 0, blocks: [], ttfts: [] };
        total.ttfts.push(...ttfts);
        const cpuMs = after.main - before.main + (after.others - before.others);
        total.tokens += tokens;
        total.wallMs += wallMs;
        total.mainMs += after.main - before.main;
        total.othersMs += after.others - before.others;
        total.blocks.push({ tokPerS: (1000 * tokens) / wallMs, cpuMsPerToken: cpuMs / tokens, ttftMs: median(ttfts) });
        server.totals.set(concurrency, total);
      }
      promptIndex = first + perBlock;
    }
  }
  const rows = [];
  for (const server of servers) {
    for (const [concurrency, total] of server.totals) {
      rows.push({
        checkout: path.basename(server.checkout),
        concurrency,
        tokens: total.tokens,
        "cpu ms/tok": ((total.mainMs + total.othersMs) / total.tokens).toFixed(3),
        "main ms/tok": (total.mainMs / total.tokens).toFixed(3),
        "others ms/tok": (total.othersMs / total.tokens).toFixed(3),
        "wall ms/tok": (total.wallMs / total.tokens).toFixed(3),
        "tok/s": ((1000 * total.tokens) / total.wallMs).toFixed(0),
        "TTFT p50 ms": median(total.ttfts).toFixed(2),
      });
    }
  }
  rows.sort((a, b) => a.concurrency - b.concurrency);
  for (const row of rows) console.log(JSON.stringify(row));
  console.table(rows);
  // Each round's ratio over the first checkout, then the median over the rounds: the machine's drift between rounds
  // cancels out of a ratio taken within one round.
  if (servers.length > 1) {
    for (const server of servers.slice(1)) {
      for (const concurrency of levels) {
        const mine = server.totals.get(concurrency)?.blocks ?? [];
        const theirs = servers[0].totals.get(concurrency)?.blocks ?? [];
        const speed = median(mine.map((block, index) => block.tokPerS / theirs[index].tokPerS));
        const cpu = median(mine.map((block, index) => block.cpuMsPerToken / theirs[index].cpuMsPerToken));
        const ttft = median(mine.map((block, index) => block.ttftMs / theirs[index].ttftMs));
        console.log(
          `${path.basename(server.checkout)} over ${path.basename(servers[0].checkout)}, c=${concurrency}: tokens/s ${speed.toFixed(3)}x, CPU per token ${cpu.toFixed(3)}x, TTFT p50 ${ttft.toFixed(3)}x (medians of ${mine.length} rounds)`,
        );
      }
    }
  }
} finally {
  for (const server of servers) await server.stop();
  agent.destroy();
}
