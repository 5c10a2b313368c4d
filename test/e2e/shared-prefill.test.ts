import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// A system prompt of about 330 stories260K tokens: its prefill takes long enough on one thread that four requests sent
// together all reach their slots while the first one evaluates it.
const system =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball. One day, she saw a big dog near the tree. The dog was sad because he lost his bone. Lily wanted to help him, so she looked under the bench and behind the slide. " +
  "Tom and Sue went to the beach with their mom. They wanted to build a big castle out of sand. Tom got a bucket and Sue got a spade. They worked very hard all morning. Then a big wave came and the castle fell down. Sue started to cry, but Tom had an idea. " +
  "There was a small bird who lived in a tall tree. Every morning the bird sang a happy song for the animals of the forest.";
const questions = ["Where is the dog?", "What did Tom do?", "Why was the bird sad?", "Who helped the bird?"];

describe.skipIf(!hasTestModels)("a system prompt shared by parallel requests, through the API (in-process engine)", () => {
  let test: TestServer;
  beforeAll(async () => {
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      engine: { parallel: 4, contextTokens: 512, batchSize: 64, cacheRamBytes: 64 * 2 ** 20 },
    });
  });
  afterAll(async () => {
    await test?.close();
  });

  it("is evaluated once: three of four requests sent together report it in cached_tokens, as the ledger does", async () => {
    const results = await Promise.all(
      questions.map(async (question) => {
        const completion = await test.client.chat.completions.create({
          model: "stories260K",
          messages: [
            { role: "system", content: system },
            { role: "user", content: question },
          ],
          max_tokens: 8,
          temperature: 0,
        });
        return {
          id: completion.id,
          cached: completion.usage!.prompt_tokens_details?.cached_tokens ?? 0,
          prompt: completion.usage!.prompt_tokens,
        };
      }),
    );
    const followers = results.filter((result) => result.cached > 0);
    expect(followers).toHaveLength(3);
    // The template's preamble and the system prompt: all of the prompt but the user turn (fewer than 40 tokens here).
    for (const follower of followers) expect(follower.cached).toBeGreaterThan(follower.prompt - 40);
    await expect
      .poll(async () => {
        const events = (await (await fetch(`${test.url}/v1/moestro/usage/events`)).json()) as {
          data: Array<{ cached_prompt_tokens: number }>;
        };
        return events.data.map((event) => event.cached_prompt_tokens).sort((a, b) => a - b);
      })
      .toEqual(results.map((result) => result.cached).sort((a, b) => a - b));
  });
});
