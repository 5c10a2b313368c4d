import type { GenerateRequest } from "../../src/spec/index.js";
import type { TokenSourceFactory } from "../../src/engines/inproc/token-source.js";

/** What a scripted model writes for a request: its whole output (thoughts, tool-call markup and all), or `undefined` to sample. */
export type Script = (request: GenerateRequest) => string | undefined;

/**
 * A token source factory that plays a script instead of sampling: the text is tokenized with special tokens (so
 * `<think>` and `<tool_call>` are the model's marker tokens) and goes through the engine's real output parser
 * (thoughts, tool calls, stop sequences, counting). Nothing is injected into it: the script is the whole output.
 */
export function scriptedTokens(script: Script): TokenSourceFactory {
  return (request, model) => {
    const text = script(request);
    if (text === undefined) return undefined;
    const tokens = model.tokenize(text, true);
    let next = 0;
    return {
      takesInjections: false,
      async *tokens() {
        while (next < tokens.length) yield { token: tokens[next++]! };
      },
    };
  };
}
