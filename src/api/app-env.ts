import type { Logger } from "pino";
import type { ModelRegistry } from "../engine/model-registry.js";
import type { UsageSink } from "../spec/index.js";

/** What `createApp` needs: everything that touches models, time or the outside is injected. */
export interface AppDeps {
  /** The models the server answers for. */
  models: ModelRegistry;
  /** Structured logger. */
  logger: Logger;
  /** Clock, epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Largest accepted request body, in bytes; larger bodies get 413. Defaults to 32 MiB. */
  bodyLimitBytes?: number;
  /** Receivers of one usage event per model request (ledger, budgets, metrics), awaited before the last byte. Defaults to none. */
  usageSinks?: readonly UsageSink[];
  /** A `: ping` SSE comment is sent when a stream has been silent this long, in ms. Defaults to 15000. */
  sseKeepAliveMs?: number;
}

/** Hono environment of the app: per-request variables set by middleware. */
export interface AppEnv {
  Variables: {
    /** The request's id, echoed in the `x-request-id` response header. */
    requestId: string;
    /** The id of the API key that authenticated the request, when key checks are on. */
    keyId?: string;
  };
}

/** The `system_fingerprint` sent with every completion. */
export const systemFingerprint = "moestro";
