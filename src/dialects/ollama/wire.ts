/**
 * Ollama's response bodies as moestro sends them (Ollama's docs/api.md). snake_case as on the wire; durations in
 * nanoseconds ("All durations are returned in nanoseconds"), times as RFC 3339.
 */

/** A tool call in Ollama's shape: `arguments` is a JSON object (case D12). */
export interface OllamaWireToolCall {
  id: string;
  function: { index: number; name: string; arguments: Record<string, unknown> };
}

/** The metrics of the last object of a generation (`done: true`). */
export interface OllamaWireMetrics {
  /** Why it ended: `stop`, `length`, `load` or `unload`. */
  done_reason: "stop" | "length" | "load" | "unload";
  /** Whole request, ns. */
  total_duration: number;
  /** Getting the model (loading it when it was not loaded) and admitting the request, ns. */
  load_duration: number;
  /** Prompt tokens. */
  prompt_eval_count: number;
  /** Prompt evaluation (until the first generated token), ns. */
  prompt_eval_duration: number;
  /** Generated tokens. */
  eval_count: number;
  /** Generation after the first token, ns. */
  eval_duration: number;
}

/** One object of `/api/chat` (streamed: a delta; not streamed: the whole message). */
export interface OllamaWireChatChunk extends Partial<OllamaWireMetrics> {
  model: string;
  created_at: string;
  message: { role: "assistant"; content: string; thinking?: string; tool_calls?: OllamaWireToolCall[] };
  done: boolean;
}

/** One object of `/api/generate`. */
export interface OllamaWireGenerateChunk extends Partial<OllamaWireMetrics> {
  model: string;
  created_at: string;
  response: string;
  thinking?: string;
  done: boolean;
}

/** `details` of a model in `/api/tags`, `/api/show` and `/api/ps`. */
export interface OllamaWireModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

/** One model of `/api/tags`. */
export interface OllamaWireListedModel {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  digest: string;
  details: OllamaWireModelDetails;
}

/** One model of `/api/ps`. */
export interface OllamaWireRunningModel {
  name: string;
  model: string;
  size: number;
  digest: string;
  details: OllamaWireModelDetails;
  expires_at: string;
  size_vram: number;
  context_length: number;
}

/** `/api/show`. */
export interface OllamaWireShowResponse {
  modelfile: string;
  parameters: string;
  template: string;
  details: OllamaWireModelDetails;
  model_info: Record<string, unknown>;
  capabilities: string[];
  modified_at: string;
}

/** One line of `/api/pull`. */
export interface OllamaWirePullProgress {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}
