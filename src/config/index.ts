export { configSchema, modelEntrySchema, availableCores, type Config, type ConfigInput } from "./schema.js";
export { loadConfig, envNameFor, type LoadConfigOptions } from "./load-config.js";
