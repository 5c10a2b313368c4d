import type { Context } from "hono";
import { ollamaSchemaParams } from "../../../dialects/ollama/convert-request.js";
import { type GenerationTimes, toDoneReason, toOllamaMetrics, toOllamaToolCall } from "../../../dialects/ollama/convert-response.js";
import type { OllamaWireMetrics, OllamaWireToolCall } from "../../../dialects/ollama/wire.js";
import type { FinishReason, GenerateRequest, UsageEvent } from "../../../spec/index.js";
import type { AppEnv } from "../../app-env.js";
import { requestSignal } from "../../serving/request-abort.js";
import { ollamaNdjson, respondCollected, streamResponse } from "../../serving/respond.js";
import { startGenerationClamped, type StartedGeneration } from "../../serving/start-generation.js";
import type { OllamaContext } from "./ollama-context.js";

/** Which of Ollama's generation endpoints answers: `/api/chat` (a `message`) or `/api/generate` (a `response`). */
export type OllamaShape = "chat" | "generate";

/** What one object of an Ollama generation carries. */
interface ObjectContent {
  content: string;
  thinking?: string;
  toolCalls?: OllamaWireToolCall[];
}

/**
 * One object of `/api/chat` or `/api/generate`: `model` as the client named it (as Ollama echoes it), `created_at` in
 * RFC 3339, the content, `done`, and on the last object the metrics. `thinking` and `tool_calls` appear only when
 * non-empty (with `think: false` there is no `thinking` field: case D14).
 */
export function ollamaObject(
  shape: OllamaShape,
  model: string,
  createdAt: string,
  content: ObjectContent,
  done: boolean,
  metrics?: Partial<OllamaWireMetrics>,
): object {
  const body: Record<string, unknown> = { model, created_at: createdAt };
  if (shape === "chat") {
    const message: Record<string, unknown> = { role: "assistant", content: content.content };
    if (content.thinking) message.thinking = content.thinking;
    if (content.toolCalls && content.toolCalls.length > 0) message.tool_calls = content.toolCalls;
    body.message = message;
  } else {
    body.response = content.content;
    if (content.thinking) body.thinking = content.thinking;
  }
  body.done = done;
  return metrics === undefined ? body : { ...body, ...metrics };
}

/** What {@link respondOllamaGeneration} runs. */
export interface OllamaGenerationOptions {
  shape: OllamaShape;
  /** The model as the client named it. */
  modelName: string;
  /** The id it resolved to. */
  modelId: string;
  /**
   * The name it matched as moestro names models: an alias, or the id (`OllamaContext.resolveModelAsSent`). The
   * generation is asked for it, so that a fallback's header, ledger row and metric name it as the other dialects do
   * (docs/gateway.md, "Fallbacks"). Defaults to `modelId`.
   */
  sentModel?: string;
  request: GenerateRequest;
  keepAliveMs: number | undefined;
  stream: boolean;
  endpoint: UsageEvent["endpoint"];
  /** When the request arrived, `performance.now()` ms. */
  startedAtMs: number;
}

/**
 * Runs an Ollama generation through the serving layer (`startGeneration`: metered, limited, budgeted) and answers it:
 * streamed as NDJSON (Ollama's default) with one `done: false` object per piece of thought, answer or tool call (tool
 * calls never ride on the last object: case D12), then exactly one `done: true` object with `done_reason` and the
 * metrics (case D16); or not streamed, as one object.
 *
 * A `num_predict` larger than the context window leaves beside the prompt is lowered to what it leaves
 * (`startGenerationClamped`): Ollama caps generation at the context instead of refusing it.
 *
 * @throws what `startGeneration` throws (answered in Ollama's error shape before any byte); `context_length_exceeded`
 *   only for a prompt that fills the window by itself.
 */
