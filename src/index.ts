/**
 * moestro's public API for embedding the server in another program. The CLI (`moestro serve`) is built on the same.
 */
export { createApp, defaultBodyLimitBytes, type AppDeps } from "./api/app.js";
export { loadConfig, configSchema, type Config, type ConfigInput } from "./config/index.js";
export { createLlamaBackend, modelIdFromPath, type LlamaBackendOptions } from "./engine/llama-backend.js";
export { createStaticModelRegistry, type ModelRegistry } from "./engine/model-registry.js";
export { MoestroError, errorCodes, type ErrorCode } from "./errors/index.js";
export { startServer, createLlama, type RunningServer } from "./server.js";
export type * from "./spec/index.js";
