import type OpenAI from "openai";
import { pino } from "pino";
import { afterAll, beforeAll, expect } from "vitest";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ChatMessage, GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { testModelPath } from "./models.js";
import { loadTestBackend, postJson, serveApp } from "./server.js";

/** One SSE event as the Responses API names it: the `event:` line and the `data:` payload. */
export interface NamedEvent {
  event: string;
  data: { type: string; sequence_number: number } & Record<string, any>;
}

/** Parses a named-event SSE body strictly: each block is `event: NAME` then one `data:` line; `: comment` blocks skipped. */
export function parseNamedSse(body: string): NamedEvent[] {
  const events: NamedEvent[] = [];
  for (const block of body.split("\n\n")) {
    if (block.trim().length === 0 || block.startsWith(":")) continue;
    const lines = block.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^event: \S+$/);
    expect(lines[1]).toMatch(/^data: \{/);
    events.push({ event: lines[0]!.slice("event: ".length), data: JSON.parse(lines[1]!.slice("data: ".length)) });
  }
  return events;
}

/** D24's tool, flat as the Responses API declares functions. */
export const weatherTool = {
  type: "function" as const,
  name: "get_current_weather",
  description: "Weather for a location",
  parameters: { type: "object", properties: { location: { type: "string", maxLength: 12 } }, required: ["location"] },
  strict: true,
};

/** The last user message's text. */
export const lastUser = (request: GenerateRequest): string =>
  request.input.kind === "chat" ? ([...request.input.messages].reverse().find((message) => message.role === "user")?.text ?? "") : "";
/** The chat messages a request rendered. */
export const messagesOf = (request: GenerateRequest): ChatMessage[] => (request.input.kind === "chat" ? request.input.messages : []);

/** The state of a Responses test server: set up by {@link useResponsesServer}, read in tests. */
export interface ResponsesServer {
  url: string;
  client: OpenAI;
  /** What the `scripted` model writes for a request; `undefined` lets it sample. */
  script: ((request: GenerateRequest) => string | undefined) | undefined;
  /** The last request the scripted model saw. */
  seen: GenerateRequest | undefined;
  /** Posts a streamed request and returns its events, checking that each is named by its type and numbered in order. */
  streamEvents(body: Record<string, unknown>): Promise<NamedEvent[]>;
}

/**
 * Serves `tiny-qwen3moe` (random weights) and `scripted` (the same model playing `state.script`) with `createApp` on a
 * free port (the Responses store in memory), for the file's tests; registers its own `beforeAll` and `afterAll`.
 * `options.contextTokens` is each model's context window (1024 by default); `options.engine` serves them in-process (the
 * default) or in llama-server workers.
 */
export function useResponsesServer(options: { contextTokens?: number; engine?: "inproc" | "llama-server" } = {}): ResponsesServer {
  const { contextTokens = 1024, engine = "inproc" } = options;
  const backends: ModelBackend[] = [];
  let close: (() => Promise<void>) | undefined;
  const state: ResponsesServer = {
    url: "",
    client: undefined as unknown as OpenAI,
    script: undefined,
    seen: undefined,
    async streamEvents(body) {
      const response = await postJson(`${state.url}/v1/responses`, { ...body, stream: true });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const events = parseNamedSse(await response.text());
      events.forEach((event, index) => {
        expect(event.data.type).toBe(event.event);
        expect(event.data.sequence_number).toBe(index);
      });
      return events;
    },
  };
  beforeAll(async () => {
    backends.push(await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens }));
    backends.push(
      await loadTestBackend({
        engine,
        modelPath: testModelPath("tiny-qwen3moe.gguf"),
        contextTokens,
        id: "scripted",
        script: (request) => {
          state.seen = request;
          return state.script?.(request);
        },
      }),
    );
    const server = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    state.url = server.url;
    state.client = server.client;
    close = server.close;
  });
  afterAll(async () => {
    await close?.();
    for (const backend of backends) await backend.dispose();
  });
  return state;
}
