import { findOllamaModel, latestTag, resolveOllamaModel, resolveOllamaModelAsSent } from "../../../dialects/ollama/model-names.js";
import type { ModelEntry } from "../../../spec/index.js";
import type { AppDeps } from "../../app-env.js";
import type { SchemaValidator } from "../../serving/schema-validator.js";
import { createOllamaModelFactsReader, type OllamaModelFactsReader } from "./model-facts.js";

/** What the Ollama routes need beyond the rest of the app (`AppDeps.ollama`); every field is optional. */
export interface OllamaDeps {
  /**
   * The config's aliases (alias → model id or `hf:` reference), so that `/api/pull` of an alias pulls its target.
   * Defaults to none.
   */
  aliases?: Readonly<Record<string, string>>;
  /** The configured context per sequence (`engine.contextTokens`), for models not loaded yet. Defaults to the engines' rule. */
  contextTokens?: number;
  /** Deletes a pulled model from the store (`/api/delete`). Defaults to none: `/api/delete` of a pulled model answers 404. */
  removeStoredModel?: (name: string) => Promise<void>;
}

/** What every Ollama route shares, made once per app by `createOllamaRoutes`. */
export interface OllamaContext {
  deps: AppDeps;
  validator: SchemaValidator;
  /** GGUF header facts, cached per file. */
  facts: OllamaModelFactsReader;
  /**
   * Copies made by `/api/copy`: name (without `:latest`) → model id. Kept for the app's lifetime, not across restarts
   * (docs/ollama.md, "Copy and delete").
   */
  copies: Map<string, string>;
  /**
   * The id of the model an Ollama name reaches (see `resolveOllamaModel`).
   *
   * @throws {MoestroError} `model_not_found` (404) `model '<name>' not found`.
   */
  resolveModel(name: string): Promise<string>;
  /**
   * The id of the model an Ollama name reaches, and the name it matched as moestro names models (the alias when it
   * matched one, else the id; see `resolveOllamaModelAsSent`): generations send that name on, as the other dialects do.
   *
   * @throws {MoestroError} `model_not_found` (404) `model '<name>' not found`.
   */
  resolveModelAsSent(name: string): Promise<{ id: string; sent: string }>;
  /** The entry of a model id. */
  entryOf(id: string): Promise<ModelEntry>;
}

/** Creates the {@link OllamaContext} of an app. */
export function createOllamaContext(deps: AppDeps, validator: SchemaValidator): OllamaContext {
  const copies = new Map<string, string>();
  return {
    deps,
    validator,
    facts: createOllamaModelFactsReader(),
    copies,
    resolveModel: async (name) => resolveOllamaModel(name, await deps.models.listEntries(), copies),
    resolveModelAsSent: async (name) => resolveOllamaModelAsSent(name, await deps.models.listEntries(), copies),
    entryOf: async (id) => await deps.models.findEntry(id),
  };
}

/** The copy a name names (with or without `:latest`), or `undefined`. */
export function copyKey(copies: ReadonlyMap<string, string>, name: string): string | undefined {
  const trimmed = name.trim();
  const key = trimmed.endsWith(latestTag) ? trimmed.slice(0, -latestTag.length) : trimmed;
  return copies.has(key) ? key : undefined;
}

/** Whether `name` reaches a model without counting copies (a config id or alias, a pulled model). */
export function namesServedModel(name: string, entries: readonly ModelEntry[]): boolean {
  return findOllamaModel(name, entries, new Map()) !== undefined;
}
