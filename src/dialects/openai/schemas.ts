import { z } from "zod";

/**
 * Zod schemas of the OpenAI wire format that moestro accepts (OpenAI API reference: Chat Completions and Completions
 * "create"). Option schemas are strict about values (ranges and types give a 400 naming the field) and lenient about
 * presence: unknown top-level fields, such as other servers' extensions, are dropped, not rejected.
 */

const nullishNumber = (schema: z.ZodNumber) => schema.nullish();

/**
 * A union whose error, when no option matches, says what was expected (`expected a string or an array of one string`)
 * instead of zod's bare "Invalid input".
 */
function unionOf<Options extends readonly [z.ZodTypeAny, z.ZodTypeAny, ...z.ZodTypeAny[]]>(options: Options, expected: string) {
  return z.union(options, {
    errorMap: (issue, context) => ({ message: issue.code === "invalid_union" ? `expected ${expected}` : context.defaultError }),
  });
}

/**
 * A value of one of several shapes that differ by type (a string, or arrays of strings or of token ids), checked by
 * `isShape` in one loop, not by `z.union`: a union tries every branch, and an array branch that fails records one
 * issue per element, so 3 million token ids took about 12 s to be refused as strings before they were accepted as ids
 * (docs/api.md, "Big inputs"). Any failure reads `expected <expected>`.
 */
function shapeOf<T>(isShape: (value: unknown) => value is T, expected: string): z.ZodType<T> {
  return z.custom<T>(isShape, { message: `expected ${expected}` });
}

/** Whether every element of `values` passes `check`, in one loop (no per-element allocation). */
function everyElement(values: readonly unknown[], check: (value: unknown) => boolean): boolean {
  for (const value of values) if (!check(value)) return false;
  return true;
}

const isString = (value: unknown): value is string => typeof value === "string";

/**
 * The most elements each list of a request may hold (docs/api.md, "Big inputs"): far more than any context window can
 * take, and few enough that checking them costs well under 100 ms.
 */
export const requestListLimits = {
  messages: 100_000,
  contentParts: 10_000,
  toolCalls: 1_024,
  tools: 1_024,
  stop: 16,
  /** Entries of `logit_bias` (OpenAI documents no limit; 2,048 biases are far more than a request needs to steer). */
  logitBias: 2_048,
  /** Inputs of one embeddings request (OpenAI's own limit). */
  embeddingInputs: 2_048,
} as const;

/**
 * An array of at most `maxItems` elements, its length checked before its elements: zod checks every element before
 * `.max()` and records an issue per failing element, so a body of 3 million wrong elements took about 12 s to refuse.
 */
function boundedArray<Element extends z.ZodTypeAny>(element: Element, maxItems: number, what: string) {
  return z
    .custom<unknown[]>((value) => !Array.isArray(value) || value.length <= maxItems, { message: `expected at most ${maxItems} ${what}` })
    .pipe(z.array(element));
}
const isTokenIds = (value: unknown): value is number[] => Array.isArray(value) && everyElement(value, Number.isInteger);

/** A content part of a message. Only `text` (and `refusal` in assistant messages) can be served by a text model. */
export const contentPartSchema = z
  .object({
    type: z.string(),
    text: z.string().optional(),
    refusal: z.string().optional(),
  })
  .passthrough();

/** Message `content`: a string, or an array of parts. */
export const messageContentSchema = unionOf(
  [z.string(), boundedArray(contentPartSchema, requestListLimits.contentParts, "content parts")],
  "a string, an array of content parts, or null",
).nullish();

/** A tool call in an assistant message. */
export const messageToolCallSchema = z
  .object({
    id: z.string().min(1),
    type: z.literal("function").optional(),
    function: z.object({ name: z.string().min(1), arguments: z.string() }).passthrough(),
  })
  .passthrough();

/** One chat message as OpenAI's clients send it. */
export const chatMessageSchema = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant", "tool", "function"], {
      errorMap: () => ({ message: "must be one of 'system', 'developer', 'user', 'assistant' or 'tool'" }),
    }),
    content: messageContentSchema,
    name: z.string().optional(),
    tool_calls: boundedArray(messageToolCallSchema, requestListLimits.toolCalls, "tool calls").nullish(),
    tool_call_id: z.string().nullish(),
  })
  .passthrough();

/** A tool definition (`tools[]`). */
export const toolSchema = z
  .object({
    type: z.literal("function"),
    function: z
      .object({
        name: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, "must be 1 to 64 letters, digits, '_', '.' or '-'"),
        description: z.string().optional(),
        parameters: z.record(z.unknown()).optional(),
        strict: z.boolean().nullish(),
      })
      .passthrough(),
  })
  .passthrough();

