import type { Context } from "hono";
import { parseWith } from "../../../dialects/openai/convert-request.js";
import { ollamaListName } from "../../../dialects/ollama/model-names.js";
import { ollamaCopyRequestSchema, ollamaModelNameSchema } from "../../../dialects/ollama/schemas.js";
import type { OllamaWireListedModel, OllamaWireRunningModel, OllamaWireShowResponse } from "../../../dialects/ollama/wire.js";
import { MoestroError } from "../../../errors/index.js";
import type { AppEnv } from "../../app-env.js";
import { readJsonBody } from "../../serving/json-body.js";
import { servedContextTokens, toOllamaDetails } from "./model-facts.js";
import { copyKey, namesServedModel, type OllamaContext } from "./ollama-context.js";

/**
 * The version `GET /api/version` reports: the Ollama release whose API moestro follows (docs/ollama.md). Three numeric
 * segments, at least 0.6.4, because VS Code Copilot parses each segment and refuses older servers (case D10).
 */
export const ollamaApiVersion = "0.12.0";

/** `GET /api/version`: `{"version": "0.12.0"}`. */
export function createOllamaVersionHandler() {
  return (c: Context<AppEnv>): Response => c.json({ version: ollamaApiVersion });
}

/**
 * `GET /api/tags` (docs/api.md "List Local Models"): every model moestro can serve, loaded or not, under its id and
 * under each of its aliases and copies (as Ollama lists a copy beside its source), `:latest` added to a name without a
 * tag. `size`, `modified_at` and `details` come from the GGUF file and its header (case D10).
 */
export function createOllamaTagsHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const entries = await context.deps.models.listEntries();
    const models: OllamaWireListedModel[] = [];
    for (const entry of entries) {
      const facts = await context.facts.read(entry.path);
      const copies = [...context.copies].filter(([, id]) => id === entry.id).map(([name]) => name);
      for (const name of [entry.id, ...(entry.aliases ?? []), ...copies]) {
        const listed = ollamaListName(name);
        models.push({
          name: listed,
          model: listed,
          modified_at: new Date(facts?.modifiedAtMs ?? 0).toISOString(),
          size: facts?.sizeBytes ?? 0,
          digest: facts?.digest ?? "",
          details: toOllamaDetails(facts),
        });
      }
    }
    return c.json({ models });
  };
}

/**
 * `POST /api/show` (docs/api.md "Show Model Information"; case D11): `model`, or `name` as older clients send it.
 * `capabilities` holds `completion`, plus `tools` and `thinking` when the model's vocabulary has their tokens (moestro
 * embeds with any model, but lists `embedding` for none: the models are chat models). `model_info` has
 * `general.architecture` and `<architecture>.context_length`: the context the model runs with (a loaded model's own,
 * else the configured one). `modelfile`, `parameters` and `template` are strings (the template is the GGUF's).
 */
export function createOllamaShowHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const body = parseWith(ollamaModelNameSchema, await readJsonBody(c));
    const name = (body.model ?? body.name)!;
    const id = await context.resolveModel(name);
    const entry = await context.entryOf(id);
    const facts = await context.facts.read(entry.path);
    const backend = context.deps.models.loadedBackends().find((loaded) => loaded.info.id === id);
    const architecture = backend?.info.architecture ?? facts?.architecture ?? "unknown";
    const contextTokens = servedContextTokens(facts, backend?.info.contextTokens, context.deps.ollama?.contextTokens);
    const capabilities = ["completion"];
    if (backend?.info.canCallTools ?? facts?.canCallTools) capabilities.push("tools");
    if (backend?.info.canThink ?? facts?.canThink) capabilities.push("thinking");
    const modelInfo: Record<string, unknown> = {
      "general.architecture": architecture,
      "general.parameter_count": facts?.parameterCount ?? 0,
      [`${architecture}.context_length`]: contextTokens,
      [`${architecture}.embedding_length`]: backend?.info.embeddingDimensions ?? facts?.embeddingLength ?? 0,
    };
    if (facts?.fileType !== undefined) modelInfo["general.file_type"] = facts.fileType;
    const response: OllamaWireShowResponse = {
      modelfile: `# Modelfile of '${id}', served by moestro\nFROM ${id}\nPARAMETER num_ctx ${contextTokens}\n`,
      parameters: `num_ctx ${contextTokens}`,
      template: facts?.chatTemplate ?? "",
      details: toOllamaDetails(facts),
      model_info: modelInfo,
      capabilities,
      modified_at: new Date(facts?.modifiedAtMs ?? 0).toISOString(),
    };
    return c.json(response);
  };
}

