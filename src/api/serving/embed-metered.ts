import type { Context } from "hono";
import type { ModelBackend, UsageEndpoint } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";
import { embeddingAdmission, RequestMeter } from "./request-meter.js";

/** What {@link embedMetered} gives back: the vectors, the tokens they took, and the meter to report the answer with. */
export interface MeteredEmbeddings {
  /** One vector per input, in input order. */
  embeddings: Float32Array[];
  /** Tokens of all inputs together. */
  promptTokens: number;
  /** The request's meter, its usage observed: answer through `respondJson` (or `reportOnDelivery`) so it is reported. */
  meter: RequestMeter;
}

/**
 * Embeds `inputs` with a held model under the usage meter, for every dialect's embeddings route (OpenAI's
 * `/v1/embeddings`, Ollama's `/api/embed` and `/api/embeddings`): the admission is reported first (its `running` ledger
 * row and budget reservation), a failure is reported as such before it is thrown, and the tokens are observed.
 *
 * @throws what `RequestMeter.start` throws (`insufficient_quota`); what `backend.embed` throws (after reporting it).
 */
export async function embedMetered(
  c: Context<AppEnv>,
  deps: AppDeps,
  backend: ModelBackend,
  inputs: Array<string | number[]>,
  signal: AbortSignal,
  endpoint: UsageEndpoint,
): Promise<MeteredEmbeddings> {
  const meter = new RequestMeter(deps, c, { model: backend.info.id, endpoint, stream: false, engine: backend.engine().kind, signal });
  await meter.start(embeddingAdmission(inputs));
  let result: Awaited<ReturnType<ModelBackend["embed"]>>;
  try {
    result = await backend.embed(inputs, { signal });
  } catch (error) {
    await meter.endWithError(error);
    throw error;
  }
  meter.observeUsage({
    promptTokens: result.promptTokens,
    completionTokens: 0,
    ...(result.engineTimeMs === undefined ? {} : { engineTimeMs: result.engineTimeMs }),
  });
  return { embeddings: result.embeddings, promptTokens: result.promptTokens, meter };
}
