import type { ModelEntry } from "../spec/index.js";

/**
 * The entry a client's `model` names among `entries`: the entry with that id, else the first with that alias (the rule
 * of `ModelRegistry.findEntry`, which routing follows; key scopes read names by it too, so a scope reaches exactly the
 * model a request would). `undefined` when no entry answers to `name`.
 */
export function entryNamed(name: string, entries: readonly ModelEntry[]): ModelEntry | undefined {
  return entries.find((entry) => entry.id === name) ?? entries.find((entry) => entry.aliases?.includes(name) === true);
}
