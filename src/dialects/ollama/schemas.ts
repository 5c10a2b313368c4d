import { z } from "zod";
import { requestListLimits } from "../openai/schemas.js";

/**
 * Zod schemas of the Ollama wire format that moestro accepts (Ollama's docs/api.md: "Generate a completion", "Generate
 * a chat completion", "Show Model Information", "Pull a Model", "Copy a Model", "Delete a Model", "Generate
 * Embeddings"). As in the OpenAI dialect, values are checked (a wrong type gives a 400 naming the field) and unknown
 * fields are accepted and dropped: Ollama's clients send more than moestro uses (`options.num_thread`, `truncate`).
 */

/** `keep_alive`: seconds as a number, or a duration string (`"10m"`); read with `parseOllamaKeepAliveMs`. */
export const ollamaKeepAliveSchema = z
  .union([z.number(), z.string()], { errorMap: () => ({ message: 'expected a number of seconds or a duration such as "10m"' }) })
  .nullish();

/**
 * `think`: a boolean, or a level (`low`, `medium`, `high`, `max`; Ollama's thinking docs) that moestro reads as "on":
 * Qwen models have no effort levels.
 */
const thinkSchema = z
  .union([z.boolean(), z.enum(["low", "medium", "high", "max"])], {
    errorMap: () => ({ message: "expected true, false, or one of 'low', 'medium', 'high', 'max'" }),
  })
  .nullish();

/** `format`: `"json"` (any JSON value, an object as Ollama's JSON mode gives) or a JSON schema object. */
const formatSchema = z
  .union([z.literal("json"), z.literal(""), z.record(z.unknown())], {
    errorMap: () => ({ message: 'expected "json" or a JSON schema object' }),
  })
  .nullish();

/**
 * `options` (Ollama's Modelfile parameters). The ones moestro maps are checked; every other one (`num_thread`,
 * `mirostat`, `num_gpu`…) is accepted and ignored (docs/ollama.md, "Options").
 */
const optionsSchema = z
  .object({
    temperature: z.number().min(0).max(2).nullish(),
    top_k: z.number().int().min(0).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    min_p: z.number().min(0).max(1).nullish(),
    seed: z.number().int().nullish(),
    stop: z.union([z.string(), z.array(z.string()).max(requestListLimits.stop)]).nullish(),
    num_predict: z.number().int().nullish(),
    num_ctx: z.number().int().nullish(),
    repeat_penalty: z.number().nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
  })
  .passthrough()
  .nullish();

/** A tool call as Ollama sends and returns it: `arguments` is a JSON object, not a string (case D12). */
const toolCallSchema = z.object({
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z.object({
    index: z.number().int().nullish(),
    name: z.string().min(1),
    arguments: z.union([z.record(z.unknown()), z.string()]).nullish(),
  }),
});

/** A chat message: `role` and `content`, the thought, tool calls (assistant) and `tool_name` (tool). */
const messageSchema = z.object({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().nullish(),
  thinking: z.string().nullish(),
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(toolCallSchema).max(requestListLimits.toolCalls).nullish(),
  tool_name: z.string().nullish(),
  tool_call_id: z.string().nullish(),
});

/** A tool definition, in OpenAI's function shape (as Ollama takes it). */
const toolSchema = z.object({
  type: z.string().default("function"),
  function: z.object({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.unknown()).nullish(),
  }),
});

/** The fields `/api/chat` and `/api/generate` share. */
const generationFields = {
  model: z.string().min(1),
  stream: z.boolean().nullish(),
  think: thinkSchema,
  format: formatSchema,
  options: optionsSchema,
  keep_alive: ollamaKeepAliveSchema,
};

/** `POST /api/chat`. */
export const ollamaChatRequestSchema = z.object({
  ...generationFields,
  messages: z.array(messageSchema).max(requestListLimits.messages).nullish(),
  tools: z.array(toolSchema).max(requestListLimits.tools).nullish(),
});

/** `POST /api/generate`. */
export const ollamaGenerateRequestSchema = z.object({
  ...generationFields,
  prompt: z.string().nullish(),
  suffix: z.string().nullish(),
  system: z.string().nullish(),
  template: z.string().nullish(),
  raw: z.boolean().nullish(),
  images: z.array(z.string()).nullish(),
  context: z.array(z.number().int()).nullish(),
});

/** A request that names a model: `model`, or `name` (the legacy field older clients send, case D11). */
export const ollamaModelNameSchema = z
  .object({ model: z.string().min(1).nullish(), name: z.string().min(1).nullish(), verbose: z.boolean().nullish() })
  .refine((body) => (body.model ?? body.name) !== undefined && (body.model ?? body.name) !== null, {
    message: "expected a string",
    path: ["model"],
  });

/** `POST /api/pull`: `model` (or `name`), `stream` (default true), `insecure` (ignored). */
export const ollamaPullRequestSchema = z
  .object({ model: z.string().min(1).nullish(), name: z.string().min(1).nullish(), stream: z.boolean().nullish() })
  .refine((body) => (body.model ?? body.name) != null, { message: "expected a string", path: ["model"] });

/** `POST /api/copy`: `{source, destination}`. */
export const ollamaCopyRequestSchema = z.object({ source: z.string().min(1), destination: z.string().min(1) });

/** `POST /api/embed`: `input` is a string or a list of strings. */
export const ollamaEmbedRequestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()).max(requestListLimits.embeddingInputs)], {
    errorMap: () => ({ message: "expected a string or an array of strings" }),
  }),
  truncate: z.boolean().nullish(),
  dimensions: z.number().int().positive().nullish(),
  options: optionsSchema,
  keep_alive: ollamaKeepAliveSchema,
});

/** `POST /api/embeddings` (the older endpoint): one `prompt`. */
export const ollamaEmbeddingsRequestSchema = z.object({
  model: z.string().min(1),
  prompt: z.string(),
  options: optionsSchema,
  keep_alive: ollamaKeepAliveSchema,
});

export type OllamaChatRequest = z.infer<typeof ollamaChatRequestSchema>;
export type OllamaGenerateRequest = z.infer<typeof ollamaGenerateRequestSchema>;
export type OllamaOptions = NonNullable<z.infer<typeof optionsSchema>>;
export type OllamaMessageInput = z.infer<typeof messageSchema>;
export type OllamaEmbedRequest = z.infer<typeof ollamaEmbedRequestSchema>;
