import fc from "fast-check";
import type { FuzzParts } from "./ollama-fuzz-bodies.js";

/**
 * Valid bodies of Anthropic's `POST /v1/messages` (docs/anthropic.md) and OpenAI's `POST /v1/responses`
 * (docs/responses.md), for the fuzz test (test/e2e/fuzz.test.ts) to send as they are and mutated.
 */
export function dialectFuzzBodies({ servedModel, smallTokens, schemaArbitrary, withFeatures }: FuzzParts) {
  const anthropicTool = fc.record({
    name: fc.constantFrom("get_weather", "f", "bad name!"),
    description: fc.string({ maxLength: 10 }),
    input_schema: schemaArbitrary,
  });
  const anthropicBlock = fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant("text"), text: fc.string({ maxLength: 30 }) }) },
    fc.record({ type: fc.constant("tool_result"), tool_use_id: fc.constantFrom("toolu_1", ""), content: fc.string({ maxLength: 10 }) }),
    fc.record({ type: fc.constant("thinking"), thinking: fc.string({ maxLength: 10 }), signature: fc.string({ maxLength: 10 }) }),
  );
  const anthropicMessage = fc.record({
    role: fc.constantFrom("user", "user", "assistant", "system"),
    content: fc.oneof(fc.string({ maxLength: 40 }), fc.array(anthropicBlock, { minLength: 1, maxLength: 2 })),
  });
  const anthropicMessagesBody = withFeatures(
    fc.record({ model: servedModel, max_tokens: smallTokens, messages: fc.array(anthropicMessage, { minLength: 1, maxLength: 3 }) }),
    [
      fc.record({ stream: fc.boolean() }),
      fc.record({ system: fc.oneof(fc.string({ maxLength: 20 }), fc.constant([{ type: "text", text: "Be terse." }])) }),
      fc.record({ stop_sequences: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }) }),
      fc.record({ temperature: fc.constantFrom(0, 0.7, 1), top_p: fc.constantFrom(0.5, 1), top_k: fc.constantFrom(0, 5) }),
      fc.record({
        thinking: fc.oneof(
          fc.constant({ type: "disabled" }),
          fc.record({ type: fc.constant("enabled"), budget_tokens: fc.constantFrom(0, 1024, 4096) }),
        ),
      }),
      fc.record(
        {
          tools: fc.array(anthropicTool, { minLength: 1, maxLength: 2 }),
          tool_choice: fc.oneof(
            fc.constantFrom({ type: "auto" }, { type: "any" }, { type: "none" }),
            fc.record({ type: fc.constant("tool"), name: fc.constantFrom("f", "get_weather", "nope") }),
          ),
        },
        { requiredKeys: ["tools"] },
      ),
    ],
    3,
  );

  const responsesInputItem = fc.oneof(
    { weight: 4, arbitrary: fc.record({ role: fc.constantFrom("user", "developer", "assistant"), content: fc.string({ maxLength: 30 }) }) },
    fc.record({
      type: fc.constant("function_call"),
      call_id: fc.constantFrom("call_1", ""),
      name: fc.constant("f"),
      arguments: fc.constantFrom("{}", "{"),
    }),
    fc.record({ type: fc.constant("function_call_output"), call_id: fc.constantFrom("call_1", "x"), output: fc.string({ maxLength: 10 }) }),
  );
  const responsesBody = withFeatures(
    fc.record({
      model: servedModel,
      input: fc.oneof(fc.string({ maxLength: 40 }), fc.array(responsesInputItem, { minLength: 1, maxLength: 3 })),
      max_output_tokens: smallTokens,
    }),
    [
      fc.record({ stream: fc.boolean() }),
      fc.record({ instructions: fc.string({ maxLength: 20 }) }),
      fc.record({ store: fc.boolean() }),
      fc.record({ reasoning: fc.record({ effort: fc.constantFrom("none", "minimal", "low", "high", "bogus") }) }),
      fc.record({
        text: fc.record({
          format: fc.oneof(
            fc.constant({ type: "json_object" }),
            fc.record({ type: fc.constant("json_schema"), name: fc.constant("x"), schema: schemaArbitrary }),
          ),
        }),
      }),
      fc.record({ previous_response_id: fc.constantFrom("resp_nope", "") }),
      fc.record(
        {
          tools: fc.array(
            fc.oneof(
              fc.record({ type: fc.constant("function"), name: fc.constantFrom("f", "get_weather"), parameters: schemaArbitrary }),
              fc.constant({ type: "web_search" }),
            ),
            { minLength: 1, maxLength: 2 },
          ),
          tool_choice: fc.oneof(fc.constantFrom("auto", "none", "required"), fc.constant({ type: "function", name: "f" })),
        },
        { requiredKeys: ["tools"] },
      ),
    ],
    3,
  );
  return { anthropicMessagesBody, responsesBody };
}
