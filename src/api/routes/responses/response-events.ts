import {
  functionCallItem,
  messageItem,
  reasoningItem,
  type ResponseContext,
  responseStatusOf,
  toWireResponse,
} from "../../../dialects/responses/convert-response.js";
import type { WireOutputItem, WireResponse, WireStreamEvent } from "../../../dialects/responses/wire.js";
import type { FinishReason, Usage } from "../../../spec/index.js";
import { createRandomId } from "../../../util/random-id.js";
import { toWireError } from "../../error-response.js";
import type { StreamEncoder } from "../../serving/respond.js";
import type { ChoicePart } from "../../serving/start-generation.js";

/** The item being streamed: its kind, id, place in `output` and text so far. */
interface OpenItem {
  kind: "reasoning" | "message";
  id: string;
  outputIndex: number;
  text: string;
}

/**
 * Turns a generation's parts into the Responses API's streaming events (OpenAI API reference: Responses, "Streaming
 * events"), in this order (case D18):
 *
 * `response.created`, `response.in_progress`; then per output item `response.output_item.added`, its content
 * (`response.content_part.added`, deltas, their `.done`, `response.content_part.done`) and
 * `response.output_item.done`; last `response.completed`, or `response.incomplete` when `max_output_tokens` cut it.
 *
 * - Reasoning is a `reasoning` item before the message, streamed as its raw text (`reasoning_text` content with
 *   `response.reasoning_text.delta` / `.done`), as OpenAI streams open-weight models' reasoning; there are no
 *   summaries (`summary: []`).
 * - The answer is a `message` item with one `output_text` part (`response.output_text.delta` / `.done`).
 * - Each tool call is a `function_call` item: `response.function_call_arguments.delta` (the whole arguments: moestro
 *   decodes a call before it sends it) then `.done` (case D24).
 *
 * Every event carries `sequence_number`, from 0, one more per event, across the whole stream (failure events
 * included). The final response object has the same `id` and the same items as the events.
 */
export class ResponseEventEncoder implements StreamEncoder {
  readonly #context: ResponseContext;
  readonly #onFinished: (response: WireResponse) => Promise<void>;
  readonly #nowSeconds: () => number;
  #sequence = 0;
  readonly #output: WireOutputItem[] = [];
  #open: OpenItem | undefined;
  #finishReason: FinishReason = "stop";

  /**
   * @param context what the response object echoes.
   * @param options.onFinished called with the final response object before `response.completed` is sent (stores it
   *   when `store` is on); a rejection fails the stream.
   * @param options.nowSeconds the clock, epoch seconds (`completed_at`).
   */
  constructor(context: ResponseContext, options: { onFinished: (response: WireResponse) => Promise<void>; nowSeconds: () => number }) {
    this.#context = context;
    this.#onFinished = options.onFinished;
    this.#nowSeconds = options.nowSeconds;
  }

