import type { WireError } from "../openai/wire.js";

/** Ollama's error body (Ollama docs, "Errors"): `{"error": "message"}`. */
export interface OllamaWireError {
  error: string;
}

/**
 * Translates moestro's error (its OpenAI body and status, from `toWireError`) into Ollama's: the message alone, under
 * the same status (Ollama answers 400 for a bad request, 404 for an unknown model, 500 for a failure; the statuses
 * moestro adds, 401, 403, 413, 429 and 503, are kept as they are, since Ollama's clients read only the message).
 */
export function toOllamaError(status: number, body: WireError): { status: number; body: OllamaWireError } {
  return { status, body: { error: body.error.message } };
}