export async function respondOllamaGeneration(
  c: Context<AppEnv>,
  context: OllamaContext,
  options: OllamaGenerationOptions,
): Promise<Response> {
  const { deps } = context;
  // num_predict beyond what the context holds is capped, as Ollama and llama-server cap it, never refused.
  const { generation } = await startGenerationClamped(c, deps, {
    model: options.sentModel ?? options.modelId,
    keepAliveMs: options.keepAliveMs,
    request: options.request,
    n: 1,
    validator: context.validator,
    schemaParams: ollamaSchemaParams,
    endpoint: options.endpoint,
    stream: options.stream,
  });
  const times: GenerationTimes = {
    startedAtMs: options.startedAtMs,
    admittedAtMs: performance.now(),
    firstPartAtMs: undefined,
    endedAtMs: 0,
  };
  timeFirstPart(generation, times);
  const createdAt = (): string => new Date((deps.now ?? Date.now)()).toISOString();
  const { shape } = options;
  // The name the client sent, as Ollama echoes it; the answering model's id when a fallback answered (docs/gateway.md).
  const modelName = generation.fallback ?? options.modelName;

  if (!options.stream) {
    return await respondCollected(c, generation, (choices, usage) => {
      times.endedAtMs = performance.now();
      const choice = choices[0]!;
      return ollamaObject(
        shape,
        modelName,
        createdAt(),
        { content: choice.text, thinking: choice.reasoning, toolCalls: choice.toolCalls.map(toOllamaToolCall) },
        true,
        toOllamaMetrics(times, usage, toDoneReason(choice.finishReason)),
      );
    });
  }

  let finishReason: FinishReason = "stop";
  let toolCallIndex = 0;
  return streamResponse(
    c,
    deps,
    generation,
    {
      encode: (part) => {
        switch (part.type) {
          case "text-delta":
            return part.text.length > 0 ? [ollamaObject(shape, modelName, createdAt(), { content: part.text }, false)] : [];
          case "reasoning-delta":
            return part.text.length > 0 ? [ollamaObject(shape, modelName, createdAt(), { content: "", thinking: part.text }, false)] : [];
          case "tool-call":
            // Generate has no tool calls (it declares no tools); chat sends each call in a done:false object.
            return [
              ollamaObject(
                shape,
                modelName,
                createdAt(),
                { content: "", toolCalls: [toOllamaToolCall(part.toolCall, toolCallIndex++)] },
                false,
              ),
            ];
          case "finish":
            finishReason = part.finishReason;
            return [];
          default:
            return part satisfies never;
        }
      },
      end: (usage) => {
        times.endedAtMs = performance.now();
        return [
          ollamaObject(shape, modelName, createdAt(), { content: "" }, true, toOllamaMetrics(times, usage, toDoneReason(finishReason))),
        ];
      },
    },
    ollamaNdjson,
  );
}

/** Records when the generation's first part came (the end of the prompt's evaluation), whoever reads the parts. */
function timeFirstPart(generation: StartedGeneration, times: GenerationTimes): void {
  const { parts } = generation;
  const next = parts.next.bind(parts);
  parts.next = async (...args) => {
    const result = await next(...args);
    times.firstPartAtMs ??= performance.now();
    return result;
  };
}

/**
 * Ollama's load and unload idiom (docs/api.md "Load a model", "Unload a model"; case D17): a chat with no messages, or
 * a generate with no prompt, loads the model (and keeps it for `keep_alive`), or unloads it when `keep_alive` is 0.
 * Nothing is generated, so nothing is metered. Answered with one JSON object (`application/json`, even when `stream`
 * is true, as Ollama does): an empty answer, `done: true` and `done_reason` `load` or `unload`.
 *
 * @throws what loading the model throws (`insufficient_memory`…).
 */
export async function respondLoadIdiom(
  c: Context<AppEnv>,
  context: OllamaContext,
  options: { shape: OllamaShape; modelName: string; modelId: string; keepAliveMs: number | undefined },
): Promise<Response> {
  const { deps } = context;
  let doneReason: "load" | "unload";
  if (options.keepAliveMs === 0) {
    await deps.models.unload(options.modelId);
    doneReason = "unload";
  } else {
    const abort = requestSignal(c, deps);
    try {
      await deps.models.load(options.modelId, { signal: abort.signal, keepAliveMs: options.keepAliveMs });
    } catch (error) {
      throw abort.errorFor(error);
    } finally {
      abort.detach();
    }
    doneReason = "load";
  }
  const createdAt = new Date((deps.now ?? Date.now)()).toISOString();
  return c.json(ollamaObject(options.shape, options.modelName, createdAt, { content: "" }, true, { done_reason: doneReason }));
}