  start(): WireStreamEvent[] {
    const response = toWireResponse(this.#context, { status: "in_progress", output: [] });
    return [this.#event("response.created", { response }), this.#event("response.in_progress", { response })];
  }

  encode(part: ChoicePart): WireStreamEvent[] {
    const events: WireStreamEvent[] = [];
    switch (part.type) {
      case "reasoning-delta": {
        if (part.text.length === 0) break;
        const item = this.#ensureOpen("reasoning", events);
        item.text += part.text;
        events.push(this.#event("response.reasoning_text.delta", this.#where(item, { delta: part.text })));
        break;
      }
      case "text-delta": {
        if (part.text.length === 0) break;
        const item = this.#ensureOpen("message", events);
        item.text += part.text;
        events.push(this.#event("response.output_text.delta", this.#where(item, { delta: part.text, logprobs: [] })));
        break;
      }
      case "tool-call": {
        this.#close(events, "completed");
        const outputIndex = this.#output.length;
        const item = functionCallItem(createRandomId("fc_"), part.toolCall);
        this.#output.push(item);
        events.push(
          this.#event("response.output_item.added", { output_index: outputIndex, item: { ...item, arguments: "", status: "in_progress" } }),
          this.#event("response.function_call_arguments.delta", { item_id: item.id, output_index: outputIndex, delta: item.arguments }),
          this.#event("response.function_call_arguments.done", {
            item_id: item.id,
            output_index: outputIndex,
            name: item.name,
            arguments: item.arguments,
          }),
          this.#event("response.output_item.done", { output_index: outputIndex, item }),
        );
        break;
      }
      case "finish": {
        this.#finishReason = part.finishReason;
        const status = responseStatusOf(part.finishReason);
        // The message's status says whether it was cut; a thought cut before any answer is incomplete too.
        this.#close(events, status);
        // A finished turn with neither text nor calls still gets its (empty) message, as the collected path does.
        const hasAnswer = this.#output.some((item) => item.type !== "reasoning");
        if (!hasAnswer && status === "completed") {
          this.#ensureOpen("message", events);
          this.#close(events, "completed");
        }
        break;
      }
      default:
        part satisfies never;
    }
    return events;
  }

  async end(usage: Usage): Promise<WireStreamEvent[]> {
    const status = responseStatusOf(this.#finishReason);
    const response = toWireResponse(this.#context, {
      status,
      output: this.#output,
      usage,
      completedAtSeconds: status === "completed" ? this.#nowSeconds() : undefined,
    });
    await this.#onFinished(response);
    return [this.#event(status === "completed" ? "response.completed" : "response.incomplete", { response })];
  }

  /**
   * The events of a failure after the first byte: `error` (its `code`, `message` and `param`, the shape of OpenAI's
   * `error` event), then `response.failed` with the response so far and its `error`, which is what Codex CLI reads.
   */
  failure(error: unknown, requestId: string): WireStreamEvent[] {
    const { error: wire } = toWireError(error, requestId).body;
    const code = wire.code ?? "server_error";
    const response = toWireResponse(this.#context, { status: "failed", output: this.#output, error: { code, message: wire.message } });
    return [this.#event("error", { code, message: wire.message, param: wire.param ?? null }), this.#event("response.failed", { response })];
  }

  #event(type: string, fields: Record<string, unknown>): WireStreamEvent {
    return { type, sequence_number: this.#sequence++, ...fields };
  }

  #where(item: OpenItem, fields: Record<string, unknown>): Record<string, unknown> {
    return { item_id: item.id, output_index: item.outputIndex, content_index: 0, ...fields };
  }

  /** The open item of `kind`, opening it (and closing another) when needed. */
  #ensureOpen(kind: OpenItem["kind"], events: WireStreamEvent[]): OpenItem {
    if (this.#open?.kind === kind) return this.#open;
    this.#close(events, "completed");
    const id = createRandomId(kind === "reasoning" ? "rs_" : "msg_");
    const item: OpenItem = { kind, id, outputIndex: this.#output.length, text: "" };
    this.#open = item;
    // Reserved now, replaced by the finished item on close: later items get the next index.
    this.#output.push(kind === "reasoning" ? reasoningItem(id, "", "completed") : messageItem(id, "", "completed"));
    if (kind === "reasoning") {
      events.push(
        this.#event("response.output_item.added", {
          output_index: item.outputIndex,
          item: { type: "reasoning", id, summary: [], content: [], encrypted_content: null, status: "in_progress" },
        }),
        this.#event("response.content_part.added", this.#where(item, { part: { type: "reasoning_text", text: "" } })),
      );
    } else {
      events.push(
        this.#event("response.output_item.added", {
          output_index: item.outputIndex,
          item: { type: "message", id, status: "in_progress", role: "assistant", content: [] },
        }),
        this.#event(
          "response.content_part.added",
          this.#where(item, { part: { type: "output_text", text: "", annotations: [], logprobs: [] } }),
        ),
      );
    }
    return item;
  }

  /** Closes the open item, if any, with its `.done` events. */
  #close(events: WireStreamEvent[], status: "completed" | "incomplete"): void {
    const item = this.#open;
    if (item === undefined) return;
    this.#open = undefined;
    if (item.kind === "reasoning") {
      const done = reasoningItem(item.id, item.text, status);
      this.#output[item.outputIndex] = done;
      events.push(
        this.#event("response.reasoning_text.done", this.#where(item, { text: item.text })),
        this.#event("response.content_part.done", this.#where(item, { part: done.content[0] })),
        this.#event("response.output_item.done", { output_index: item.outputIndex, item: done }),
      );
    } else {
      const done = messageItem(item.id, item.text, status);
      this.#output[item.outputIndex] = done;
      events.push(
        this.#event("response.output_text.done", this.#where(item, { text: item.text, logprobs: [] })),
        this.#event("response.content_part.done", this.#where(item, { part: done.content[0] })),
        this.#event("response.output_item.done", { output_index: item.outputIndex, item: done }),
      );
    }
  }
}
