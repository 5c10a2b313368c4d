import { z } from "zod";
import { requestListLimits } from "../openai/schemas.js";

/**
 * Zod schemas of the Responses API request that moestro accepts (OpenAI API reference: Responses, "Create a model
 * response"). As in the Chat Completions schemas: strict about values (a wrong type or range is a 400 naming the
 * field), lenient about presence (unknown fields are dropped, not refused: agents such as Codex CLI send more than
 * moestro uses). Items and tools are checked loosely here and item by item in `convert-request.ts`, so that an error
 * names the item (`input[3].content[0]`) and says what moestro can serve.
 */

/** `reasoning.effort` values (Responses reference, `reasoning.effort`; `xhigh` is the newest). */
export const reasoningEfforts = ["none", "minimal", "low", "medium", "high", "xhigh"] as const;

/** One item of `input` (a message, `function_call`, `function_call_output`, `reasoning`, `item_reference`, …). */
export const inputItemSchema = z
  .object({
    type: z.string().optional(),
    role: z.string().optional(),
    content: z.unknown().optional(),
    id: z.string().nullish(),
  })
  .passthrough();

/** A tool of `tools`: a function (flat: name, description, parameters, strict) or a tool kind moestro cannot serve. */
export const toolSchema = z
  .object({
    type: z.string({ required_error: "every tool needs a type" }),
    name: z.string().optional(),
    description: z.string().nullish(),
    parameters: z.record(z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  })
  .passthrough();

/** `tool_choice`: a mode, or an object naming a function (or a hosted tool kind, refused later). */
export const toolChoiceSchema = z.union(
  [z.enum(["auto", "none", "required"]), z.object({ type: z.string(), name: z.string().optional() }).passthrough()],
  {
    // zod's own message for a union is a bare "Invalid input".
    errorMap: (issue, context) => ({
      message:
        issue.code === "invalid_union"
          ? `expected 'auto', 'none', 'required', or an object such as {"type": "function", "name": …}`
          : context.defaultError,
    }),
  },
);

/** `text.format`. */
export const textFormatSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }).passthrough(),
    z.object({ type: z.literal("json_object") }).passthrough(),
    z
      .object({
        type: z.literal("json_schema"),
        name: z.string().min(1),
        schema: z.record(z.unknown()),
        strict: z.boolean().nullish(),
        description: z.string().nullish(),
      })
      .passthrough(),
  ],
  {
    errorMap: (issue, context) => ({
      message: issue.code === "invalid_union_discriminator" ? "expected type 'text', 'json_object' or 'json_schema'" : context.defaultError,
    }),
  },
);

/** The body of `POST /v1/responses`. */
export const responseRequestSchema = z.object({
  model: z.string({ required_error: "you must provide a model parameter" }).min(1),
  input: z
    .union([z.string(), z.array(inputItemSchema).max(requestListLimits.messages)], {
      errorMap: () => ({ message: "expected a string or an array of input items" }),
    })
    .optional(),
  instructions: z.string().nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  conversation: z.unknown().optional(),
  /** A prompt template stored at OpenAI (`{id, version, variables}`): refused, moestro has none. */
  prompt: z.unknown().optional(),
  max_output_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  /** Not in the Responses API; accepted as in chat completions (llama.cpp and vLLM take them too). */
  top_k: z.number().int().min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  reasoning: z
    .object({
      effort: z.string().nullish(),
      summary: z.string().nullish(),
      generate_summary: z.string().nullish(),
    })
    .passthrough()
    .nullish(),
  /** The Chat Completions spelling, accepted here too (case D22). */
  reasoning_effort: z.string().nullish(),
  tools: z.array(toolSchema).max(requestListLimits.tools).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_tool_calls: z.number().int().min(1).nullish(),
  text: z
    .object({
      format: textFormatSchema.nullish(),
      verbosity: z.string().nullish(),
    })
    .passthrough()
    .nullish(),
  metadata: z.record(z.string()).nullish(),
  user: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  include: z.array(z.string()).nullish(),
  truncation: z.enum(["auto", "disabled"]).nullish(),
  service_tier: z.string().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});

/** A parsed `POST /v1/responses` body. */
export type ResponseRequest = z.infer<typeof responseRequestSchema>;
/** A parsed input item (checked further by the converter). */
export type InputItem = z.infer<typeof inputItemSchema>;
/** A parsed tool. */
export type ResponseTool = z.infer<typeof toolSchema>;
