// @ts-check
// The gateway's overhead (docs/gateway.md, "Overhead"): one `moestro serve` of stories260K as the upstream, and one
// `moestro serve --upstream` in front of it, called directly and through the gateway in one run, interleaved in both
// orders (ABBA), on the same requests:
// - non-streamed at concurrency 1: the latency of each request, p50 of each side and the difference (ms);
// - streamed at concurrency 4: completion tokens per second of each side over `ROUNDS` rounds, the median.
// With BENCH_FLOOR=1 a third side runs in the same rounds: a bare `node:http` proxy (scripts/gateway-floor-proxy.mjs)
// in front of the same upstream, the floor of any gateway written in Node on this machine; the gateway's figures are
// then also given against it.
// usage: node scripts/bench-gateway.mjs   (env: BENCH_REQUESTS (default 200), BENCH_ROUNDS (default 3), BENCH_THREADS (default 1),
//                                          BENCH_FLOOR=0)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { median, root, startProcess, startServe, storiesModelPath } from "./bench-common.mjs";

const requests = Number(process.env.BENCH_REQUESTS ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const threads = process.env.BENCH_THREADS ?? "1";
const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-gateway-"));

const upstream = await startServe(["--model", storiesModelPath, "--threads", threads, "--log-level", "warn"], {
  env: { MOESTRO_HOME: path.join(home, "upstream") },
});
const gateway = await startServe(["--upstream", `bench=${upstream.url}/v1`, "--threads", threads, "--log-level", "warn"], {
  env: { MOESTRO_HOME: path.join(home, "gateway") },
});
const withFloor = ["1", "true", "on"].includes(process.env.BENCH_FLOOR ?? "0");
const floor = withFloor
  ? await startProcess(process.execPath, [path.join(root, "scripts/gateway-floor-proxy.mjs"), upstream.url], {
      label: "the bare node:http proxy",
      readUrl: (stdout) => /listening on (http:\/\/\S+)/.exec(stdout)?.[1],
    })
  : undefined;
/** @type {Record<string, string>} */
const targets = { direct: upstream.url, gateway: gateway.url, ...(floor ? { floor: floor.url } : {}) };
/** The sides in the order of even requests and rounds; odd ones run them reversed (ABBA, ABCCBA). */
const sides = Object.keys(targets);

/**
 * One chat completion; resolves with its latency (ms) and its completion tokens.
 * @param {string} url
 * @param {boolean} stream
 * @param {number} maxTokens
 */
async function call(url, stream, maxTokens) {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "stories260K",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: maxTokens,
      temperature: 0,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${text}`);
  const usage = stream
    ? JSON.parse(
        text
          .split("\n\n")
          .filter((event) => event.includes('"usage":{'))
          .at(-1)
          ?.slice(6) ?? "{}",
      ).usage
    : JSON.parse(text).usage;
  return { latencyMs: performance.now() - startedAt, completionTokens: usage?.completion_tokens ?? 0 };
}

try {
  // Warm up both paths (connections, JIT).
  for (let index = 0; index < 20; index++) for (const url of Object.values(targets)) await call(url, false, 8);

  /** @type {Record<string, number[]>} */
  const latencies = Object.fromEntries(sides.map((side) => [side, []]));
  for (let index = 0; index < requests; index++) {
    // ABBA: each side goes first as often as last.
    const order = index % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) latencies[side].push((await call(targets[side], false, 8)).latencyMs);
  }
  const p50 = Object.fromEntries(sides.map((side) => [side, median(latencies[side])]));

  /** @param {string} url */
  const streamRound = async (url) => {
    const startedAt = performance.now();
    let tokens = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let index = 0; index < 10; index++) tokens += (await call(url, true, 64)).completionTokens;
      }),
    );
    return tokens / ((performance.now() - startedAt) / 1000);
  };
  /** @type {Record<string, number[]>} */
  const tokensPerSecond = Object.fromEntries(sides.map((side) => [side, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) tokensPerSecond[side].push(await streamRound(targets[side]));
  }
  const rate = Object.fromEntries(sides.map((side) => [side, median(tokensPerSecond[side])]));
  const result = {
    nonStreamedConcurrency1: {
      requests,
      p50DirectMs: Number(p50.direct.toFixed(3)),
      p50GatewayMs: Number(p50.gateway.toFixed(3)),
      addedP50Ms: Number((p50.gateway - p50.direct).toFixed(3)),
    },
    streamedConcurrency4: {
      rounds,
      directTokensPerSecond: Number(rate.direct.toFixed(1)),
      gatewayTokensPerSecond: Number(rate.gateway.toFixed(1)),
      lostPercent: Number(((1 - rate.gateway / rate.direct) * 100).toFixed(2)),
    },
    ...(floor
      ? {
          floor: {
            p50FloorMs: Number(p50.floor.toFixed(3)),
            addedP50Ms: Number((p50.floor - p50.direct).toFixed(3)),
            floorTokensPerSecond: Number(rate.floor.toFixed(1)),
            lostPercent: Number(((1 - rate.floor / rate.direct) * 100).toFixed(2)),
            gatewayOverFloorAddedP50Ms: Number((p50.gateway - p50.floor).toFixed(3)),
          },
        }
      : {}),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await floor?.stop();
  await gateway.stop();
  await upstream.stop();
  rmSync(home, { recursive: true, force: true });
}
