import type { Context } from "hono";
import { parseOllamaKeepAliveMs } from "../../../dialects/ollama/convert-request.js";
import { toNanoseconds } from "../../../dialects/ollama/convert-response.js";
import { ollamaEmbeddingsRequestSchema, ollamaEmbedRequestSchema } from "../../../dialects/ollama/schemas.js";
import { parseWith } from "../../../dialects/openai/convert-request.js";
import { MoestroError } from "../../../errors/index.js";
import type { ModelBackend } from "../../../spec/index.js";
import type { AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { requestSignal } from "../../serving/request-abort.js";
import { embedMetered } from "../../serving/embed-metered.js";
import { respondJson } from "../../serving/respond.js";
import type { OllamaContext } from "./ollama-context.js";

/**
 * `POST /api/embed` (docs/api.md "Generate Embeddings"): `input` a string or a list of strings; answers
 * `{model, embeddings, total_duration, load_duration, prompt_eval_count}` with each vector scaled to length 1, as
 * Ollama's are. An empty input loads the model and answers no vectors. `truncate` is accepted, but an input longer than
 * the context is refused (400) rather than cut. `dimensions` must equal the model's size. Metered as `ollama.embed`.
 */
export function createOllamaEmbedHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const startedAtMs = performance.now();
    const request = parseWith(ollamaEmbedRequestSchema, await readJsonBody(c));
    const inputs = (typeof request.input === "string" ? [request.input] : request.input).filter((input) => input.length > 0);
    return await embed(c, context, {
      model: request.model,
      inputs,
      keepAliveMs: parseOllamaKeepAliveMs(request.keep_alive),
      dimensions: request.dimensions ?? undefined,
      render: (embeddings, promptTokens, loadedAtMs) => ({
        model: request.model,
        embeddings: embeddings.map((vector) => Array.from(normalized(vector))),
        total_duration: toNanoseconds(performance.now() - startedAtMs),
        load_duration: toNanoseconds(loadedAtMs - startedAtMs),
        prompt_eval_count: promptTokens,
      }),
    });
  };
}

/**
 * `POST /api/embeddings`, Ollama's older endpoint: one `prompt`, answered `{embedding}` (not normalised, as Ollama's
 * older endpoint answers). Metered as `ollama.embed`.
 */
export function createOllamaEmbeddingsHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseWith(ollamaEmbeddingsRequestSchema, await readJsonBody(c));
    return await embed(c, context, {
      model: request.model,
      inputs: request.prompt.length > 0 ? [request.prompt] : [],
      keepAliveMs: parseOllamaKeepAliveMs(request.keep_alive),
      render: (embeddings) => ({ embedding: embeddings.length > 0 ? Array.from(embeddings[0]!) : [] }),
    });
  };
}

/** Holds the model, embeds the inputs under a usage meter, and answers what `render` makes of the vectors. */
async function embed(
  c: Context<AppEnv>,
  context: OllamaContext,
  options: {
    model: string;
    inputs: string[];
    keepAliveMs: number | undefined;
    dimensions?: number;
    render: (embeddings: Float32Array[], promptTokens: number, loadedAtMs: number) => object;
  },
): Promise<Response> {
  const { deps } = context;
  const id = await context.resolveModel(options.model);
  const abort = requestSignal(c, deps);
  try {
    const lease = await deps.models.acquire(id, { signal: abort.signal, keepAliveMs: options.keepAliveMs });
    const loadedAtMs = performance.now();
    try {
      const backend = lease.backend;
      checkDimensions(backend, options.dimensions);
      // No input: the model is loaded (Ollama's idiom) and nothing is embedded or metered.
      if (options.inputs.length === 0) return c.json(options.render([], 0, loadedAtMs));
      const { meter, embeddings, promptTokens } = await embedMetered(
        c,
        context.deps,
        backend,
        options.inputs,
        abort.signal,
        "ollama.embed",
      );
      return await respondJson(c, meter, options.render(embeddings, promptTokens, loadedAtMs));
    } finally {
      lease.release();
    }
  } catch (error) {
    throw abort.errorFor(error);
  } finally {
    abort.detach();
  }
}

function checkDimensions(backend: ModelBackend, dimensions: number | undefined): void {
  const size = backend.info.embeddingDimensions;
  if (dimensions !== undefined && dimensions !== size) {
    throw new MoestroError(
      "unsupported_parameter",
      `The model '${backend.info.id}' produces ${size}-dimensional embeddings and cannot give ${dimensions}.`,
      { param: "dimensions" },
    );
  }
}

/** `vector` scaled to length 1 (a zero vector stays as it is). */
function normalized(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}
