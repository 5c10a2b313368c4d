/** What the console is doing to a model: loading it into memory or unloading it. */
export type ModelAction = "loading" | "unloading";

/** The models being loaded or unloaded now, by id: their buttons say so and are disabled until the action ends. */
export type BusyModels = Readonly<Record<string, ModelAction>>;

/**
 * Whether a model is a Mixture of Experts: its facts (the model list's or its plan's) give an expert count. `false`
 * when the facts are not known (`undefined` or `null`: the server did not read the GGUF header).
 */
export function isMoe(facts: { readonly expert_count: number | null } | null | undefined): boolean {
  return facts !== undefined && facts !== null && facts.expert_count !== null;
}
