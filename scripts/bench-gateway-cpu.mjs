// @ts-check
// The gateway's CPU cost per request (docs/gateway.md, "Overhead"): CPU time (user + system, from /proc/PID/stat) that
// one `moestro serve --upstream` process spends per request in front of a `moestro serve` of stories260K, next to the
// upstream's own CPU per request, on the same requests. CPU time barely moves with the machine's load, unlike
// latency, so this is the figure to compare before and after a change on a busy machine. Linux only (/proc).
// usage: node scripts/bench-gateway-cpu.mjs   (env: BENCH_REQUESTS (default 300), BENCH_STREAM=1 for streamed requests,
//        BENCH_PROFILE=1 to write the gateway's --cpu-prof into ./gateway-cpu-prof/)
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { root, startProcess, startServe, storiesModelPath } from "./bench-common.mjs";

const requests = Number(process.env.BENCH_REQUESTS ?? 300);
const stream = process.env.BENCH_STREAM === "1";
const home = mkdtempSync(path.join(os.tmpdir(), "moestro-bench-gateway-cpu-"));
const ticksPerSecond = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)); /proc/PID/stat counts utime and stime in it.

/** @param {number} pid @returns {number} CPU ms (user + system) of the process so far. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

const upstream = await startServe(["--model", storiesModelPath, "--threads", "1", "--log-level", "warn"], {
  env: { MOESTRO_HOME: path.join(home, "upstream") },
});
const gatewayArgs = ["--upstream", `bench=${upstream.url}/v1`, "--log-level", "warn"];
const gatewayEnv = { MOESTRO_HOME: path.join(home, "gateway") };
// --cpu-prof is refused in NODE_OPTIONS: the profiled gateway is started with it on node's command line. The profile is
// written when the process exits (SIGTERM at the end).
const gateway =
  process.env.BENCH_PROFILE === "1"
    ? await startProcess(
        process.execPath,
        [
          "--cpu-prof",
          "--cpu-prof-dir=gateway-cpu-prof",
          path.join(root, "bin/moestro.js"),
          "serve",
          ...gatewayArgs,
          "--port",
          "0",
          "--json",
        ],
        {
          env: gatewayEnv,
          label: "moestro serve (profiled)",
          readUrl: (stdout) => {
            const line = stdout
              .split("\n")
              .slice(0, -1)
              .find((candidate) => candidate.includes('"listening"'));
            return line === undefined ? undefined : JSON.parse(line).url;
          },
        },
      )
    : await startServe(gatewayArgs, { env: gatewayEnv });

/** @param {string} url */
async function call(url) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "stories260K",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 8,
      temperature: 0,
      stream,
    }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${text}`);
}

try {
  for (let index = 0; index < 30; index++) await call(gateway.url);
  const pids = { gateway: /** @type {number} */ (gateway.child.pid), upstream: /** @type {number} */ (upstream.child.pid) };
  const before = { gateway: cpuMs(pids.gateway), upstream: cpuMs(pids.upstream) };
  const startedAt = performance.now();
  for (let index = 0; index < requests; index++) await call(gateway.url);
  const wallMs = performance.now() - startedAt;
  const perRequest = {
    gateway: (cpuMs(pids.gateway) - before.gateway) / requests,
    upstream: (cpuMs(pids.upstream) - before.upstream) / requests,
  };
  console.log(
    JSON.stringify({
      requests,
      stream,
      gatewayCpuMsPerRequest: Number(perRequest.gateway.toFixed(3)),
      upstreamCpuMsPerRequest: Number(perRequest.upstream.toFixed(3)),
      wallMsPerRequest: Number((wallMs / requests).toFixed(3)),
      loadAverage: os.loadavg()[0],
    }),
  );
} finally {
  await gateway.stop();
  await upstream.stop();
}
