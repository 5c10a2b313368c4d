// @ts-check
// The floor of any Node.js HTTP server on node-llama-cpp, for `npm run bench:serve`: a bare node:http server around
// the benchmark's raw loop (one context, a free sequence per request, greedy decoding), speaking just enough of
// /v1/completions (prompt, max_tokens, stream) for the benchmark's client. No validation, routing, metering or logging:
// what it adds over the raw loop in-process is the cost of HTTP, JSON and a second process on this machine.
// With ENGINE `addon` the loop is scripts/addon-loop.mjs instead: node-llama-cpp's native addon driven directly, all
// active sequences in one batch per step (issue 19, section 1 spike), to compare both floors over the same HTTP.
// usage: node scripts/bench-serve-floor.mjs MODEL_PATH THREADS SEQUENCES CONTEXT_TOKENS BATCH [ENGINE=evaluate|addon]
//        (prints "listening on URL")
import http from "node:http";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { createAddonLoop } from "./addon-loop.mjs";

const [modelPath, threads, sequences, contextTokens, batchSize, engine = "evaluate"] = process.argv.slice(2);
if (engine !== "evaluate" && engine !== "addon") throw new Error(`unknown ENGINE '${engine}' (evaluate, addon)`);
const llama = await getLlama({ gpu: false, build: "never", maxThreads: Number(threads), logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({
  contextSize: Number(contextTokens),
  sequences: Number(sequences),
  threads: Number(threads),
  batchSize: Number(batchSize),
});
const addonLoop =
  engine === "addon" ? createAddonLoop(model, context, { sequences: Number(sequences), batchSize: Number(batchSize) }) : undefined;
const free = addonLoop ? [] : Array.from({ length: Number(sequences) }, () => context.getSequence());
const bos = model.tokens.bos;

const server = http.createServer(async (request, response) => {
  if (request.url === "/health") return response.end("ok");
  let body = "";
  for await (const chunk of request) body += chunk;
  const { prompt, max_tokens: maxTokens, stream } = JSON.parse(body);
  if (addonLoop) {
    const input = model.tokenize(prompt, true);
    if (model.tokens.shouldPrependBosToken && bos !== null) input.unshift(bos);
    if (stream) response.writeHead(200, { "content-type": "text/event-stream" });
    const out = await addonLoop.generate(input, maxTokens, (token) => {
      if (stream) response.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: model.detokenize([token]) }] })}\n\n`);
    });
    const usage = { completion_tokens: out.length };
    if (stream) return response.end(`data: ${JSON.stringify({ choices: [], usage })}\n\ndata: [DONE]\n\n`);
    response.writeHead(200, { "content-type": "application/json" });
    return response.end(JSON.stringify({ choices: [{ index: 0, text: model.detokenize(out) }], usage }));
  }
  // The benchmark's client sends at most SEQUENCES requests at once, so a sequence is always free.
  const sequence = /** @type {import("node-llama-cpp").LlamaContextSequence} */ (free.pop());
  try {
    await sequence.clearHistory();
    const input = model.tokenize(prompt, true);
    if (model.tokens.shouldPrependBosToken && bos !== null) input.unshift(bos);
    if (stream) response.writeHead(200, { "content-type": "text/event-stream" });
    let text = "";
    let tokens = 0;
    for await (const token of sequence.evaluate(input, { temperature: 0 })) {
      if (model.isEogToken(token)) break;
      const piece = model.detokenize([token]);
      if (stream) response.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: piece }] })}\n\n`);
      else text += piece;
      if (++tokens >= maxTokens) break;
    }
    const usage = { completion_tokens: tokens };
    if (stream) response.end(`data: ${JSON.stringify({ choices: [], usage })}\n\ndata: [DONE]\n\n`);
    else {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ choices: [{ index: 0, text }], usage }));
    }
  } finally {
    free.push(sequence);
  }
});
process.on("SIGTERM", () => process.exit(0));
server.listen(0, "127.0.0.1", () =>
  console.log(`listening on http://127.0.0.1:${/** @type {import("node:net").AddressInfo} */ (server.address()).port}`),
);
