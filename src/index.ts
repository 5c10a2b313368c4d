/**
 * moestro's public API for embedding the server in another program. The CLI (`moestro serve`) is built on the same.
 */
export { createApp, defaultBodyLimitBytes, type AppDeps } from "./api/app.js";
export { loadConfig, configSchema, type Config, type ConfigInput } from "./config/index.js";
export { createLlamaBackend, modelIdFromPath, type LlamaBackendOptions } from "./engines/inproc/llama-backend.js";
export { createStaticModelRegistry } from "./engines/model-registry.js";
export { MoestroError, errorCodes, type ErrorCode } from "./errors/index.js";
export { startServer, createLlama, type RunningServer } from "./server.js";
export type * from "./spec/index.js";
export { ModelScheduler } from "./engines/model-scheduler.js";
export { createModelPuller, type ModelPuller, type PullProgress } from "./models/pull-model.js";
export { ModelStore, type StoredModel } from "./models/model-store.js";
export { createHubClient, type HubClient } from "./models/hub-client.js";
export { openStore, type Store } from "./store/index.js";
export { createPriceBook, loadPriceBook, type PriceBook } from "./metering/price-book.js";
export { createAdminClient, type AdminClient } from "./client/admin-client.js";
