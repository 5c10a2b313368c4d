import { spawn } from "node:child_process";
import { UpstreamClient } from "../dist/engines/http/upstream-client.js";
const port = 18991;
const child = spawn("/root/.cache/moestro-ci/engines/llama-server-80fb11ac73e6-cpu/llama-server", ["-m", "/work/shared/models/stories260K.gguf", "-c", "2048", "-np", "4", "-t", "1", "-ngl", "0", "-fa", "on", "-b", "64", "--cache-ram", "0", "--no-webui", "--port", String(port)], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 1500));
const client = new UpstreamClient({ baseUrl: `http://127.0.0.1:${port}` });
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const extra of [{}, { noBreak: true }, { noBreak: true, tokensPrompt: true }, {}, { noBreak: true }]) {
  const ttft = [], total = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now(); let first; let n = 0;
    for await (const chunk of client.streamJson("/completion", { prompt: extra.tokensPrompt ? [1, 7, 8, 9, 10, 11, 12, 13, 14 + i] : `Story ${i}. Once upon a time, in a small town, there lived a child named Tom who`, stream: true, n_predict: 32, temperature: 0, cache_prompt: true })) {
      if ((chunk.tokens ?? []).length > 0) { n++; if (first === undefined) first = performance.now() - t0; }
      if (n >= 32 && !extra.noBreak) break;
    }
    ttft.push(first); total.push(performance.now() - t0);
  }
  console.log(JSON.stringify(extra), "TTFT p50", med(ttft).toFixed(2), "total p50", med(total).toFixed(2));
}
child.kill();
