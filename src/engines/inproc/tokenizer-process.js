// @ts-check
// The tokenizer process of one model (prompt-tokenizer.ts starts it): a vocabulary-only copy of the model that tokenizes
// long prompts away from the server's event loop. JavaScript with checked JSDoc types, so that plain Node.js runs it from
// dist/ and from src/ alike. A child process, not a worker thread: node-llama-cpp's addon keeps its logger, log level and
// backend state per process, so a second `getLlama` in a worker thread takes over the server's llama.cpp logs, and its
// exit frees the backend (docs/engine.md, "Long prompts").
// usage: fork(this file, [MODEL_PATH, LONGEST_TOKEN_BYTES, SLICE_CHARS, SLACK_TOKENS_PER_SLICE], {serialization: "advanced"})
import { getLlama, LlamaLogLevel, LlamaText } from "node-llama-cpp";
import { countPromptTokens, promptSegments, tokenizePrompt } from "./tokenize-prompt.js";

/**
 * @typedef {import("./tokenize-prompt.js").PromptText} PromptText
 * @typedef {{kind: "text", text: string, specialTokens: boolean, addBos: boolean} | {kind: "template", json: import("node-llama-cpp").LlamaTextJSON}} WirePrompt
 * @typedef {{type: "tokenize", id: number, prompt: WirePrompt, maxTokens: number} | {type: "cancel", id: number}} Request
 */

const send = (/** @type {unknown} */ message) => process.send?.(message);
const [modelPath, longestArgument, sliceArgument, slackArgument] = process.argv.slice(2);
const longestTokenBytes = longestArgument === "none" ? undefined : Number(longestArgument);
const sliceChars = Number(sliceArgument);
const slackTokensPerSlice = Number(slackArgument);

// The server is gone (its IPC channel closed): nothing is left to answer.
process.on("disconnect", () => process.exit(0));

/** @type {import("node-llama-cpp").LlamaModel} */
let model;
try {
  const llama = await getLlama({
    gpu: false,
    build: "never",
    maxThreads: 1,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (text.length > 0) send({ type: "log", level, message: text });
    },
  });
  model = await llama.loadModel({ modelPath: String(modelPath), vocabOnly: true });
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  // Exit once the message is out, or at once without a channel.
  if (process.send === undefined) process.exit(1);
  process.send({ type: "failed", message }, () => process.exit(1));
  await new Promise(() => {});
}

/** The id of the job running, if any, and whether it was cancelled: it looks between slices. */
let running = { id: 0, cancelled: false };
/** Lets the cancel messages in, between slices. */
const pause = () => new Promise((resolve) => setImmediate(resolve));

process.on("message", (/** @type {Request} */ request) => {
  // A cancel that crossed its job's answer finds another job running (or none), and is dropped.
  if (request.type === "cancel") running.cancelled ||= request.id === running.id;
  else void run(request);
});
send({ type: "ready" });

/**
 * Counts the prompt's tokens in slices, stopping once it cannot fit; tokenizes it whole when it may.
 *
 * @param {{id: number, prompt: WirePrompt, maxTokens: number}} request
 */
async function run({ id, prompt: wire, maxTokens }) {
  const job = { id, cancelled: false };
  running = job;
  try {
    /** @type {PromptText} */
    const prompt = wire.kind === "template" ? { kind: "template", text: LlamaText.fromJSON(wire.json) } : wire;
    const { segments } = promptSegments(prompt);
    const count = await countPromptTokens({
      segments,
      countTokens: (text, specialTokens) => model.tokenize(text, specialTokens).length,
      maxTokens,
      longestTokenBytes,
      sliceChars,
      slackTokensPerSlice,
      pause: async () => {
        await pause();
        return job.cancelled;
      },
    });
    if (count.fits === "cancelled") send({ type: "done", id, cancelled: true });
    else if (count.fits === "no") send({ type: "done", id, atLeastTokens: count.atLeastTokens });
    else {
      const tokens = Uint32Array.from(tokenizePrompt(model, prompt));
      send({ type: "done", id, tokens });
    }
  } catch (error) {
    send({ type: "done", id, error: error instanceof Error ? error.message : String(error) });
  } finally {
    running = { id: 0, cancelled: false };
  }
}
