import http from "node:http";
import type { AddressInfo } from "node:net";

/** What a stand-in upstream does with one `POST /v1/...` request. */
export type StandInHandler = (
  request: { path: string; body: Record<string, unknown> },
  response: http.ServerResponse,
) => void | Promise<void>;

/** A small real HTTP server that plays an OpenAI-compatible upstream in gateway tests. */
export interface StandInUpstream {
  /** `http://127.0.0.1:PORT/v1`. */
  url: string;
  /** POST requests received, by path, in order. */
  posts: Array<{ path: string; body: Record<string, unknown>; requestId?: string }>;
  close(): Promise<void>;
}

/**
 * Starts a stand-in upstream on a free port of 127.0.0.1: `GET /v1/models` lists `models`, `GET /health` answers 404
 * (as OpenAI's API does, so that the gateway's health check falls back to `/v1/models`), and every POST goes to
 * `handle`. It is not a mock of moestro's code: the gateway reaches it over real HTTP, as it would vLLM.
 */
export async function startStandInUpstream(models: readonly string[], handle: StandInHandler): Promise<StandInUpstream> {
  const posts: StandInUpstream["posts"] = [];
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0]!;
    if (request.method === "GET" && path === "/v1/models") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ object: "list", data: models.map((id) => ({ id, object: "model", owned_by: "stand-in" })) }));
      return;
    }
    if (request.method !== "POST") {
      response.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
      return;
    }
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (text += chunk));
    request.on("end", () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      const requestId = request.headers["x-request-id"];
      posts.push({ path, body, ...(typeof requestId === "string" ? { requestId } : {}) });
      void Promise.resolve(handle({ path, body }, response)).catch(() => response.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A `chat.completion.chunk` SSE event with `delta` (and `finish_reason`), as OpenAI streams it. */
export function chunkEvent(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({ id: "chatcmpl-standin", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
}

/** The usage SSE event (`stream_options.include_usage`): no choices, the counts. */
export function usageEvent(promptTokens: number, completionTokens: number): string {
  return `data: ${JSON.stringify({ id: "chatcmpl-standin", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } })}\n\n`;
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The non-streamed answer (`chat.completion`, as JSON text) that an SSE answer made of {@link chunkEvent} and
 * {@link usageEvent} events adds up to: the deltas' content and reasoning joined, their tool calls assembled, the last
 * finish reason, and the usage when the stream has one. A stand-in answers a request without `stream: true` with it,
 * as an OpenAI-compatible server does (the gateway asks for a whole answer when its client did).
 */
export function wholeAnswerOf(sse: string): string {
  let content = "";
  let reasoning = "";
  let finishReason: string | null = null;
  let usage: unknown;
  const toolCalls: Array<{ id?: string; type: "function"; function: { name: string; arguments: string } }> = [];
  for (const event of sse.split("\n\n")) {
    if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
    const chunk = JSON.parse(event.slice(6)) as {
      choices: Array<{
        delta: {
          content?: string;
          reasoning_content?: string;
          tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }>;
        };
        finish_reason: string | null;
      }>;
      usage?: unknown;
    };
    if (chunk.usage !== undefined) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice === undefined) continue;
    content += choice.delta.content ?? "";
    reasoning += choice.delta.reasoning_content ?? "";
    for (const fragment of choice.delta.tool_calls ?? []) {
      const call = (toolCalls[fragment.index ?? 0] ??= { type: "function", function: { name: "", arguments: "" } });
      if (fragment.id !== undefined) call.id = fragment.id;
      call.function.name += fragment.function?.name ?? "";
      call.function.arguments += fragment.function?.arguments ?? "";
    }
    finishReason = choice.finish_reason ?? finishReason;
  }
  const message = {
    role: "assistant",
    content: toolCalls.length > 0 && content === "" ? null : content,
    ...(reasoning === "" ? {} : { reasoning_content: reasoning }),
    ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls }),
  };
  return JSON.stringify({
    id: "chatcmpl-standin",
    object: "chat.completion",
    choices: [{ index: 0, message, finish_reason: finishReason }],
    ...(usage === undefined ? {} : { usage }),
  });
}

/**
 * Answers a chat request with `sse` (events of {@link chunkEvent} and {@link usageEvent}, ending with `[DONE]`) as an
 * OpenAI-compatible server does: as that stream when the request asks for one (`stream: true`), else as the one JSON
 * answer it adds up to ({@link wholeAnswerOf}).
 */
export function answerAsAsked(body: Record<string, unknown>, response: http.ServerResponse, sse: string): void {
  if (body.stream === true) {
    response.writeHead(200, { "content-type": "text/event-stream" });
    response.end(sse);
    return;
  }
  response.writeHead(200, { "content-type": "application/json" });
  response.end(wholeAnswerOf(sse));
}
