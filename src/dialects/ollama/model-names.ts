import { MoestroError } from "../../errors/index.js";
import { modelRefName, parseModelRef } from "../../models/model-ref.js";
import type { ModelEntry } from "../../spec/index.js";

/**
 * Model names as Ollama users write them, and moestro's models under them.
 *
 * Ollama names are `NAME[:TAG]`, `:latest` when the tag is left out (Ollama's docs/api.md "Model names"); Hugging Face
 * models pulled by Ollama are `hf.co/owner/repo:QUANT`. moestro serves models under their ids (`tiny-qwen3moe`,
 * `Qwen/Qwen3-0.6B-GGUF:Q8_0` for a pulled one), aliases from the config (`qwen3:30b-a3b`) and copies made by
 * `/api/copy`.
 */

/** The tag Ollama adds to a name without one. */
export const latestTag = ":latest";

/**
 * The name a model is listed under in Ollama's lists (`/api/tags`, `/api/ps`): its id, with `:latest` added when it
 * has no tag (Ollama always shows one; clients send the name back, and {@link resolveOllamaModel} reads both).
 */
export function ollamaListName(id: string): string {
  return hasTag(id) ? id : `${id}${latestTag}`;
}

/** Whether a name has a tag: a `:` after its last `/`. */
function hasTag(name: string): boolean {
  return name.slice(name.lastIndexOf("/") + 1).includes(":");
}

/**
 * The spellings a name may reach a model under, in order: as written; without `:latest`; and for a Hugging Face name
 * (`hf.co/owner/repo:QUANT`, `huggingface.co/…`, `hf:…`) moestro's store name (`owner/repo:QUANT`, Q4_K_M when no
 * quantization is given, as Ollama and llama.cpp choose).
 */
export function ollamaNameCandidates(name: string): string[] {
  const candidates = [name];
  const untagged = name.endsWith(latestTag) ? name.slice(0, -latestTag.length) : undefined;
  if (untagged !== undefined) candidates.push(untagged);
  const hubName = hubModelName(untagged ?? name);
  if (hubName !== undefined) candidates.push(hubName);
  return candidates;
}

/** moestro's store name of a Hugging Face reference in any of its spellings, or `undefined` for another name. */
function hubModelName(name: string): string | undefined {
  if (!/^(hf:|huggingface:|hf\.co\/|huggingface\.co\/)/i.test(name)) return undefined;
  try {
    return modelRefName(parseModelRef(name));
  } catch {
    return undefined;
  }
}

/**
 * The id of the model `name` reaches among `entries` (by id, then alias, then a copy in `copies`, for each spelling of
 * {@link ollamaNameCandidates}; ids are compared without case last, as Ollama's names are).
 *
 * @throws {MoestroError} `model_not_found` (404) `model '<name>' not found`, as Ollama answers (case D11), naming the
 *   models served.
 */
export function resolveOllamaModel(name: string, entries: readonly ModelEntry[], copies: ReadonlyMap<string, string>): string {
  return resolveOllamaModelAsSent(name, entries, copies).id;
}

/**
 * As {@link resolveOllamaModel}, with the name as sent ({@link findOllamaModelAsSent}).
 *
 * @throws {MoestroError} as {@link resolveOllamaModel}.
 */
export function resolveOllamaModelAsSent(
  name: string,
  entries: readonly ModelEntry[],
  copies: ReadonlyMap<string, string>,
): { id: string; sent: string } {
  const found = findOllamaModelAsSent(name, entries, copies);
  if (found !== undefined) return found;
  const served = entries.map((entry) => ollamaListName(entry.id)).join(", ");
  throw new MoestroError("model_not_found", `model '${name}' not found; models served here: ${served || "none"}.`, { param: "model" });
}

/** As {@link resolveOllamaModel}, `undefined` when no model has the name. */
export function findOllamaModel(name: string, entries: readonly ModelEntry[], copies: ReadonlyMap<string, string>): string | undefined {
  return findOllamaModelAsSent(name, entries, copies)?.id;
}

/**
 * As {@link findOllamaModel}, with the name the Ollama name matched as moestro names models (`sent`): the alias when it
 * matched one (`story:latest` → `story`), else the id. The gateway's fallbacks and the ledger's `requested_model` take
 * that name, as the other dialects' requests send it (docs/gateway.md, "Fallbacks").
 */
export function findOllamaModelAsSent(
  name: string,
  entries: readonly ModelEntry[],
  copies: ReadonlyMap<string, string>,
): { id: string; sent: string } | undefined {
  const candidates = ollamaNameCandidates(name.trim());
  for (const candidate of candidates) {
    const byId = entries.find((entry) => entry.id === candidate);
    if (byId !== undefined) return { id: byId.id, sent: byId.id };
    const byAlias = entries.find((entry) => entry.aliases?.includes(candidate));
    if (byAlias !== undefined) return { id: byAlias.id, sent: candidate };
    const copied = copies.get(candidate);
    if (copied !== undefined && entries.some((entry) => entry.id === copied)) return { id: copied, sent: copied };
  }
  for (const candidate of candidates) {
    const lower = candidate.toLowerCase();
    const byId = entries.find((entry) => entry.id.toLowerCase() === lower);
    if (byId !== undefined) return { id: byId.id, sent: byId.id };
  }
  return undefined;
}

/**
 * What `/api/pull` pulls for an Ollama name: a Hugging Face name as moestro's `hf:` reference (`hf.co/owner/repo:QUANT`
 * → `hf:owner/repo:QUANT`, `:latest` meaning the default quantization); a config alias as its target; an `hf:`
 * reference or an http(s) URL as it is.
 *
 * @throws {MoestroError} `invalid_request` (400, `param: "model"`) for any other name (an Ollama library name such as
 *   `qwen3:30b-a3b` that is no alias, a local path): moestro pulls GGUF files from Hugging Face, not Ollama's library;
 *   the message says what to send instead.
 */
export function ollamaPullReference(name: string, aliases: Readonly<Record<string, string>>): string {
  const trimmed = name.trim();
  for (const candidate of [trimmed, trimmed.endsWith(latestTag) ? trimmed.slice(0, -latestTag.length) : undefined]) {
    if (candidate === undefined) continue;
    const target = aliases[candidate];
    if (target !== undefined) return target;
  }
  if (/^https?:\/\//i.test(trimmed) || /^hf:/i.test(trimmed)) return trimmed;
  const hubName = hubModelName(trimmed.endsWith(latestTag) ? trimmed.slice(0, -latestTag.length) : trimmed);
  if (hubName !== undefined) return `hf:${hubName}`;
  throw new MoestroError(
    "invalid_request",
    `'${trimmed}' is no Hugging Face model: moestro pulls GGUF models from Hugging Face, not from Ollama's library (names such as qwen3:30b-a3b). Pull hf.co/OWNER/REPO:QUANT (for example hf.co/Qwen/Qwen3-0.6B-GGUF:Q8_0), or name it in the config's aliases ("aliases": {"${trimmed}": "hf:OWNER/REPO:QUANT"}) and pull '${trimmed}' again.`,
    { param: "model" },
  );
}
