import { CompletionApiError, resolveApiBaseUrl } from "./completion-stream.js";
import { readSseData } from "./sse-reader.js";

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
  | {
      type: "usage";
      promptTokens: number | undefined;
      completionTokens: number | undefined;
      reasoningTokens: number | undefined;
      cachedPromptTokens: number | undefined;
    };

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

interface WireChunk {
  choices?: Array<{
    index?: number;
    delta?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }> | null;
    } | null;
    finish_reason?: string | null;
  }> | null;
  usage?: {
    prompt_tokens?: number | null;
    completion_tokens?: number | null;
    prompt_tokens_details?: { cached_tokens?: number | null } | null;
    completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  } | null;
  error?: { message?: string; code?: string | number | null; type?: string | null } | null;
}

/**
 * Sends one streaming chat completion and yields its parts as they arrive (the web console's Playground). Returns after
 * `[DONE]`. Leaving the loop early cancels the request.
 *
 * @throws {CompletionApiError} for an error status or body, an error event in the stream, or a connection failure.
 * @throws the signal's reason when `signal` aborts.
 * @example
 * for await (const part of streamChatCompletion({baseUrl: "", body: {model: "m", messages: [{role: "user", content: "Hi"}]}})) {
 *   if (part.type === "text-delta") output += part.text;
 * }
 */
export async function* streamChatCompletion(options: StreamChatCompletionOptions): AsyncGenerator<ChatStreamPart, void, undefined> {
  const url = options.baseUrl === "" ? "/v1/chat/completions" : `${resolveApiBaseUrl(options.baseUrl)}/chat/completions`;
  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
  const streamOptions = (options.body.stream_options ?? {}) as Record<string, unknown>;
  const body = JSON.stringify({ ...options.body, stream: true, stream_options: { ...streamOptions, include_usage: true } });
  const fetchFn = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await fetchFn(url, { method: "POST", headers, body, signal: options.signal });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new CompletionApiError(`Cannot reach ${url}: ${(error as Error).message}`, { status: 0, code: "connection_error", cause: error });
  }
  if (!response.ok || response.body === null) {
    const text = await response.text().catch(() => "");
    let error: WireChunk["error"];
    try {
      error = (JSON.parse(text) as WireChunk).error;
    } catch {
      error = undefined;
    }
    throw new CompletionApiError(error?.message ?? `${url} answered ${response.status}.`, {
      status: response.status,
      code: String(error?.code ?? error?.type ?? `http_${response.status}`),
    });
  }
  try {
    for await (const data of readSseData(response.body)) {
      if (data === "[DONE]") return;
      let chunk: WireChunk;
      try {
        chunk = JSON.parse(data) as WireChunk;
      } catch (error) {
        throw new CompletionApiError(`The server sent a chunk that is not JSON: ${data.slice(0, 200)}`, {
          status: response.status,
          code: "invalid_response",
          cause: error,
        });
      }
      if (chunk.error)
        throw new CompletionApiError(chunk.error.message ?? "The server sent an error event.", {
          status: response.status,
          code: String(chunk.error.code ?? chunk.error.type ?? "stream_error"),
        });
      const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
      if (choice) {
        const reasoning = choice.delta?.reasoning_content ?? choice.delta?.reasoning ?? "";
        if (reasoning.length > 0) yield { type: "reasoning-delta", text: reasoning };
        const text = choice.delta?.content ?? "";
        if (text.length > 0) yield { type: "text-delta", text };
        for (const call of choice.delta?.tool_calls ?? []) {
          yield {
            type: "tool-call-delta",
            index: call.index ?? 0,
            id: call.id,
            name: call.function?.name,
            argumentsDelta: call.function?.arguments ?? "",
          };
        }
        if (choice.finish_reason) yield { type: "finish", finishReason: choice.finish_reason };
      }
      if (chunk.usage) {
        yield {
          type: "usage",
          promptTokens: chunk.usage.prompt_tokens ?? undefined,
          completionTokens: chunk.usage.completion_tokens ?? undefined,
          reasoningTokens: chunk.usage.completion_tokens_details?.reasoning_tokens ?? undefined,
          cachedPromptTokens: chunk.usage.prompt_tokens_details?.cached_tokens ?? undefined,
        };
      }
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof CompletionApiError) throw error;
    throw new CompletionApiError(`The stream from ${url} broke: ${(error as Error).message}`, {
      status: response.status,
      code: "connection_error",
      cause: error,
    });
  }
}
