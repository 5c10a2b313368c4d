import type { Context } from "hono";
import type { Usage, UsageEvent } from "../../spec/index.js";
import type { AppDeps, AppEnv } from "../app-env.js";

/**
 * Measures one model request (time to first token, latency, tokens) and reports it to the app's usage sinks exactly
 * once, when `finish` is first called. Routes call `finish` before the response's last byte, and again from `finally`
 * for the aborted and failed paths (the second call does nothing).
 */
export class RequestMeter {
  readonly #deps: AppDeps;
  readonly #base: Pick<UsageEvent, "requestId" | "keyId" | "model" | "endpoint" | "stream" | "startedAtMs">;
  readonly #startedAt = performance.now();
  #firstTokenAt: number | undefined;
  #finished = false;

  constructor(deps: AppDeps, c: Context<AppEnv>, fields: Pick<UsageEvent, "model" | "endpoint" | "stream">) {
    this.#deps = deps;
    this.#base = { ...fields, requestId: c.get("requestId"), keyId: c.get("keyId"), startedAtMs: (deps.now ?? Date.now)() };
  }

  /** Marks the first generated token (the first call counts). */
  markToken(): void {
    this.#firstTokenAt ??= performance.now();
  }

  /** Whether the request was already reported. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Reports the request once. Later calls do nothing.
   *
   * @param usages the usage of each choice that finished (prompt counted once; completions summed).
   */
  async finish(status: UsageEvent["status"], usages: readonly Usage[], errorCode?: string): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const sinks = this.#deps.usageSinks ?? [];
    if (sinks.length === 0) return;
    const event: UsageEvent = {
      ...this.#base,
      status,
      promptTokens: usages[0]?.promptTokens ?? 0,
      cachedPromptTokens: usages[0]?.cachedPromptTokens ?? 0,
      completionTokens: usages.reduce((total, usage) => total + usage.completionTokens, 0),
      reasoningTokens: usages.reduce((total, usage) => total + (usage.reasoningTokens ?? 0), 0),
      timeToFirstTokenMs: this.#firstTokenAt === undefined ? undefined : this.#firstTokenAt - this.#startedAt,
      latencyMs: performance.now() - this.#startedAt,
      errorCode,
    };
    for (const sink of sinks) await sink.record(event);
  }
}
