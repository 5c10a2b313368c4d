import type { Config } from "../config/index.js";
import { MoestroError, type ErrorCode } from "../errors/index.js";

/**
 * Why a request moves to a fallback model (docs/gateway.md, "Fallbacks"):
 * - `context`: the prompt does not fit the model's context (`context_length_exceeded`): `pools.*.contextFallbacks`.
 * - `unavailable`: the model cannot take the request now: it is unknown (`model_not_found`), or no member of its pool
 *   could answer before the first byte (`upstream_failed`, `upstream_timeout`, `upstream_rate_limited`), or its local
 *   model cannot (`server_busy`, `worker_failed`, `insufficient_memory`): `pools.*.fallbacks`.
 */
export type FallbackKind = "context" | "unavailable";

/** The error codes that move a request to `pools.*.fallbacks` (LiteLLM's `fallbacks`: the model cannot serve it now). */
const unavailableCodes = new Set<ErrorCode>([
  "model_not_found",
  "upstream_failed",
  "upstream_timeout",
  "upstream_rate_limited",
  "server_busy",
  "worker_failed",
  "insufficient_memory",
]);

/** Which fallbacks an error calls for, or `undefined` when none do (the request's own faults, an abort). */
export function fallbackKindOf(error: unknown): FallbackKind | undefined {
  if (!(error instanceof MoestroError)) return undefined;
  if (error.code === "context_length_exceeded") return "context";
  return unavailableCodes.has(error.code) ? "unavailable" : undefined;
}

/** The property under which an upstream backend's final error carries the attempts it made (see {@link withAttempts}). */
const attemptsKey = Symbol("moestro.attempts");

/**
 * Tags the error a pool's backend throws after its members all failed with how many members it tried, so that a
 * fallback's ledger row counts them (`attempts` sums over the pools tried). Returns `error`.
 */
export function withAttempts<E>(error: E, attempts: number): E {
  // A thrown primitive cannot carry it: it counts as one attempt (attemptsOf).
  if (typeof error === "object" && error !== null && Object.isExtensible(error))
    Object.defineProperty(error, attemptsKey, { value: attempts, configurable: true });
  return error;
}

/** The attempts an error says were made ({@link withAttempts}); 1 for any other error (one model was asked). */
export function attemptsOf(error: unknown): number {
  const attempts = typeof error === "object" && error !== null ? (error as Record<symbol, unknown>)[attemptsKey] : undefined;
  return typeof attempts === "number" ? attempts : 1;
}

/** The fallbacks of one pool, names as configured (model ids or aliases). */
interface PoolFallbacks {
  context: readonly string[];
  unavailable: readonly string[];
}

/** Options of {@link FallbackRoutes}. */
export interface FallbackRoutesOptions {
  /** `config.pools`. */
  pools: Config["pools"];
  /** `config.aliases`: a pool's key, a fallback and the model asked for are compared through them. */
  aliases?: Readonly<Record<string, string>>;
  /** `config.gateway.maxFallbacks`: fallback models one request may move to. */
  maxFallbacks: number;
}

/**
 * The fallback rules of every pool (config `pools`): which model a request tries next when the one it asked for fails
 * before its first byte (docs/gateway.md, "Fallbacks"). Names are compared through the aliases (one level), so that a
 * rule keyed by an alias applies to requests that name its model id, and the reverse.
 */
export class FallbackRoutes {
  readonly maxFallbacks: number;
  readonly #rules = new Map<string, PoolFallbacks>();
  readonly #localWeights = new Map<string, number>();
  readonly #aliases: Readonly<Record<string, string>>;

  constructor(options: FallbackRoutesOptions) {
    this.maxFallbacks = options.maxFallbacks;
    this.#aliases = options.aliases ?? {};
    for (const [name, entry] of Object.entries(options.pools)) {
      const key = this.canonical(name);
      if (entry.contextFallbacks !== undefined || entry.fallbacks !== undefined)
        this.#rules.set(key, { context: entry.contextFallbacks ?? [], unavailable: entry.fallbacks ?? [] });
      if (entry.localWeight !== undefined) this.#localWeights.set(key, entry.localWeight);
    }
  }

  /** A name as the rules know it: the model an alias names, else the name itself. */
  canonical(name: string): string {
    return Object.hasOwn(this.#aliases, name) ? this.#aliases[name]! : name;
  }

  /** Whether `modelId` (or an alias of it) has fallbacks of any kind. */
  hasFallbacks(modelId: string): boolean {
    return this.#rules.has(this.canonical(modelId));
  }

  /** The fallbacks of `name` for errors of `kind`, in order; `[]` when it has none. */
  fallbacksOf(name: string, kind: FallbackKind): readonly string[] {
    return this.#rules.get(this.canonical(name))?.[kind] ?? [];
  }

  /** The weight of the local member of `modelId`'s pool (`pools.*.localWeight`); 1 when not configured. */
  localWeight(modelId: string): number {
    return this.#localWeights.get(this.canonical(modelId)) ?? 1;
  }

  /** A fresh plan for one request to `model` (as the client named it). */
  plan(model: string): FallbackPlan {
    return new FallbackPlan(this, model);
  }
}

/**
 * The fallbacks of one request: each failure before the first byte asks {@link next} for the model to try next.
 * Bounded: a model is tried at most once (so A → B → A cannot loop), and at most `maxFallbacks` fallbacks are taken.
 * A failed fallback's own fallbacks come before the ones still waiting (depth first), as the failed model's
 * replacement is the nearest substitute for it.
 */
export class FallbackPlan {
  readonly #routes: FallbackRoutes;
  /** Canonical names of the models tried or waiting. */
  readonly #seen = new Set<string>();
  readonly #waiting: string[] = [];
  #taken = 0;
  /** The models tried, in order, as the requests named them (the one asked for first). */
  readonly tried: string[];

  constructor(routes: FallbackRoutes, model: string) {
    this.#routes = routes;
    this.tried = [model];
    this.#seen.add(routes.canonical(model));
  }

  /** Fallbacks taken so far. */
  get taken(): number {
    return this.#taken;
  }

  /**
   * The model to try after `model` failed with `error`: the first of its fallbacks for the error's kind not yet tried
   * (then those waiting from earlier failures), or `undefined` when the error calls for none, none is left, or
   * `maxFallbacks` were taken. `resolvedId` is the id the failed model was served under, when known (an alias's model),
   * so that a model is never tried twice under two names.
   */
  next(model: string, error: unknown, resolvedId?: string): string | undefined {
    if (resolvedId !== undefined) this.#seen.add(resolvedId);
    const kind = fallbackKindOf(error);
    if (kind === undefined) return undefined;
    const fresh: string[] = [];
    for (const name of [
      ...this.#routes.fallbacksOf(model, kind),
      ...(resolvedId === undefined ? [] : this.#routes.fallbacksOf(resolvedId, kind)),
    ]) {
      const key = this.#routes.canonical(name);
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      fresh.push(name);
    }
    this.#waiting.unshift(...fresh);
    if (this.#taken >= this.#routes.maxFallbacks) return undefined;
    const chosen = this.#waiting.shift();
    if (chosen === undefined) return undefined;
    this.#taken++;
    this.tried.push(chosen);
    return chosen;
  }
}
