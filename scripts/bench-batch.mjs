#!/usr/bin/env node
// @ts-check
// Batch priority benchmark (issue 20, "Batch API"): interactive TTFT at concurrency 1 while a batch runs on the same
// model. One `moestro serve` (the MoE, in-process, --parallel 4) answers streamed chat completions one at a time, each
// with its own prompt (no prefix reuse), in three phases of the same run:
//   idle   - nothing else runs;
//   batch  - a batch of long completions runs in the background (the Batch API, lines at batch priority);
//   load   - the same background work sent as plain interactive requests (3 at a time), to show what priority buys.
// The idle phase is measured before and after the others, and its p50 is the median of both halves. Prints TTFT p50 of
// each phase and the ratios against idle (target: batch <= 1.10x idle).
//
// usage: npm run bench:batch   (env: BENCH_MODEL=moe|stories (default moe), BENCH_THREADS=1,
//                                        BENCH_REQUESTS=12 (interactive requests per phase), BENCH_PROMPT_WORDS=200,
//                                        BENCH_BATCH_MAX_TOKENS=256, MOESTRO_SHARED=../shared, BENCH_DIR=/tmp/moestro-bench)
// Run it on an idle machine: the ratios move with other load. Results: docs/batch.md, "Measured".
import os from "node:os";
import path from "node:path";
import { ensureMoeModel, median, startServe, storiesModelPath } from "./bench-common.mjs";

const threads = Number(process.env.BENCH_THREADS ?? 1);
const requests = Number(process.env.BENCH_REQUESTS ?? 12);
const promptWords = Number(process.env.BENCH_PROMPT_WORDS ?? 200);
const batchMaxTokens = Number(process.env.BENCH_BATCH_MAX_TOKENS ?? 256);
const benchDir = process.env.BENCH_DIR ?? path.join(os.tmpdir(), "moestro-bench");
const modelName = process.env.BENCH_MODEL ?? "moe";
if (modelName !== "moe" && modelName !== "stories") throw new Error(`BENCH_MODEL: unknown model '${modelName}' (moe, stories)`);
const modelPath = modelName === "moe" ? ensureMoeModel(benchDir) : storiesModelPath;
const modelId = path.basename(modelPath).replace(/\.gguf$/i, "");
const words = "apple river stone cloud garden window yellow quiet market engine silver forest bridge candle winter summer".split(" ");

/** A prompt of `promptWords` words that no other request shares beyond its first word. @param {number} seed */
function prompt(seed) {
  let state = (seed + 1) * 2654435761;
  const picked = [`Note ${seed}:`];
  for (let count = 0; count < promptWords; count++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    picked.push(words[state % words.length]);
  }
  return picked.join(" ");
}

/**
 * Streams one chat completion (8 tokens) and measures its time to the first chunk with text.
 * @param {string} url
 * @param {number} seed
 */
async function ttft(url, seed) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: modelId,
      messages: [{ role: "user", content: prompt(seed) }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  let first = 0;
  const decoder = new TextDecoder();
  for await (const chunk of response.body) {
    const text = decoder.decode(chunk, { stream: true });
    if (first === 0 && /"(content|reasoning_content)":"[^"]/.test(text)) first = performance.now() - startedAt;
  }
  return first === 0 ? performance.now() - startedAt : first;
}

/**
 * A batch as the server shows it.
 * @param {string} url
 * @param {string} id
 * @returns {Promise<{ status: string, request_counts: { total: number, completed: number, failed: number } }>}
 */
async function getBatch(url, id) {
  return /** @type {any} */ (await (await fetch(`${url}/v1/batches/${id}`)).json());
}

/** Interactive requests one at a time; resolves their TTFTs. @param {string} url @param {number} from */
async function phase(url, from, count = requests) {
  const results = [];
  for (let index = 0; index < count; index++) results.push(await ttft(url, from + index));
  return results;
}

/** The background work: long completions, one per line. @param {number} count */
function backgroundBodies(count) {
  return Array.from({ length: count }, (_, index) => ({
    model: modelId,
    messages: [{ role: "user", content: prompt(100_000 + index) }],
    max_tokens: batchMaxTokens,
    temperature: 0,
  }));
}

const args = ["--model", modelPath, "--threads", String(threads), "--parallel", "4", "--log-level", "error"];
args.push("--home", path.join(benchDir, "home-batch"));
const server = await startServe(args, { timeoutMs: 300_000 });
try {
  const { url } = server;
  await phase(url, 900_000, 2); // warm-up
  const idleBefore = await phase(url, 0, Math.ceil(requests / 2));

  // Batch phase: 200 lines, far more than the phase needs; cancelled after it.
  const lines = backgroundBodies(200).map((body, index) =>
    JSON.stringify({ custom_id: `bg-${index}`, method: "POST", url: "/v1/chat/completions", body }),
  );
  const form = new FormData();
  form.set("purpose", "batch");
  form.set("file", new File([lines.join("\n")], "bench.jsonl"));
  const file = /** @type {{ id: string }} */ (await (await fetch(`${url}/v1/files`, { method: "POST", body: form })).json());
  const batch = /** @type {{ id: string }} */ (
    await (
      await fetch(`${url}/v1/batches`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }),
      })
    ).json()
  );
  // Let the batch fill its slots.
  for (let status = ""; status !== "in_progress"; ) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = (await getBatch(url, batch.id)).status;
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // The batch's sequences, to show it runs: at most --parallel - 1 (one slot stays free for interactive requests).
  const ps = /** @type {any} */ (await (await fetch(`${url}/v1/moestro/ps`)).json());
  const batchSequences = ps.data[0]?.sequences_in_use ?? 0;
  const withBatch = await phase(url, 1000, requests);
  const counts = (await getBatch(url, batch.id)).request_counts;
  await fetch(`${url}/v1/batches/${batch.id}/cancel`, { method: "POST" });
  for (let status = ""; status !== "cancelled"; ) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = (await getBatch(url, batch.id)).status;
  }

  // Load phase: the same work as 3 plain interactive streams.
  let stopLoad = false;
  const loadBodies = backgroundBodies(200);
  let nextLoad = 0;
  const loadWorker = async () => {
    while (!stopLoad) {
      const body = loadBodies[nextLoad++ % loadBodies.length];
      await (
        await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        })
      ).text();
    }
  };
  const loaders = Array.from({ length: 3 }, loadWorker);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const withLoad = await phase(url, 2000, requests);
  stopLoad = true;
  await Promise.all(loaders);

  const idleAfter = await phase(url, 3000, Math.floor(requests / 2));
  const idle = median([...idleBefore, ...idleAfter]);
  const rows = [
    ["idle", idle],
    ["batch running", median(withBatch)],
    ["same work as interactive load", median(withLoad)],
  ];
  console.log(
    `model ${modelId}, --threads ${threads} --parallel 4, ${requests} interactive requests per phase, prompts of ${promptWords} words`,
  );
  console.log(
    `batch: ${batchSequences} sequences in use when the batch phase began; ${counts.completed + counts.failed} of ${counts.total} lines answered by its end`,
  );
  for (const [label, value] of rows)
    console.log(`${String(label).padEnd(32)} TTFT p50 ${Number(value).toFixed(1)} ms  ${(Number(value) / idle).toFixed(2)}x idle`);
} finally {
  await server.stop();
}
