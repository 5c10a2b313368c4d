import { llamaServerSkipReason, testLlamaServer } from "./llama-server.js";

export { testLlamaServer };

/**
 * The engines the engine-parameterised suites (serve and reasoning: completions, chat, thinking, tools, structured
 * output, serving) run on: always in-process; llama-server workers when a binary is found (`testLlamaServer`; CI
 * builds one in `.ci/run`), else those variants skip with the reason printed once.
 */
export const testEngines: ReadonlyArray<"inproc" | "llama-server"> = testLlamaServer ? ["inproc", "llama-server"] : ["inproc"];

if (testLlamaServer === undefined) console.warn(`llama-server worker variants skipped: ${llamaServerSkipReason}`);
