import { z } from "zod";
import { apiErrorFromResponse, CompletionApiError, connectionError, errorBodyFields } from "./api-error.js";
import { readSseData } from "./sse-reader.js";

/**
 * Which OpenAI endpoint a request goes to.
 * - `chat`: `POST /v1/chat/completions`; text comes in `choices[0].delta.content`, reasoning in
 *   `delta.reasoning_content` (moestro, vLLM, DashScope) or `delta.reasoning` (OpenRouter, newer vLLM).
 * - `completions`: `POST /v1/completions`; text comes in `choices[0].text`.
 */
export type CompletionEndpoint = "chat" | "completions";

/** Token counts a server reported in `usage`. Each is `undefined` when the server did not send it, never a guessed 0. */
export interface StreamUsage {
  /** `usage.prompt_tokens`. */
  promptTokens: number | undefined;
  /** `usage.completion_tokens` (reasoning included). */
  completionTokens: number | undefined;
  /** `usage.completion_tokens_details.reasoning_tokens`. */
  reasoningTokens: number | undefined;
  /** `usage.prompt_tokens_details.cached_tokens`. */
  cachedPromptTokens: number | undefined;
}

/**
 * One part of a streamed completion, stamped with the time it was read (`atMs`, from the `now` clock, ms).
 * - `text-delta`: answer text of choice 0 (never empty).
 * - `reasoning-delta`: reasoning text of choice 0 (never empty).
 * - `tool-call-delta` (chat only): a piece of tool call `index`: the first piece carries `id` and `name`, later ones
 *   more `arguments` text.
 * - `finish`: choice 0's `finish_reason` (`stop`, `length`, `tool_calls`, ...).
 * - `usage`: the usage chunk (sent with `stream_options.include_usage`).
 *
 * A chunk carrying several yields reasoning, text, tool calls, then finish, all with the same `atMs`.
 */
export type CompletionStreamPart =
  | { type: "text-delta"; atMs: number; text: string }
  | { type: "reasoning-delta"; atMs: number; text: string }
  | { type: "tool-call-delta"; atMs: number; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: "finish"; atMs: number; finishReason: string }
  | { type: "usage"; atMs: number; usage: StreamUsage };

/** Options of {@link streamCompletion}. */
export interface StreamCompletionOptions {
  /**
   * The server: `http://host:port`, or any base URL ending in `/v1` (`https://example.com/compatible-mode/v1`); `""`
   * means the page's own origin (the web console).
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
  /** Which endpoint to call. */
  endpoint: CompletionEndpoint;
  /**
   * The request body (`model`, `messages` or `prompt`, `max_tokens`, ...). `stream: true` and
   * `stream_options.include_usage: true` are added.
   */
  body: Record<string, unknown>;
  /** Aborts the request; the generator then throws the signal's reason. Defaults to none. */
  signal?: AbortSignal;
  /** Time limit of the whole request, ms; past it the generator throws `timeout`. Defaults to no limit. */
  timeoutMs?: number;
  /** The `fetch` to use (tests count or route calls). Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Monotonic clock stamping the parts, ms. Defaults to `performance.now`. */
  now?: () => number;
}

const nullableCount = z.number().nonnegative().nullish();

/** A streamed chunk of either endpoint, read leniently: every field may be missing. */
const chunkSchema = z
  .object({
    choices: z
      .array(
        z
          .object({
            index: z.number().nullish(),
            text: z.string().nullish(),
            delta: z
              .object({
                content: z.string().nullish(),
                reasoning_content: z.string().nullish(),
                reasoning: z.string().nullish(),
                tool_calls: z
                  .array(
                    z
                      .object({
                        index: z.number().nullish(),
                        id: z.string().nullish(),
                        function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).passthrough().nullish(),
                      })
                      .passthrough(),
                  )
                  .nullish(),
              })
              .passthrough()
              .nullish(),
            finish_reason: z.string().nullish(),
          })
          .passthrough(),
      )
      .nullish(),
    usage: z
      .object({
        prompt_tokens: nullableCount,
        completion_tokens: nullableCount,
        prompt_tokens_details: z.object({ cached_tokens: nullableCount }).passthrough().nullish(),
        completion_tokens_details: z.object({ reasoning_tokens: nullableCount }).passthrough().nullish(),
      })
      .passthrough()
      .nullish(),
    error: z.record(z.unknown()).nullish(),
  })
  .passthrough();

/**
 * The `/v1` base of a server URL: `http://host:port` gets `/v1`; a URL already ending in `/v1` is kept; `""` (the page's
 * own origin) gives `/v1`.
 */
export function resolveApiBaseUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, "");
  return /\/v\d+$/.test(trimmed) ? trimmed : `${trimmed}/v1`;
}

