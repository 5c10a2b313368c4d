import { pino } from "pino";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { createLlamaServerBackend } from "../dist/engines/llama-server/llama-server-backend.js";
import { UpstreamClient } from "../dist/engines/http/upstream-client.js";
const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
const backend = await createLlamaServerBackend({ llama, modelPath: "/work/shared/models/stories260K.gguf", threads: 1, batchSize: 64, parallel: 4, contextTokens: 512,
  binary: { path: "/root/.cache/moestro-ci/engines/llama-server-80fb11ac73e6-cpu/llama-server", version: "t" }, placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 }, logger: pino({ level: "warn" }) });
const model = await llama.loadModel({ modelPath: "/work/shared/models/stories260K.gguf", vocabOnly: true });
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const args = backend.engine().worker.args; const port = args[args.indexOf("--port") + 1];
// the key is hidden: read it from /proc
const { readFileSync } = await import("node:fs");
const pid = backend.engine().worker.pid;
const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"); const key = cmd[cmd.indexOf("--api-key") + 1];
const client = new UpstreamClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: key });
for (let round = 0; round < 3; round++) {
  for (const mode of ["raw", "backend"]) {
    const ttft = [], total = [];
    for (let i = 0; i < 40; i++) {
      const prompt = `Story ${i + round * 100}${mode}. Once upon a time, in a small town, there lived a child named Tom who`;
      const t0 = performance.now(); let first; let n = 0;
      if (mode === "raw") {
        const tokens = model.tokenize(prompt, false);
        for await (const chunk of client.streamJson("/completion", { prompt: [1, ...tokens], stream: true, n_predict: 32, temperature: 0, top_k: 40, top_p: 1, min_p: 0, cache_prompt: true, id_slot: i % 4 })) {
          if ((chunk.tokens ?? []).length > 0) { n++; if (first === undefined) first = performance.now() - t0; }
          if (n >= 32) break;
        }
      } else {
        const stream = await backend.generate({ input: { kind: "completion", prompt }, sampling: { temperature: 0 }, stop: [], maxTokens: 32 });
        for await (const part of stream) { if (first === undefined && part.type === "text-delta") first = performance.now() - t0; }
      }
      ttft.push(first); total.push(performance.now() - t0);
    }
    console.log(mode, "TTFT p50", med(ttft).toFixed(2), "total p50", med(total).toFixed(2));
  }
}
await backend.dispose();
