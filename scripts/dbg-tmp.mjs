import { pino } from "pino";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { createLlamaServerBackend } from "/work/main/dist/engines/llama-server/llama-server-backend.js";
const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
const backend = await createLlamaServerBackend({ llama, modelPath: "/work/shared/models/tiny-qwen3moe.gguf", threads: 1, batchSize: 64, contextTokens: 1024,
  binary: { path: "/tmp/lcpp/src/build/bin/llama-server", version: "t" }, placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 }, logger: pino({ level: process.env.LOG ?? "warn" }) });
const tools = { definitions: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }], choice: { type: process.env.CHOICE ?? "none" }, parallel: true };
for (let i = 0; i < 3; i++) {
  const stream = await backend.generate({ input: { kind: "chat", messages: [{ role: "user", text: "weather in Paris?" }] }, sampling: { temperature: 1 }, stop: [], maxTokens: 40, tools, thinking: { enabled: process.env.THINK === "1" } });
  const parts = [];
  try { for await (const part of stream) parts.push(part); } catch (e) { console.log("ERR", e.message); }
  console.log(JSON.stringify(parts).slice(0, 600));
}
await backend.dispose();
