import { describe, expect, it } from "vitest";
import { chunkEnvelope } from "./chunk-envelope.js";

describe("chunkEnvelope", () => {
  it("renders a chunk as its JSON.stringify, byte for byte, whatever its envelope's and choice's text", () => {
    for (const usage of [undefined, null]) {
      const chunk = (choices: unknown[]) => ({
        id: 'chatcmpl-"choices":[]',
        object: "chat.completion.chunk",
        created: 1765000000,
        model: 'm"],"choices":[',
        system_fingerprint: "moestro",
        choices,
        ...(usage === undefined ? {} : { usage }),
      });
      const { prefix, suffix } = chunkEnvelope(chunk([]));
      for (const text of ['say "hi"', "back\\slash", "é 무엇을 \u2028 😀", "\u0000\n"]) {
        const choice = { index: 1, delta: { content: text }, logprobs: null, finish_reason: null };
        expect(`${prefix}{"index":1,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}${suffix}`).toBe(
          JSON.stringify(chunk([choice])),
        );
      }
    }
  });

  it("refuses a chunk whose choices are not empty", () => {
    expect(() => chunkEnvelope({ choices: [{}] })).toThrow(/empty choices/);
  });
});
