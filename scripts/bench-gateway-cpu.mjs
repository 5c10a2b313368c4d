// @ts-check
// The gateway's CPU cost per request (docs/gateway.md, "Overhead"): CPU time (user + system, from /proc/PID/stat) that
// one `moestro serve --upstream` process spends per request in front of a `moestro serve` of stories260K, next to the
// upstream's own CPU per request, on the same requests. CPU time barely moves with the machine's load, unlike
// latency, so this is the figure to compare before and after a change on a busy machine. Linux only (/proc).
//
// With `BENCH_BASELINE=/path/to/other/checkout` (built), a second gateway runs that checkout's CLI in front of the same
// upstream, and the two are measured in one run, in `BENCH_ROUNDS` blocks interleaved in both orders (ABBA): each
// side's CPU per request, the upstream's CPU per request while it served each side, and their ratios.
// usage: node scripts/bench-gateway-cpu.mjs   (env: BENCH_REQUESTS per side (default 300), BENCH_STREAM=1 for streamed
//        requests (with `stream_options.include_usage`, as bench-gateway.mjs streams), BENCH_MAX_TOKENS per request
//        (default 8; bench-gateway.mjs streams 64, where the per-event work outweighs the per-request work),
//        BENCH_CONCURRENCY (default 1), BENCH_STAND_IN=1 for scripts/gateway-stand-in-upstream.mjs in place of the
//        model (the gateway's own CPU per event, with nothing else on the cores), BENCH_BASELINE, BENCH_ROUNDS
//        (default 6, with a baseline), BENCH_PROFILE=1 to write this checkout's gateway's --cpu-prof into
//        ./gateway-cpu-prof/, BENCH_PROFILE_INTERVAL_US its sampling interval (node's default 1000), BENCH_FLOOR=1 to
//        measure the bare node:http proxy of scripts/gateway-floor-proxy.mjs too, BENCH_WARMUP requests per side before
//        the measured ones (default 30; a few thousand for the steady state))
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { root, startProcess, startServe, storiesModelPath } from "./bench-common.mjs";

const requests = Number(process.env.BENCH_REQUESTS ?? 300);
const stream = process.env.BENCH_STREAM === "1";
const maxTokens = Number(process.env.BENCH_MAX_TOKENS ?? 8);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1);
const standIn = process.env.BENCH_STAND_IN === "1";
const baseline = process.env.BENCH_BASELINE;
// Requests per side before the measured ones. V8 keeps compiling (TurboFan, on its worker threads, whose CPU counts here)
// for the first few thousand requests of a fresh gateway: a short warmup measures that too, a long one the steady state.
const warmup = Number(process.env.BENCH_WARMUP ?? 30);
const rounds = baseline === undefined && process.env.BENCH_FLOOR !== "1" ? 1 : Number(process.env.BENCH_ROUNDS ?? 6);
const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-gateway-cpu-"));
const ticksPerSecond = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)); /proc/PID/stat counts utime and stime in it.

/**
 * @param {number} pid
 * @returns {{ user: number, system: number }} CPU ms of the process so far, in user space and in the kernel.
 */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { user: (Number(fields[11]) * 1000) / ticksPerSecond, system: (Number(fields[12]) * 1000) / ticksPerSecond };
}

const upstream = standIn
  ? await startProcess(process.execPath, [path.join(root, "scripts/gateway-stand-in-upstream.mjs")], {
      label: "the stand-in upstream",
      readUrl: (stdout) => /listening on (http:\/\/\S+)/.exec(stdout)?.[1],
    })
  : await startServe(["--model", storiesModelPath, "--threads", "1", "--log-level", "warn"], {
      env: { MOESTRO_HOME: path.join(home, "upstream") },
    });
const gatewayArgs = ["--upstream", `bench=${upstream.url}/v1`, "--log-level", "warn"];

/**
 * Starts a gateway from the checkout at `checkout` (its built CLI), profiled with `--cpu-prof` when asked.
 * @param {string} checkout
 * @param {string} name its MOESTRO_HOME's folder
 * @param {boolean} profiled
 */
