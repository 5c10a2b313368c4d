export {
  configSchema,
  modelEntrySchema,
  availableCores,
  physicalCores,
  defaultThreadCount,
  passwordUrlConfigKeys,
  secretConfigKeys,
  type Config,
  type ConfigInput,
} from "./schema.js";
export {
  loadConfig,
  loadConfigWithSources,
  envNameFor,
  configLeafPaths,
  formatKeyPath,
  unknownEnvVariables,
  type LoadConfigOptions,
  type LoadedConfig,
  type ConfigSource,
} from "./load-config.js";
