/**
 * Whether a served model has a thinking switch, as the server says it, for `moestro eval --thinking both` (a model that
 * cannot think answers the same with thinking off and on: asking it twice doubles the eval's time and cost for nothing).
 */

/** Options of {@link probeThinkingSwitch}. */
export interface ThinkingSwitchProbe {
  /** The server: `http://host:port` or a base URL ending in `/v1` (as `RunEvalOptions.baseUrl`). */
  baseUrl: string;
  /** The model, as the eval names it. */
  model: string;
  /** Sent as `Authorization: Bearer`. Defaults to none. */
  apiKey?: string;
  /** Time limit of the probe, ms. Defaults to 10000. */
  timeoutMs?: number;
  /** Replaces the global `fetch` (tests). */
  fetch?: typeof fetch;
}

/**
 * Asks Ollama's `POST /api/show` (which moestro serves too) for the model's `capabilities`.
 *
 * @returns `false` when the server says the model cannot think: `capabilities` lacks `thinking` and the model's
 *   architecture is known (moestro reports `unknown` for a model it cannot read, such as an upstream model that is not
 *   in use, whose thinking it cannot tell); `true` when it lists `thinking`; `undefined` when the server cannot say (no
 *   `/api/show`: an OpenAI or vLLM server; an error; a timeout). Never throws.
 */
export async function probeThinkingSwitch(options: ThinkingSwitchProbe): Promise<boolean | undefined> {
  const root = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
  try {
    const response = await (options.fetch ?? fetch)(`${root}/api/show`, {
      method: "POST",
      headers,
      body: JSON.stringify({ model: options.model }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { capabilities?: unknown; model_info?: Record<string, unknown> };
    if (!Array.isArray(body.capabilities)) return undefined;
    if (body.capabilities.includes("thinking")) return true;
    const architecture = body.model_info?.["general.architecture"];
    return typeof architecture === "string" && architecture !== "unknown" ? false : undefined;
  } catch {
    return undefined;
  }
}
