import { streamCompletion, type StreamUsage } from "./completion-stream.js";

/**
 * One part of a streamed chat completion (choice 0), in the order the server sent them.
 * - `reasoning-delta`: thought text (`delta.reasoning_content`, or `delta.reasoning`); never empty.
 * - `text-delta`: answer text (`delta.content`); never empty.
 * - `tool-call-delta`: a piece of tool call `index`: the first piece carries `id` and `name`, later ones more
 *   `arguments` text.
 * - `finish`: the choice's `finish_reason` (`stop`, `length`, `tool_calls`).
 * - `usage`: the usage chunk; each count is `undefined` when the server did not send it.
 */
export type ChatStreamPart =
  | { type: "reasoning-delta"; text: string }
  | { type: "text-delta"; text: string }
  | { type: "tool-call-delta"; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: "finish"; finishReason: string }
  | ({ type: "usage" } & StreamUsage);

/** Options of {@link streamChatCompletion}. */
export interface StreamChatCompletionOptions {
  /** The server, `http://host:port` or a base URL ending in `/v1`; `""` means the page's own origin. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
  /** The request body of `POST /v1/chat/completions`; `stream: true` and `stream_options.include_usage: true` are added. */
  body: Record<string, unknown>;
  /** Aborts the request; the generator then throws the signal's reason. Defaults to none. */
  signal?: AbortSignal;
  /** The `fetch` to use. Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Sends one streaming chat completion and yields its parts as they arrive (the web console's Playground): the parts of
 * {@link streamCompletion} on the `chat` endpoint, without their timestamps. Returns after `[DONE]`. Leaving the loop
 * early cancels the request.
 *
 * @throws {CompletionApiError} (`api-error.ts`) for an error status or body, an error event in the stream, a connection failure, or a
 * stream that ends before its answer is complete (`incomplete_stream`).
 * @throws the signal's reason when `signal` aborts.
 * @example
 * for await (const part of streamChatCompletion({baseUrl: "", body: {model: "m", messages: [{role: "user", content: "Hi"}]}})) {
 *   if (part.type === "text-delta") output += part.text;
 * }
 */
export async function* streamChatCompletion(options: StreamChatCompletionOptions): AsyncGenerator<ChatStreamPart, void, undefined> {
  for await (const part of streamCompletion({ ...options, endpoint: "chat" })) {
    const { atMs: _atMs, ...rest } = part;
    yield rest.type === "usage" ? { type: "usage", ...rest.usage } : rest;
  }
}
