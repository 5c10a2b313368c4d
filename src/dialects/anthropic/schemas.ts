import { z } from "zod";
import { requestListLimits } from "../openai/schemas.js";

/**
 * Zod schemas of the Anthropic Messages wire format that moestro accepts (Anthropic API reference: "Messages",
 * "Count Message tokens"). Values are checked where a wrong one changes the answer (`max_tokens`, ranges of the
 * samplers, roles, `tool_choice`, `thinking`); unknown fields are dropped, not rejected, because clients send more than
 * they need (Claude Code sends `metadata`, `context_management`, `output_config`, `container`, `mcp_servers`, …). Content
 * blocks are checked block by block by the request converter, so that an unsupported block is refused with a message
 * that names it.
 */

/**
 * An array of at most `maxItems` elements, its length checked before its elements (see the OpenAI dialect's
 * `boundedArray`: zod checks every element before `.max()`).
 */
function boundedArray<Element extends z.ZodTypeAny>(element: Element, maxItems: number, what: string) {
  return z
    .custom<unknown[]>((value) => !Array.isArray(value) || value.length <= maxItems, { message: `expected at most ${maxItems} ${what}` })
    .pipe(z.array(element));
}

/** One content block as sent: its `type` and whatever else it carries (read by the converter, block by block). */
export const contentBlockSchema = z.object({ type: z.string({ required_error: "each content block needs a type" }) }).passthrough();

/** A message's or a tool result's `content`: a string, or an array of content blocks. */
export const contentSchema = z.union([z.string(), boundedArray(contentBlockSchema, requestListLimits.contentParts, "content blocks")], {
  errorMap: (issue, context) => ({
    message: issue.code === "invalid_union" ? "expected a string or an array of content blocks" : context.defaultError,
  }),
});

/**
 * One entry of `messages`. `system` is accepted besides the documented `user` and `assistant`: Claude Code 2.1.154 and
 * later put system entries in the array (case D01), which Anthropic's own API accepts.
 */
export const messageSchema = z
  .object({
    role: z.enum(["user", "assistant", "system"], {
      errorMap: () => ({ message: "must be 'user', 'assistant' or 'system'" }),
    }),
    content: contentSchema,
  })
  .passthrough();

/** A text block of `system`. */
const systemTextBlockSchema = z.object({ type: z.literal("text"), text: z.string() }).passthrough();

/** `system`: a string, or an array of text blocks. */
export const systemSchema = z.union([z.string(), z.array(systemTextBlockSchema)], {
  errorMap: (issue, context) => ({
    message: issue.code === "invalid_union" ? "expected a string or an array of text blocks" : context.defaultError,
  }),
});

/**
 * One entry of `tools`: a custom tool (`name`, `input_schema`, optional `type: "custom"`), or one of Anthropic's own
 * tool types (`web_search_20250305`, `bash_20250124`, …), which the converter drops.
 */
export const toolSchema = z
  .object({
    type: z.string().nullish(),
    name: z.string().min(1).max(128),
    description: z.string().nullish(),
    input_schema: z.record(z.unknown()).nullish(),
  })
  .passthrough();

/** `tool_choice` (Tool use docs, "Forcing tool use"). */
export const toolChoiceSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().nullish() }).passthrough(),
    z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().nullish() }).passthrough(),
    z.object({ type: z.literal("tool"), name: z.string().min(1), disable_parallel_tool_use: z.boolean().nullish() }).passthrough(),
    z.object({ type: z.literal("none") }).passthrough(),
  ],
  {
    errorMap: (issue, context) => ({
      message: issue.code === "invalid_union_discriminator" ? "type must be 'auto', 'any', 'tool' or 'none'" : context.defaultError,
    }),
  },
);

/**
 * `thinking` (Extended thinking docs): `enabled` with a `budget_tokens`, `disabled`, and the newer `adaptive` and
 * `between_tools`; `display` (`summarized` or `omitted`) says whether the thought's text is returned.
 */
export const thinkingSchema = z.discriminatedUnion(
  "type",
  [
    z
      .object({
        type: z.literal("enabled"),
        budget_tokens: z.number({ required_error: "is required when thinking is enabled" }).int(),
        display: z.enum(["summarized", "omitted"]).nullish(),
      })
      .passthrough(),
    z.object({ type: z.literal("disabled") }).passthrough(),
    z.object({ type: z.literal("adaptive"), display: z.enum(["summarized", "omitted"]).nullish() }).passthrough(),
    z.object({ type: z.literal("between_tools") }).passthrough(),
  ],
  {
    errorMap: (issue, context) => ({
      message:
        issue.code === "invalid_union_discriminator"
          ? "type must be 'enabled', 'disabled', 'adaptive' or 'between_tools'"
          : context.defaultError,
    }),
  },
);

/** `output_config`: `format` (structured output, a JSON schema) is honoured; `effort` is accepted and ignored. */
export const outputConfigSchema = z
  .object({
    format: z
      .object({ type: z.literal("json_schema"), schema: z.record(z.unknown()) })
      .passthrough()
      .nullish(),
  })
  .passthrough();

/** What `POST /v1/messages` and `POST /v1/messages/count_tokens` share. */
const promptFields = {
  model: z.string({ required_error: "is required" }).min(1),
  messages: boundedArray(messageSchema, requestListLimits.messages, "messages").refine((messages) => messages.length > 0, {
    message: "must contain at least one message",
  }),
  system: systemSchema.nullish(),
  tools: boundedArray(toolSchema, requestListLimits.tools, "tools").nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  thinking: thinkingSchema.nullish(),
  output_config: outputConfigSchema.nullish(),
};

/** The body of `POST /v1/messages` (Messages reference, "Create a Message"). */
export const messagesRequestSchema = z.object({
  ...promptFields,
  max_tokens: z.number({ required_error: "is required" }).int().min(1, "must be at least 1"),
  stream: z.boolean().nullish(),
  stop_sequences: boundedArray(z.string(), requestListLimits.stop, "stop sequences").nullish(),
  temperature: z.number().min(0).max(1).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
});

/** The body of `POST /v1/messages/count_tokens` (Messages reference, "Count tokens in a Message"). */
export const countTokensRequestSchema = z.object(promptFields);

/** A parsed `POST /v1/messages` body. */
export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
/** A parsed `POST /v1/messages/count_tokens` body. */
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
/** A parsed entry of `messages`. */
export type MessageInput = z.infer<typeof messageSchema>;
/** A content block as sent (its fields beyond `type` unchecked). */
export type ContentBlockInput = z.infer<typeof contentBlockSchema>;