/**
 * Sends one streaming completion request and yields its parts as they arrive: deltas in order, then at most one
 * `finish`, then at most one `usage` (a server may send them in another order; they are passed on as sent). The
 * generator returns after `[DONE]`, or at the end of a stream that carried a `finish_reason`.
 *
 * Only choice 0 is read. Leaving the loop early cancels the request. The web console's Playground reads chat streams
 * through `streamChatCompletion` (`chat-stream.ts`), the bench and eval through this.
 *
 * @throws {CompletionApiError} for an error status or body, an error event in the stream, a broken or incomplete
 * stream, or the time limit.
 * @throws the signal's reason (an `AbortError`) when `signal` aborts.
 * @example
 * for await (const part of streamCompletion({baseUrl: "http://127.0.0.1:8080", endpoint: "chat", body: {model: "m", messages: [{role: "user", content: "Hi"}]}})) {
 *   if (part.type === "text-delta") process.stdout.write(part.text);
 * }
 */
export async function* streamCompletion(options: StreamCompletionOptions): AsyncGenerator<CompletionStreamPart, void, undefined> {
  const now = options.now ?? (() => performance.now());
  const fetchFn = options.fetch ?? fetch;
  const timeoutSignal = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
  const signals = [options.signal, timeoutSignal].filter((signal): signal is AbortSignal => signal !== undefined);
  const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  const url = `${resolveApiBaseUrl(options.baseUrl)}/${options.endpoint === "chat" ? "chat/completions" : "completions"}`;
  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
  const previousStreamOptions = (options.body.stream_options ?? {}) as Record<string, unknown>;
  const body = JSON.stringify({ ...options.body, stream: true, stream_options: { ...previousStreamOptions, include_usage: true } });

  /**
   * Rethrows the caller's abort as it is, and turns everything else into a {@link CompletionApiError}: a failure before
   * the response (`Cannot reach`) or while reading it (`broke`, with the response's status and request id).
   */
  const translate = (error: unknown, response?: Response): unknown => {
    if (options.signal?.aborted) return options.signal.reason;
    const requestId = response?.headers.get("x-request-id");
    if (timeoutSignal?.aborted)
      return new CompletionApiError(`No complete answer within ${options.timeoutMs} ms.`, {
        status: 0,
        code: "timeout",
        requestId,
        cause: error,
      });
    if (error instanceof CompletionApiError) return error;
    return CompletionApiError.from(connectionError(url, error, response));
  };

  let response: Response;
  try {
    response = await fetchFn(url, { method: "POST", headers, body, signal });
  } catch (error) {
    throw translate(error);
  }
  if (!response.ok || response.body === null)
    throw CompletionApiError.from(apiErrorFromResponse(response, await response.text().catch(() => ""), url));
  const requestId = response.headers.get("x-request-id");

  let hasFinished = false;
  try {
    for await (const data of readSseData(response.body)) {
      const atMs = now();
      if (data === "[DONE]") return;
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch (error) {
        throw new CompletionApiError(`The server sent a chunk that is not JSON: ${data.slice(0, 200)}`, {
          status: response.status,
          code: "invalid_response",
          requestId,
          cause: error,
        });
      }
      const parsed = chunkSchema.safeParse(json);
      if (!parsed.success) continue;
      const chunk = parsed.data;
      if (chunk.error) {
        const error = errorBodyFields(chunk.error);
        throw new CompletionApiError(error.message ?? "The server sent an error event.", {
          status: response.status,
          code: error.code ?? error.type ?? "stream_error",
          type: error.type,
          param: error.param,
          requestId,
        });
      }
      const choice = chunk.choices?.find((candidate) => (candidate.index ?? 0) === 0);
      if (choice) {
        const reasoning = choice.delta?.reasoning_content ?? choice.delta?.reasoning ?? "";
        const text = (options.endpoint === "chat" ? choice.delta?.content : choice.text) ?? "";
        if (reasoning.length > 0) yield { type: "reasoning-delta", atMs, text: reasoning };
        if (text.length > 0) yield { type: "text-delta", atMs, text };
        for (const call of choice.delta?.tool_calls ?? []) {
          yield {
            type: "tool-call-delta",
            atMs,
            index: call.index ?? 0,
            id: call.id ?? undefined,
            name: call.function?.name ?? undefined,
            argumentsDelta: call.function?.arguments ?? "",
          };
        }
        if (choice.finish_reason) {
          hasFinished = true;
          yield { type: "finish", atMs, finishReason: choice.finish_reason };
        }
      }
      if (chunk.usage) {
        const usage = chunk.usage;
        yield {
          type: "usage",
          atMs,
          usage: {
            promptTokens: usage.prompt_tokens ?? undefined,
            completionTokens: usage.completion_tokens ?? undefined,
            reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? undefined,
            cachedPromptTokens: usage.prompt_tokens_details?.cached_tokens ?? undefined,
          },
        };
      }
    }
  } catch (error) {
    throw translate(error, response);
  }
  if (!hasFinished)
    throw new CompletionApiError("The stream ended before the answer was complete.", {
      status: response.status,
      code: "incomplete_stream",
      requestId,
    });
}
