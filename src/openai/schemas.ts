import { z } from "zod";

/**
 * Zod schemas of the OpenAI wire format that moestro accepts (OpenAI API reference: Chat Completions and Completions
 * "create"). Option schemas are strict about values (ranges and types give a 400 naming the field) and lenient about
 * presence: unknown top-level fields, such as other servers' extensions, are dropped, not rejected.
 */

const nullishNumber = (schema: z.ZodNumber) => schema.nullish();

/** A content part of a message. Only `text` (and `refusal` in assistant messages) can be served by a text model. */
export const contentPartSchema = z
  .object({
    type: z.string(),
    text: z.string().optional(),
    refusal: z.string().optional(),
  })
  .passthrough();

/** Message `content`: a string, or an array of parts. */
export const messageContentSchema = z.union([z.string(), z.array(contentPartSchema)]).nullish();

/** One chat message as OpenAI's clients send it. */
export const chatMessageSchema = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant", "tool", "function"], {
      errorMap: () => ({ message: "must be one of 'system', 'developer', 'user', 'assistant' or 'tool'" }),
    }),
    content: messageContentSchema,
    name: z.string().optional(),
    tool_calls: z.array(z.unknown()).nullish(),
    tool_call_id: z.string().nullish(),
  })
  .passthrough();

/** `stop`: one string or a list of strings. */
const stopSchema = z.union([z.string(), z.array(z.string()).max(16)]).nullish();

/** Options shared by chat completions and completions. */
const samplingFields = {
  model: z.string({ required_error: "you must provide a model parameter" }).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).passthrough().nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: nullishNumber(z.number().min(0).max(2)),
  top_p: nullishNumber(z.number().min(0).max(1)),
  top_k: z.number().int().min(0).nullish(),
  min_p: nullishNumber(z.number().min(0).max(1)),
  seed: z.number().int().nullish(),
  stop: stopSchema,
  n: z.number().int().min(1).max(16).nullish(),
  presence_penalty: nullishNumber(z.number().min(-2).max(2)),
  frequency_penalty: nullishNumber(z.number().min(-2).max(2)),
  user: z.string().nullish(),
};

/** The body of `POST /v1/chat/completions`. */
export const chatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(chatMessageSchema).min(1, "messages must contain at least one message"),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: z.object({ type: z.string() }).passthrough().nullish(),
});

/** The body of `POST /v1/completions`. */
export const completionRequestSchema = z.object({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")]),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().min(1).nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
});

/** A parsed chat completion request. */
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
/** A parsed completion request. */
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
/** A parsed chat message. */
export type ChatMessageInput = z.infer<typeof chatMessageSchema>;
