import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Two conversations of about 110 stories260K tokens take turns on one slot: each turn of one evicts the other from the
// slot, so a follow-up finds its history only in the prefix cache (--cache-ram; on a worker, llama-server's own).
const first =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball. One day, she saw a big dog near the tree. The dog was sad because he lost his bone. Lily wanted to help him.";
const second =
  "Tom and Sue went to the beach with their mom. They wanted to build a big castle out of sand. Tom got a bucket and Sue got a spade. They worked very hard all morning. Then a big wave came and the castle fell down.";

describe.skipIf(!hasTestModels).each(testEngines)("the prefix cache beyond the slots, through the API (%s engine)", (engine) => {
  let test: TestServer;
  beforeAll(async () => {
    test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }],
        engine: { parallel: 1, contextTokens: 512, batchSize: 64, cacheRamBytes: 64 * 2 ** 20 },
      },
      { engine },
    );
  });
  afterAll(async () => {
    await test?.close();
  });

  const complete = async (prompt: string) => {
    const completion = await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 8, temperature: 0 });
    const usage = completion.usage as { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } };
    return {
      text: completion.choices[0]!.text,
      promptTokens: usage.prompt_tokens,
      cached: usage.prompt_tokens_details?.cached_tokens ?? 0,
    };
  };

  it("a conversation's follow-up after another took its slot reports its restored history as cached tokens, in usage and in the ledger", async () => {
    const a = await complete(first);
    await complete(second);
    const followUp = await complete(`${first}${a.text} The dog was happy.`);
    // The first turn's prompt at least; never the last prompt token, which is evaluated for its logits.
    expect(followUp.cached).toBeGreaterThanOrEqual(a.promptTokens - 1);
    expect(followUp.cached).toBeLessThan(followUp.promptTokens);
    // The ledger records the same cached tokens.
    await expect
      .poll(async () => {
        // Oldest first: the follow-up is the third row.
        const events = (await (await fetch(`${test.url}/v1/moestro/usage/events`)).json()) as {
          data: Array<{ cached_prompt_tokens: number }>;
        };
        return events.data[2]?.cached_prompt_tokens;
      })
      .toBe(followUp.cached);
  });

  it.runIf(engine === "llama-server")("gives the worker the budget as llama-server's own --cache-ram, in MiB", async () => {
    const response = await fetch(`${test.url}/v1/moestro/ps`);
    const [model] = ((await response.json()) as { data: Array<{ worker?: { args: string[] } }> }).data;
    const args = model!.worker!.args;
    expect(args[args.indexOf("--cache-ram") + 1]).toBe("64");
  });
});
