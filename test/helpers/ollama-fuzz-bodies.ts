import fc from "fast-check";

/** The fuzz test's building blocks that Ollama's bodies reuse (test/e2e/fuzz.test.ts). */
export interface FuzzParts {
  servedModel: fc.Arbitrary<string>;
  smallTokens: fc.Arbitrary<number>;
  schemaArbitrary: fc.Arbitrary<unknown>;
  tool: fc.Arbitrary<object>;
  withFeatures: (base: fc.Arbitrary<object>, features: Array<fc.Arbitrary<object>>, maxFeatures: number) => fc.Arbitrary<object>;
}

/** Valid bodies of Ollama's /api/chat, /api/generate and /api/embed (docs/ollama.md), for the fuzz test to mutate. */
export function ollamaFuzzBodies({ servedModel, smallTokens, schemaArbitrary, tool, withFeatures }: FuzzParts) {
  /** Ollama's `options`, `think`, `format` and `keep_alive` (docs/ollama.md), shared by /api/chat and /api/generate. */
  const ollamaFeatures = [
    fc.record({
      options: fc.record(
        {
          num_predict: smallTokens,
          temperature: fc.constantFrom(0, 0.7),
          top_k: fc.constantFrom(0, 5),
          seed: fc.integer({ min: 0, max: 1000 }),
          stop: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
          num_ctx: fc.constantFrom(256, 100_000),
          repeat_penalty: fc.constantFrom(1, 1.1),
        },
        { requiredKeys: ["num_predict"] },
      ),
    }),
    fc.record({ stream: fc.boolean() }),
    fc.record({ think: fc.constantFrom(true, false, "low", "max") }),
    fc.record({ format: fc.oneof(fc.constant("json"), schemaArbitrary) }),
    fc.record({ keep_alive: fc.constantFrom(-1, "5m", "-1", 600, "0") }),
  ];
  const ollamaChatBody = withFeatures(
    fc.record({
      model: fc.oneof(servedModel, fc.constantFrom("tiny-qwen3moe:latest")),
      messages: fc.array(
        fc.oneof(
          {
            weight: 6,
            arbitrary: fc.record({ role: fc.constantFrom("user", "system", "assistant"), content: fc.string({ maxLength: 40 }) }),
          },
          fc.record({ role: fc.constant("tool"), tool_name: fc.constantFrom("f", ""), content: fc.string({ maxLength: 20 }) }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      options: fc.record({ num_predict: smallTokens }),
    }),
    [...ollamaFeatures, fc.record({ tools: fc.array(tool, { minLength: 1, maxLength: 2 }) })],
    3,
  );
  const ollamaGenerateBody = withFeatures(
    fc.record({ model: servedModel, prompt: fc.string({ maxLength: 40 }), options: fc.record({ num_predict: smallTokens }) }),
    [...ollamaFeatures, fc.record({ raw: fc.boolean(), system: fc.string({ maxLength: 10 }) }, { requiredKeys: [] })],
    3,
  );
  const ollamaEmbedBody = fc.record(
    { model: servedModel, input: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })) },
    { requiredKeys: ["model", "input"] },
  );
  return { ollamaChatBody, ollamaGenerateBody, ollamaEmbedBody };
}
