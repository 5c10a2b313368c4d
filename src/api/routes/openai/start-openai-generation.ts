import type { Context } from "hono";
import { openAiSchemaParams, parseKeepAliveMs } from "../../../dialects/openai/convert-request.js";
import type { GenerateRequest, UsageEvent } from "../../../spec/index.js";
import { createRandomId } from "../../../util/random-id.js";
import type { AppDeps, AppEnv } from "../../app-env.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { startGeneration, type StartedGeneration } from "../../serving/start-generation.js";

/** The fields of an OpenAI generation request that decide how it is admitted (chat completions and completions share them). */
export interface OpenAiGenerationFields {
  model: string;
  keep_alive?: number | string | null;
  n?: number | null;
  stream?: boolean | null;
}

/** An admitted OpenAI generation with what every response of it carries. */
export interface OpenAiGeneration {
  generation: StartedGeneration;
  /** The response id (`chatcmpl-…`, `cmpl-…`). */
  id: string;
  /** OpenAI's `created`, epoch seconds. */
  created: number;
}

/**
 * Admits an OpenAI chat completion or completion (`startGeneration`) and prepares what its responses share: the
 * response id and `created`.
 *
 * @throws what `startGeneration` throws; `invalid_request` (400) naming `keep_alive` when it cannot be read.
 */
export async function startOpenAiGeneration(
  c: Context<AppEnv>,
  deps: AppDeps,
  options: {
    request: OpenAiGenerationFields;
    generateRequest: GenerateRequest;
    validator: SchemaValidator;
    endpoint: UsageEvent["endpoint"];
    idPrefix: string;
  },
): Promise<OpenAiGeneration> {
  const { request } = options;
  const generation = await startGeneration(c, deps, {
    model: request.model,
    keepAliveMs: parseKeepAliveMs(request.keep_alive),
    request: options.generateRequest,
    n: request.n ?? 1,
    validator: options.validator,
    schemaParams: openAiSchemaParams,
    endpoint: options.endpoint,
    stream: request.stream === true,
  });
  return {
    generation,
    id: createRandomId(options.idPrefix),
    created: Math.floor((deps.now ?? Date.now)() / 1000),
  };
}