async function startGateway(checkout, name, profiled) {
  // --cpu-prof is refused in NODE_OPTIONS: the profiled gateway is started with it on node's command line. The
  // profile is written when the process exits (SIGTERM at the end).
  // BENCH_PROFILE_INTERVAL_US samples more often than node's 1000 µs, for a profile of a short run.
  const interval = process.env.BENCH_PROFILE_INTERVAL_US;
  const profile = profiled
    ? ["--cpu-prof", "--cpu-prof-dir=gateway-cpu-prof", ...(interval === undefined ? [] : [`--cpu-prof-interval=${interval}`])]
    : [];
  return await startProcess(
    process.execPath,
    [...profile, path.join(checkout, "bin/moestro.js"), "serve", ...gatewayArgs, "--port", "0", "--json"],
    {
      env: { MOESTRO_HOME: path.join(home, name) },
      label: `moestro serve (${checkout})`,
      readUrl: (stdout) => {
        const line = stdout
          .split("\n")
          .slice(0, -1)
          .find((candidate) => candidate.includes('"listening"'));
        return line === undefined ? undefined : JSON.parse(line).url;
      },
    },
  );
}

/** @type {Record<string, Awaited<ReturnType<typeof startServe>>>} */
const gateways = { this: await startGateway(root, "gateway", process.env.BENCH_PROFILE === "1") };
if (baseline !== undefined) gateways.baseline = await startGateway(path.resolve(baseline), "baseline", false);
// The floor of a Node gateway (docs/gateway.md, "The floor of a Node gateway here"): its CPU per request beside ours.
if (process.env.BENCH_FLOOR === "1") {
  gateways.floor = await startProcess(process.execPath, [path.join(root, "scripts/gateway-floor-proxy.mjs"), upstream.url], {
    label: "the bare node:http proxy",
    readUrl: (stdout) => /listening on (http:\/\/\S+)/.exec(stdout)?.[1],
  });
}

/** @param {string} url */
async function call(url) {
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
}

try {
  // Interleaved, so that no side sits idle (V8 may then flush code it will compile again) while another warms up.
  for (let index = 0; index < warmup; index++) for (const gateway of Object.values(gateways)) await call(gateway.url);
  const upstreamPid = /** @type {number} */ (upstream.child.pid);
  /** @type {Record<string, { user: number, system: number, upstream: number, wallMs: number }>} */
  const totals = {};
  for (const side of Object.keys(gateways)) totals[side] = { user: 0, system: 0, upstream: 0, wallMs: 0 };
  const perRound = Math.ceil(requests / rounds);
  for (let round = 0; round < rounds; round++) {
    const sides = Object.keys(gateways);
    // ABBA: each side goes first half of the time.
    if (round % 4 === 1 || round % 4 === 2) sides.reverse();
    for (const side of sides) {
      const pid = /** @type {number} */ (gateways[side].child.pid);
      const before = { gateway: cpuMs(pid), upstream: cpuMs(upstreamPid), at: performance.now() };
      let left = perRound;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await call(gateways[side].url);
        }),
      );
      const after = { gateway: cpuMs(pid), upstream: cpuMs(upstreamPid) };
      totals[side].user += after.gateway.user - before.gateway.user;
      totals[side].system += after.gateway.system - before.gateway.system;
      totals[side].upstream += after.upstream.user + after.upstream.system - before.upstream.user - before.upstream.system;
      totals[side].wallMs += performance.now() - before.at;
    }
  }
  const count = perRound * rounds;
  /** @param {number} value */
  const perRequest = (value) => Number((value / count).toFixed(3));
  /** @type {Record<string, unknown>} */
  const result = { requests: count, stream, maxTokens, concurrency, upstream: standIn ? "stand-in" : "stories260K" };
  for (const [side, total] of Object.entries(totals)) {
    result[side] = {
      gatewayCpuMsPerRequest: perRequest(total.user + total.system),
      gatewayUserMsPerRequest: perRequest(total.user),
      gatewaySystemMsPerRequest: perRequest(total.system),
      upstreamCpuMsPerRequest: perRequest(total.upstream),
      wallMsPerRequest: perRequest(total.wallMs),
    };
  }
  if (baseline !== undefined) {
    const ratio = (/** @type {number} */ a, /** @type {number} */ b) => Number((a / b).toFixed(3));
    result.ratios = {
      gatewayCpu: ratio(totals.this.user + totals.this.system, totals.baseline.user + totals.baseline.system),
      upstreamCpu: ratio(totals.this.upstream, totals.baseline.upstream),
      wall: ratio(totals.this.wallMs, totals.baseline.wallMs),
    };
  }
  result.loadAverage = os.loadavg()[0];
  console.log(JSON.stringify(result));
} finally {
  for (const gateway of Object.values(gateways)) await gateway.stop();
  await upstream.stop();
}
