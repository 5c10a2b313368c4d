import type { Context } from "hono";
import { findOllamaModel, latestTag } from "../../dialects/ollama/model-names.js";
import type { ModelRegistry } from "../../spec/index.js";
import { entryNamed } from "../../models/entry-named.js";
import type { AppEnv } from "../app-env.js";

/**
 * The model name the OpenAI- and Anthropic-compatible routes (`/v1/chat/completions`, `/v1/completions`,
 * `/v1/embeddings`, `/v1/responses`, `/v1/messages` and its `count_tokens`) hold the model under, from the `model` the
 * client sent.
 *
 * - A name some model has as its id or alias is kept as it is (ids are case-sensitive here, as OpenAI's are).
 * - Else a name ending in `:latest` whose untagged name is an id or alias is that id: `/api/tags` lists an untagged id
 *   `stories260K` as `stories260K:latest` (Ollama always shows a tag), and Ollama's users point OpenAI clients at `/v1`
 *   with the names `/api/tags` gives them; Ollama's own resolution drops `:latest` the same way
 *   (`ollamaNameCandidates`).
 * - On the Ollama port (`--ollama-port`: the `ollamaNames` variable), where clients written for Ollama call `/v1` as
 *   Ollama's own `/v1` takes names, Ollama's rules apply in full (`findOllamaModel`: ids compared without case last,
 *   `hf.co/owner/repo:QUANT` names); copies made by `/api/copy` are left to the Ollama routes.
 * - Anything else is returned unchanged, for `ModelRegistry.acquire` to refuse with `model_not_found` (404) or a
 *   gateway pool to take.
 *
 * The entries are listed only for a name ending in `:latest`, or on the Ollama port; other requests cost nothing here.
 */
export async function servedModelName(
  c: Context<AppEnv>,
  deps: { models: Pick<ModelRegistry, "listEntries"> },
  model: string,
): Promise<string> {
  const ollamaNames = c.get("ollamaNames") === true;
  if (!ollamaNames && !model.endsWith(latestTag)) return model;
  const entries = await deps.models.listEntries();
  if (entryNamed(model, entries) !== undefined) return model;
  if (ollamaNames) return findOllamaModel(model, entries, new Map()) ?? model;
  const untagged = model.slice(0, -latestTag.length);
  return entryNamed(untagged, entries) !== undefined ? untagged : model;
}
