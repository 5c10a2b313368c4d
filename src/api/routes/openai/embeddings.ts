import type { Context } from "hono";
import { MoestroError } from "../../../errors/index.js";
import { parseEmbeddingRequest, parseKeepAliveMs } from "../../../dialects/openai/convert-request.js";
import { type EmbeddingRequest, requestListLimits } from "../../../dialects/openai/schemas.js";
import type { ModelBackend } from "../../../spec/index.js";
import type { WireEmbeddingList } from "../../../dialects/openai/wire.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { embedMetered } from "../../serving/embed-metered.js";
import { respondWithJsonInSlices } from "../../serving/json-in-slices.js";
import { requestSignal } from "../../serving/request-abort.js";
import { servedModelName } from "../../serving/served-model-name.js";
import { reportOnDelivery, respondJson } from "../../serving/respond.js";

/**
 * `POST /v1/embeddings` (OpenAI API reference: Embeddings, create) from any loaded GGUF: the model's pooled hidden state.
 * `input` is a string, a list of strings, a list of token ids, or a list of token-id lists; results come in input order.
 * `encoding_format: "base64"` gives little-endian float32 bytes. `dimensions` is accepted only when it equals the
 * model's size (GGUF models cannot shorten their vectors).
 */
export function createEmbeddingsHandler(deps: AppDeps) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const request = parseEmbeddingRequest(await readJsonBody(c));
    const inputs = toInputs(request.input);
    if (inputs.length === 0) throw new MoestroError("invalid_request", "input must not be empty.", { param: "input" });
    if (inputs.length > requestListLimits.embeddingInputs) {
      throw new MoestroError(
        "invalid_request",
        `input has ${inputs.length} items; at most ${requestListLimits.embeddingInputs} are allowed per request.`,
        { param: "input" },
      );
    }
    const abort = requestSignal(c, deps);
    try {
      const lease = await deps.models.acquire(await servedModelName(c, deps, request.model), {
        signal: abort.signal,
        keepAliveMs: parseKeepAliveMs(request.keep_alive),
      });
      try {
        return await respond(c, deps, lease.backend, request, inputs, abort.signal);
      } finally {
        lease.release();
      }
    } catch (error) {
      throw abort.errorFor(error);
    } finally {
      abort.detach();
    }
  };
}

/** Embeds the inputs with a held model and answers in OpenAI's list format. */
async function respond(
  c: Context<AppEnv>,
  deps: AppDeps,
  backend: ModelBackend,
  request: EmbeddingRequest,
  inputs: Array<string | number[]>,
  signal: AbortSignal,
): Promise<Response> {
  const dimensions = backend.info.embeddingDimensions;
  if (request.dimensions !== undefined && request.dimensions !== null && request.dimensions !== dimensions) {
    throw new MoestroError(
      "unsupported_parameter",
      `The model '${backend.info.id}' produces ${dimensions}-dimensional embeddings and cannot give ${request.dimensions}.`,
      { param: "dimensions" },
    );
  }
  const { meter, embeddings, promptTokens } = await embedMetered(c, deps, backend, inputs, signal, "embeddings");
  const base64 = request.encoding_format === "base64";
  const item = (index: number): WireEmbeddingList["data"][number] => {
    const vector = embeddings[index]!;
    return { object: "embedding", index, embedding: base64 ? toBase64(vector) : Array.from(vector) };
  };
  const usage: WireEmbeddingList["usage"] = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  if (embeddings.length * dimensions > slicedResponseFloats) {
    const response = respondWithJsonInSlices(c, {
      head: { object: "list" },
      listKey: "data",
      itemCount: embeddings.length,
      item,
      tail: { model: backend.info.id, usage },
    });
    return await reportOnDelivery(c, meter, response);
  }
  const response: WireEmbeddingList = { object: "list", data: embeddings.map((_, index) => item(index)), model: backend.info.id, usage };
  return await respondJson(c, meter, response);
}

/**
 * Above this many floats in all, the response is written in slices (`respondWithJsonInSlices`): serialising 65,536 floats
 * takes about 10 ms, 8 million (2,048 vectors of 4,096) 1.1 s.
 */
const slicedResponseFloats = 65_536;

function toInputs(input: EmbeddingRequest["input"]): Array<string | number[]> {
  if (typeof input === "string") return [input];
  if (input.length === 0) return [];
  if (typeof input[0] === "number") return [input as number[]];
  return input as Array<string | number[]>;
}

/** Little-endian float32 bytes, base64 (what OpenAI's SDKs decode). */
function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (const [index, value] of vector.entries()) bytes.writeFloatLE(value, index * 4);
  return bytes.toString("base64");
}
