import type { Usage } from "../spec/index.js";

const usageKey = Symbol("moestro.usageSoFar");

/**
 * Tags an error thrown after a model produced part of its answer (an upstream's stream that broke off,
 * docs/gateway.md "Usage, budgets and the ledger") with the usage of what it produced, so that the request's ledger
 * row bills those tokens as a client's disconnect at the same point would (`RequestMeter.fail`). Returns `error`; a
 * primitive or frozen error cannot carry it and is returned as is.
 */
export function withUsageSoFar<E>(error: E, usage: Usage): E {
  if (typeof error === "object" && error !== null && Object.isExtensible(error))
    Object.defineProperty(error, usageKey, { value: usage, configurable: true });
  return error;
}

/** The usage an error says was produced before it ({@link withUsageSoFar}), or `undefined`. */
export function usageSoFarOf(error: unknown): Usage | undefined {
  return typeof error === "object" && error !== null ? ((error as Record<symbol, unknown>)[usageKey] as Usage | undefined) : undefined;
}
