// @ts-check
// A stand-in for src/engines/inproc/tokenizer-process.js in model-free tests of PromptTokenizer: it speaks the same
// messages, and its first argument (the model path of the real one) says how it behaves:
// - "echo": ready at once; answers a prompt of N characters with N tokens (ids 0..N-1), or with `atLeastTokens` when
//   N is over maxTokens;
// - "hold": ready at once; answers a prompt of N characters over maxTokens with `atLeastTokens` at once (so that a
//   test can tell the process is ready), and any other nothing until cancelled (then `cancelled`), to test queueing
//   and aborts;
// - "block": like "hold", but a prompt that may fit blocks the process (as a long call into llama.cpp's tokenizer
//   does): it answers nothing more, not even a cancel;
// - "crash": ready at once; exits with code 3 on its first prompt;
// - "crash-once:FILE", "block-once:FILE": like "crash" or "block" when FILE does not exist (it creates it), else like
//   "echo";
// - "fail": reports that it could not load the model, and exits.
import { existsSync, writeFileSync } from "node:fs";

let mode = process.argv[2] ?? "";
const once = /^(crash|block)-once:(.*)$/.exec(mode);
if (once !== null) {
  const marker = once[2] ?? "";
  mode = existsSync(marker) ? "echo" : (once[1] ?? "");
  if (mode !== "echo") writeFileSync(marker, "");
}
const send = (/** @type {unknown} */ message) => process.send?.(message);
process.on("disconnect", () => process.exit(0));

if (mode === "fail") {
  process.send?.({ type: "failed", message: "no such model" }, () => process.exit(1));
} else {
  process.on("message", (/** @type {{type: string, id: number, prompt: {text?: string}, maxTokens: number}} */ request) => {
    const length = request.prompt?.text?.length ?? 0;
    if (request.type === "cancel") send({ type: "done", id: request.id, cancelled: true });
    else if (mode === "crash") process.exit(3);
    else if (length > request.maxTokens) send({ type: "done", id: request.id, atLeastTokens: length });
    else if (mode === "echo") send({ type: "done", id: request.id, tokens: Uint32Array.from({ length }, (_, index) => index) });
    // Blocks the event loop without spinning a core.
    else if (mode === "block") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });
  send({ type: "ready" });
}
