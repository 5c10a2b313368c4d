import type { FallbackRoutes } from "./fallbacks.js";

/**
 * What the serving layer needs of the gateway's routing for each request (docs/gateway.md): the fallbacks by error
 * kind, and, with session affinity on, where a request's session is named.
 */
export interface RequestRouting {
  /** The pools' fallbacks (`pools`, `gateway.maxFallbacks`). */
  fallbacks?: FallbackRoutes;
  /** Session affinity (`gateway.affinity`), when enabled. */
  affinity?: {
    /** The header that names a request's session, lower case (`gateway.affinity.header`). */
    header: string;
    /** Whether an OpenAI request's `user` names the session when the header is absent (`gateway.affinity.userField`). */
    userField: boolean;
  };
}