/** How far ahead `/api/ps` puts `expires_at` for a model kept loaded (a negative `keep_alive`) or in use: 100 years. */
const foreverMs = 100 * 365 * 24 * 3600 * 1000;

/**
 * `GET /api/ps` (docs/api.md "List Running Models"): the loaded models with `size` (moestro's memory estimate),
 * `size_vram` (the same when layers sit on a GPU, else 0), `context_length` (per sequence) and `expires_at` (when it
 * unloads if it stays idle; far in the future when it is kept loaded or in use).
 */
export function createOllamaPsHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const { models } = context.deps;
    const nowMs = (context.deps.now ?? Date.now)();
    const backends = new Map(models.loadedBackends().map((backend) => [backend.info.id, backend]));
    const running: OllamaWireRunningModel[] = [];
    for (const loaded of models.listLoaded()) {
      const backend = backends.get(loaded.id);
      const facts = backend === undefined ? undefined : await context.facts.read(backend.info.path);
      const name = ollamaListName(loaded.id);
      running.push({
        name,
        model: name,
        size: loaded.memoryBytes,
        digest: facts?.digest ?? "",
        details: toOllamaDetails(facts),
        expires_at: new Date(loaded.expiresAtMs ?? nowMs + foreverMs).toISOString(),
        size_vram: loaded.engine.placement.gpuLayers > 0 ? loaded.memoryBytes : 0,
        context_length: backend?.info.contextTokens ?? servedContextTokens(facts, undefined, context.deps.ollama?.contextTokens),
      });
    }
    return c.json({ models: running });
  };
}

/**
 * `POST /api/copy` `{source, destination}`: in moestro a copy is another name for the same model, kept by the server
 * until it stops (docs/ollama.md, "Copy and delete"): listed by `/api/tags`, usable everywhere a model is named,
 * removed by `/api/delete`. For a name that lasts, add an alias to the config.
 *
 * @throws {MoestroError} `model_not_found` (404) for an unknown source; `invalid_request` (400) when the destination
 *   already names a model (a copy is never written over a model).
 */
export function createOllamaCopyHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const body = parseWith(ollamaCopyRequestSchema, await readJsonBody(c));
    const id = await context.resolveModel(body.source);
    const destination = body.destination.trim().replace(/:latest$/, "");
    if (namesServedModel(destination, await context.deps.models.listEntries())) {
      throw new MoestroError("invalid_request", `destination '${body.destination}' already names a model; choose another name.`, {
        param: "destination",
      });
    }
    context.copies.set(destination, id);
    return c.body(null, 200);
  };
}

/**
 * `DELETE /api/delete` `{model}` (or `name`): removes a copy (`/api/copy`), or deletes a pulled model from the store
 * (unloading it first). A model named on the command line or in the config, or a config alias, cannot be deleted over
 * the API (400 saying so).
 *
 * @throws {MoestroError} `model_not_found` (404) for an unknown name; `invalid_request` (400) for a config model or
 *   alias.
 */
export function createOllamaDeleteHandler(context: OllamaContext) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const body = parseWith(ollamaModelNameSchema, await readJsonBody(c));
    const name = (body.model ?? body.name)!;
    const copy = copyKey(context.copies, name);
    if (copy !== undefined) {
      context.copies.delete(copy);
      return c.body(null, 200);
    }
    const id = await context.resolveModel(name);
    const entry = await context.entryOf(id);
    const untagged = name.trim().replace(/:latest$/, "");
    if (entry.source === "config" || (untagged !== id && entry.aliases?.includes(untagged))) {
      throw new MoestroError(
        "invalid_request",
        `'${name}' is ${entry.source === "config" ? "a model served from the command line or config (--model)" : "an alias in the config"}; remove it there, not over the API.`,
        { param: "model" },
      );
    }
    const remove = context.deps.ollama?.removeStoredModel;
    if (remove === undefined) throw new MoestroError("model_not_found", `model '${name}' not found in a model store.`, { param: "model" });
    await context.deps.models.unload(id);
    await remove(id);
    for (const [copyName, target] of context.copies) if (target === id) context.copies.delete(copyName);
    return c.body(null, 200);
  };
}