/** `tool_choice`. */
export const toolChoiceSchema = unionOf(
  [
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string().min(1) }).passthrough() }).passthrough(),
  ],
  `'auto', 'none', 'required', or {"type": "function", "function": {"name": …}}`,
);

/** `response_format`. */
export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }).passthrough(),
  z.object({ type: z.literal("json_object") }).passthrough(),
  z
    .object({
      type: z.literal("json_schema"),
      json_schema: z
        .object({
          name: z.string().min(1),
          schema: z.record(z.unknown()).optional(),
          strict: z.boolean().nullish(),
          description: z.string().optional(),
        })
        .passthrough(),
    })
    .passthrough(),
]);

/** `stop`: one string or a list of strings. */
const stopSchema = unionOf(
  [z.string(), boundedArray(z.string(), requestListLimits.stop, "strings")],
  "a string or an array of at most 16 strings",
).nullish();

/** Ollama's `keep_alive`: seconds as a number, or a duration (`"5m"`, `"1h"`); read with `parseKeepAliveMs`. */
export const keepAliveSchema = unionOf([z.number(), z.string()], 'a number of seconds or a duration such as "5m"').nullish();

/**
 * OpenAI's `logit_bias`: a map of token id (a string of digits) to a bias from -100 to 100, added to the token's logit
 * before sampling (-100 bans the token, 100 all but forces it). One pass over the entries, the count checked first.
 */
export const logitBiasSchema = z
  .custom<Record<string, number>>(
    (value) => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
      let count = 0;
      for (const [key, bias] of Object.entries(value)) {
        if (++count > requestListLimits.logitBias) return false;
        if (!/^\d{1,9}$/.test(key) || typeof bias !== "number" || !(bias >= -100 && bias <= 100)) return false;
      }
      return true;
    },
    {
      message: `expected an object mapping token ids (strings of digits) to numbers from -100 to 100, at most ${requestListLimits.logitBias} entries`,
    },
  )
  .nullish();

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
  logit_bias: logitBiasSchema,
  /** Ollama's keep-alive: seconds as a number, or a duration (`"5m"`, `"1h"`); negative keeps the model loaded, 0 unloads it after the request. */
  keep_alive: keepAliveSchema,
  /** moestro's switch for speculative decoding on a model configured with it (models[].speculative); absent: the model's default. */
  speculative: z.boolean().nullish(),
};

/** The body of `POST /v1/chat/completions`. */
export const chatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: boundedArray(chatMessageSchema, requestListLimits.messages, "messages").refine((messages) => messages.length > 0, {
    message: "messages must contain at least one message",
  }),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: boundedArray(toolSchema, requestListLimits.tools, "tools").nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormatSchema.nullish(),
  /** DashScope's thinking switch (top level). */
  enable_thinking: z.boolean().nullish(),
  /** DashScope's thinking budget, in tokens. */
  thinking_budget: z.number().int().min(0).nullish(),
  /** vLLM's and llama.cpp's template arguments; `enable_thinking` is read from here too. */
  chat_template_kwargs: z.object({ enable_thinking: z.boolean().nullish() }).passthrough().nullish(),
  /** OpenAI's reasoning effort; `"none"` and `"minimal"` turn thinking off, any other value on (as on /v1/responses). */
  reasoning_effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullish(),
});

/** The body of `POST /v1/completions`. */
export const completionRequestSchema = z.object({
  ...samplingFields,
  prompt: z.custom<string | [string]>().superRefine((value, context) => {
    if (isString(value) || (Array.isArray(value) && value.length === 1 && isString(value[0]))) return;
    const isPromptList = Array.isArray(value) && value.length > 1 && everyElement(value, isString);
    context.addIssue({
      code: "custom",
      message: isPromptList
        ? "only one prompt per request is supported"
        : "expected a string, or an array of one string (token-id prompts are not supported)",
    });
  }),
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

/** The body of `POST /v1/embeddings`. */
export const embeddingRequestSchema = z.object({
  model: z.string({ required_error: "you must provide a model parameter" }).min(1),
  input: shapeOf(
    (value): value is string | string[] | number[] | number[][] =>
      isString(value) ||
      (Array.isArray(value) &&
        (value.length === 0 ||
          (isString(value[0]) && everyElement(value, isString)) ||
          (typeof value[0] === "number" && isTokenIds(value)) ||
          (Array.isArray(value[0]) && everyElement(value, isTokenIds)))),
    "a string, an array of strings, an array of token ids, or an array of arrays of token ids",
  ),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
  keep_alive: keepAliveSchema,
});

/** A parsed embeddings request. */
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;
