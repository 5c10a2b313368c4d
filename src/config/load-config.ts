import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import { availableCores, configSchema, defaultThreadCount, physicalCores, secretConfigKeys, type Config } from "./schema.js";
import { parseSwitch } from "../util/switch-value.js";

/** Inputs of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Values from command-line flags, shaped like the config (highest precedence). Defaults to `{}`. */
  flags?: Record<string, unknown>;
  /** The environment to read `MOESTRO_*` variables from. Defaults to `{}` (read nothing); the CLI passes `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * A JSON config file, shaped like the config. Defaults to `MOESTRO_CONFIG` from `env`, else `<home>/config.json` when
   * it exists (home: `MOESTRO_HOME` or `~/.moestro`). A file that is named but missing is an error.
   */
  configFile?: string;
  /**
   * The command-line flag that sets a config key (`{"engine.threads": "--threads"}`), so that an invalid flag value is
   * reported by its flag. Defaults to `{}` (reported by the key).
   */
  flagNames?: Readonly<Record<string, string>>;
}

/** Where an effective value came from. */
export type ConfigSource = "flag" | "env" | "file" | "default";

/**
 * The effective configuration with the source of each leaf value (by dotted path), the file read, if any, and for each
 * leaf set by the environment the variable actually read (`hub.endpoint` → `HF_ENDPOINT` when that is what was set).
 */
export interface LoadedConfig {
  config: Config;
  sources: Record<string, ConfigSource>;
  file: string | undefined;
  envVariables: Record<string, string>;
}

/** Environment variables read besides the mechanical `MOESTRO_*` names: Hugging Face's own. */
const envAliases: Record<string, string[]> = { HF_ENDPOINT: ["hub", "endpoint"], HF_TOKEN: ["hub", "token"] };

/**
 * `MOESTRO_*` variables that moestro reads itself and that set no config key, so that {@link unknownEnvVariables} does
 * not take them for misspelt keys: `MOESTRO_CONFIG` (the config file), `MOESTRO_API_KEY` (`moestro batch` and `bench`),
 * `MOESTRO_SHARED` (the benchmark scripts' test models), `MOESTRO_CI_CACHE` (the tests' llama-server build), and
 * `MOESTRO_KEY`, the client's key in docs/batch.md's example, which users set in their shell. Found with
 * `grep -rhoE "MOESTRO_[A-Z0-9_]+" src scripts test bin deploy docs README.md`.
 */
const otherMoestroVariables: ReadonlySet<string> = new Set([
  "MOESTRO_CONFIG",
  "MOESTRO_API_KEY",
  "MOESTRO_SHARED",
  "MOESTRO_CI_CACHE",
  "MOESTRO_KEY",
]);

/** Prefixes of `MOESTRO_*` variables read by the tests (`MOESTRO_TEST_MODELS`, `MOESTRO_FUZZ_SEED`, ...), not config keys. */
const otherMoestroPrefixes: readonly string[] = ["MOESTRO_TEST_", "MOESTRO_FUZZ_"];

/**
 * Builds the effective configuration: flags over environment variables over the config file over defaults. Returns a
 * deep-frozen object. Environment names are derived mechanically: `MOESTRO_` + the upper-case path with `__` between
 * levels (`engine.maxQueuedRequests` → `MOESTRO_ENGINE__MAX_QUEUED_REQUESTS`); lists are comma-separated; `HF_ENDPOINT`
 * and `HF_TOKEN` are read too. `engine.threads` defaults to every physical core but one (`defaultThreadCount`, see
 * docs/threads.md) and is capped at the available cores, because more threads than cores collapses llama.cpp's decode
 * (docs/engine.md#sampling-threads-and-memory).
 *
 * Relative file paths from the config file are made relative to its folder (`resolveFilePaths`, docs/config.md).
 *
 * @throws {MoestroError} `invalid_request` when a value is invalid, naming where it came from (the variable, the key
 *   and file, or the flag), what the key accepts and the value given: `MOESTRO_ENGINE__THREADS (engine.threads):
 *   expected a whole number ≥ 1, got "abc"`; `param` is the key. Also for a key the schema does not have (in the file,
 *   a flag, or an object inside a list variable such as `MOESTRO_MODELS`): `unknown key engine.thread in F; did you
 *   mean engine.threads? (every key: docs/config.md)`. Also when the config file cannot be read or parsed.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  return loadConfigWithSources(options).config;
}

/**
 * Like {@link loadConfig}, and says where each value came from (for `moestro config show`).
 *
 * @throws {MoestroError} `invalid_request` as {@link loadConfig} does.
 */
export function loadConfigWithSources(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? {};
  const flags = pruneUndefined(options.flags ?? {});
  refuseUnknownKeys(flags, (key) => key);
  const fromEnv = readEnv(env);
  const file = options.configFile ?? (env.MOESTRO_CONFIG || undefined) ?? defaultConfigFile(flags, fromEnv);
  const fromFile = file === undefined ? {} : readConfigFile(file, options.configFile !== undefined || Boolean(env.MOESTRO_CONFIG));
  if (file !== undefined) refuseUnknownKeys(fromFile, (key) => `${key} in ${file}`);
  const merged = deepMerge(deepMerge(fromFile, fromEnv), flags);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join(".");
    const where = describeSource(issue.path, { flags, fromEnv, env, file, flagNames: options.flagNames ?? {} });
    const given = valueAt(merged, issue.path);
    const accepted = describeAccepted(schemaAt(issue.path), where.isEnv);
    const got =
      given === undefined
        ? "but it is missing"
        : [...secretConfigKeys].some((secret) => key === secret || key.startsWith(`${secret}.`))
          ? "got another value (a secret, not shown)"
          : `got ${formatGiven(where.isEnv ? env[where.name] : given)}`;
    throw new MoestroError("invalid_request", `${where.text}: expected ${accepted}, ${got}`, { param: key });
  }
  const config = parsed.data;
  const cores = availableCores();
  config.engine.threads = Math.min(config.engine.threads ?? defaultThreadCount({ physical: physicalCores(), available: cores }), cores);

  const sources: Record<string, ConfigSource> = {};
  for (const [leafPath] of schemaLeaves(configSchema, [])) {
    const key = leafPath.join(".");
    sources[key] = hasPath(flags, leafPath)
      ? "flag"
      : hasPath(fromEnv, leafPath)
        ? "env"
        : hasPath(fromFile, leafPath)
          ? "file"
          : "default";
  }
  if (file !== undefined) resolveFilePaths(config, sources, path.dirname(path.resolve(file)));
  const envVariables: Record<string, string> = {};
  for (const [key, source] of Object.entries(sources)) {
    if (source !== "env") continue;
    const leafPath = key.split(".");
    envVariables[key] = [envNameFor(leafPath), ...Object.keys(envAliases).filter((alias) => envAliases[alias]!.join(".") === key)].find(
      (name) => env[name] !== undefined && env[name] !== "",
    )!;
  }
  return { config: deepFreeze(config), sources, file: file !== undefined && existsSync(file) ? file : undefined, envVariables };
}

/**
 * Makes the relative file paths that came from the config file relative to the file's folder, as docker-compose does,
 * so that a config file works from any current directory: `models[].path` (when it is a path, not an `hf:` reference,
 * a URL or an alias), `models[].speculative.draftModel`, `defaultModel` (likewise), `engine.llamaServer`,
 * `metering.priceBookPath` and `home`. Paths from flags and variables stay relative to the current directory.
 */
function resolveFilePaths(config: Config, sources: Record<string, ConfigSource>, folder: string): void {
  const isFile = (key: string) => sources[key] === "file";
  const resolveModelPath = (value: string): string =>
    value in config.aliases || /^(?:https?:\/\/|hf:|huggingface:|hf\.co\/|huggingface\.co\/)/i.test(value.trim()) || path.isAbsolute(value)
      ? value
      : path.resolve(folder, value);
  const resolvePath = (value: string): string => path.resolve(folder, value);
  if (isFile("models"))
    config.models = config.models.map((model) => ({
      ...model,
      path: resolveModelPath(model.path),
      ...(model.speculative?.draftModel === undefined
        ? {}
        : { speculative: { ...model.speculative, draftModel: resolvePath(model.speculative.draftModel) } }),
    }));
  if (isFile("defaultModel")) config.defaultModel = resolveModelPath(config.defaultModel);
  if (isFile("engine.llamaServer") && config.engine.llamaServer !== undefined)
    config.engine.llamaServer = resolvePath(config.engine.llamaServer);
  if (isFile("metering.priceBookPath") && config.metering.priceBookPath !== undefined)
    config.metering.priceBookPath = resolvePath(config.metering.priceBookPath);
  if (isFile("home") && config.home !== undefined) config.home = resolvePath(config.home);
}

/**
 * Writes a key path as the docs do: `models[0].path`, `engine.threads`.
 *
 * @param keyPath the parts, numbers for list items.
 */
export function formatKeyPath(keyPath: ReadonlyArray<string | number>): string {
  return keyPath.map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? part : `.${part}`)).join("");
}

/**
 * Refuses a key the schema does not have, anywhere in `value` (objects, list items, record values): zod's plain objects
 * would drop it silently, and a misspelt key would leave its default in force unnoticed.
 *
 * @param where the message's subject for the key (`engine.thread in /etc/moestro.json`).
 * @throws {MoestroError} `invalid_request` (param: the key's dotted path) naming the key and, when one is close, the
 *   key meant: `unknown key engine.thread in F; did you mean engine.threads? (every key: docs/config.md)`.
 */
function refuseUnknownKeys(value: unknown, where: (key: string) => string): void {
  const unknown = findUnknownKey(value, configSchema, []);
  if (unknown === undefined) return;
  const key = formatKeyPath(unknown.keyPath);
  const suggestion = closestKey(unknown.keyPath, unknown.siblings);
  throw new MoestroError(
    "invalid_request",
    `unknown key ${where(key)}${suggestion === undefined ? "" : `; did you mean ${suggestion}?`} (every key: docs/config.md)`,
    { param: unknown.keyPath.join(".") },
  );
}

/** The first key of `value` that `schema` does not have, with the keys its object has, or undefined. */
function findUnknownKey(
  value: unknown,
  schema: z.ZodTypeAny,
  keyPath: Array<string | number>,
): { keyPath: Array<string | number>; siblings: string[] } | undefined {
  const inner = unwrapAll(schema);
  if (inner instanceof z.ZodObject && isPlainObject(value)) {
    const shape = inner.shape as Record<string, z.ZodTypeAny>;
    for (const [key, child] of Object.entries(value)) {
      if (!(key in shape)) return { keyPath: [...keyPath, key], siblings: Object.keys(shape) };
      const found = findUnknownKey(child, shape[key]!, [...keyPath, key]);
      if (found !== undefined) return found;
    }
  } else if (inner instanceof z.ZodArray && Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnknownKey(item, inner.element as z.ZodTypeAny, [...keyPath, index]);
      if (found !== undefined) return found;
    }
  } else if (inner instanceof z.ZodRecord && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const found = findUnknownKey(child, inner.valueSchema as z.ZodTypeAny, [...keyPath, key]);
      if (found !== undefined) return found;
    }
  } else if (inner instanceof z.ZodUnion) {
    // The first option that has no unknown key wins (`fallbacks`: a name or a list of names).
    const options = inner.options as z.ZodTypeAny[];
    const results = options.map((option) => findUnknownKey(value, option, keyPath));
    return results.includes(undefined) ? undefined : results[0];
  }
  return undefined;
}

/** Unwraps defaults, optionals, nullables and refinements (`speculative`'s `.refine`). */
function unwrapAll(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = unwrap(schema);
  while (current instanceof z.ZodEffects) current = unwrap(current.innerType() as z.ZodTypeAny);
  return current;
}

/**
 * `moestro serve`'s flags whose names are not their keys', in camelCase (`--ctx-size` → `ctxSize`), so that a key written
 * as the flag (or as llama.cpp's `--ctx-size`) is pointed to the key: `engine.ctxSize` → `engine.contextTokens`.
 */
const flagKeys: Readonly<Record<string, string>> = {
  ctxSize: "engine.contextTokens",
  maxQueue: "engine.maxQueuedRequests",
  keepAlive: "engine.keepAliveMs",
  maxMemory: "engine.maxMemoryBytes",
  cacheRam: "engine.cacheRamBytes",
  corsOrigin: "server.corsOrigins",
  priceBook: "metering.priceBookPath",
  rateLimitStore: "limits.store",
  model: "models",
  upstream: "upstreams",
};

/**
 * The valid key closest to an unknown one: a sibling within a third of its length in edits (at least 2), else any
 * key that a serve flag of that name sets ({@link flagKeys}), else any key of the schema with the same name in another
 * place (`{"threads": 2}` → `engine.threads`).
 */
function closestKey(keyPath: ReadonlyArray<string | number>, siblings: readonly string[]): string | undefined {
  const name = String(keyPath.at(-1));
  const parent = keyPath.slice(0, -1);
  const limit = Math.max(2, Math.floor(name.length / 3));
  const near = siblings
    .map((sibling) => ({ sibling, distance: editDistance(name.toLowerCase(), sibling.toLowerCase()) }))
    .filter((candidate) => candidate.distance <= limit)
    .sort((a, b) => a.distance - b.distance)[0];
  if (near !== undefined) return formatKeyPath([...parent, near.sibling]);
  const asFlag = flagKeys[name];
  if (asFlag !== undefined) return asFlag;
  const elsewhere = schemaLeaves(configSchema, []).find(([leafPath]) => leafPath.at(-1)!.toLowerCase() === name.toLowerCase());
  return elsewhere === undefined ? undefined : elsewhere[0].join(".");
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The `MOESTRO_*` variables of `env` that look like config keys but name none (`MOESTRO_SERVER_PORT`, with one `_`
 * where levels need two; `MOESTRO_ENGINE__THREAD`), each as a one-line warning naming it and, when one is close, the
 * variable meant. Variables moestro reads for other purposes (`MOESTRO_CONFIG`, `MOESTRO_API_KEY`, `MOESTRO_TEST_*`,
 * ...) are not reported. The CLI prints these on stderr; loading goes on without them.
 *
 * @returns the warnings, in the order of `env`; empty when there is nothing to say.
 */
export function unknownEnvVariables(env: Record<string, string | undefined>): string[] {
  const known = new Map(schemaLeaves(configSchema, []).map(([leafPath]) => [envNameFor(leafPath), leafPath.join(".")]));
  const squash = (name: string) => name.replace(/_/g, "");
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith("MOESTRO_") || known.has(name) || otherMoestroVariables.has(name)) continue;
    if (otherMoestroPrefixes.some((prefix) => name.startsWith(prefix))) continue;
    const limit = Math.max(2, Math.floor((name.length - "MOESTRO_".length) / 4));
    const near = [...known]
      .map(([candidate, key]) => ({
        candidate,
        key,
        distance: squash(candidate) === squash(name) ? 0 : editDistance(name, candidate),
      }))
      .filter((candidate) => candidate.distance <= limit)
      .sort((a, b) => a.distance - b.distance)[0];
    const hint = near === undefined ? "" : `; did you mean ${near.candidate} (${near.key})?`;
    warnings.push(`${name} is not a variable moestro reads, so it is ignored${hint} (every key: docs/config.md)`);
  }
  return warnings;
}

/** The environment variable that sets a config path: `["engine", "threads"]` → `MOESTRO_ENGINE__THREADS`. */
export function envNameFor(path: readonly string[]): string {
  return "MOESTRO_" + path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("__");
}

/** Every leaf of the config schema with its path (lists and records are leaves). */
export function configLeafPaths(): string[][] {
  return schemaLeaves(configSchema, []).map(([leafPath]) => leafPath);
}

function defaultConfigFile(flags: Record<string, unknown>, fromEnv: Record<string, unknown>): string | undefined {
  const home = (flags.home as string | undefined) ?? (fromEnv.home as string | undefined) ?? path.join(os.homedir(), ".moestro");
  const candidate = path.join(path.resolve(home), "config.json");
  return existsSync(candidate) ? candidate : undefined;
}

function readConfigFile(file: string, required: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (!required) return {};
    throw new MoestroError("invalid_request", `Cannot read the config file ${file}: ${(error as Error).message}`, {
      param: "config",
      cause: error,
    });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("the top level must be an object");
    return value as Record<string, unknown>;
  } catch (error) {
    throw new MoestroError("invalid_request", `The config file ${file} is not valid JSON: ${(error as Error).message}`, {
      param: "config",
      cause: error,
    });
  }
}

/** Reads every `MOESTRO_*` variable that names a leaf of the schema, converting it to the leaf's type. */
function readEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [leafPath, leaf] of schemaLeaves(configSchema, [])) {
    const name = envNameFor(leafPath);
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    let value: unknown;
    try {
      value = convertEnvValue(raw, leaf);
    } catch (error) {
      const key = leafPath.join(".");
      throw new MoestroError("invalid_request", `${name} (${key}): expected ${describeAccepted(leaf, true)}, got ${formatGiven(raw)}`, {
        param: key,
        cause: error,
      });
    }
    const key = leafPath.join(".");
    const unknown = findUnknownKey(value, leaf, []);
    if (unknown !== undefined) {
      const suggestion = closestKey([...leafPath, ...unknown.keyPath], unknown.siblings);
      throw new MoestroError(
        "invalid_request",
        `${name} (${key}): unknown key ${formatKeyPath([...leafPath, ...unknown.keyPath])}${suggestion === undefined ? "" : `; did you mean ${suggestion}?`} (every key: docs/config.md)`,
        { param: [...leafPath, ...unknown.keyPath].join(".") },
      );
    }
    setPath(result, leafPath, value);
  }
  for (const [name, leafPath] of Object.entries(envAliases)) {
    const raw = env[name];
    if (raw !== undefined && raw !== "" && !hasPath(result, leafPath)) setPath(result, leafPath, raw);
  }
  return result;
}

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
    current = current._def.innerType as z.ZodTypeAny;
  }
  return current;
}

function schemaLeaves(schema: z.ZodTypeAny, leafPath: string[]): Array<[string[], z.ZodTypeAny]> {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([key, value]) => schemaLeaves(value, [...leafPath, key]));
  }
  return [[leafPath, inner]];
}

function convertEnvValue(raw: string, leaf: z.ZodTypeAny): unknown {
  if (leaf instanceof z.ZodNumber) return Number(raw);
  // Any other text stays a string, so that the schema refuses it by name instead of reading it as false.
  if (leaf instanceof z.ZodBoolean) return parseSwitch(raw) ?? raw;
  if (leaf instanceof z.ZodArray) {
    if (raw.trim().startsWith("[")) return JSON.parse(raw) as unknown;
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }
  if (leaf instanceof z.ZodRecord) return JSON.parse(raw) as unknown;
  return raw;
}

/** Where the value at an issue's path came from, by precedence: a flag, then a variable, then the file. */
function describeSource(
  issuePath: ReadonlyArray<string | number>,
  sources: {
    flags: Record<string, unknown>;
    fromEnv: Record<string, unknown>;
    env: Record<string, string | undefined>;
    file: string | undefined;
    flagNames: Readonly<Record<string, string>>;
  },
): { text: string; isEnv: boolean; name: string } {
  const leafPath =
    schemaLeaves(configSchema, [])
      .map(([candidate]) => candidate)
      .find((candidate) => candidate.every((part, index) => String(issuePath[index]) === part)) ?? issuePath.map(String);
  const leafKey = leafPath.join(".");
  const key = issuePath.join(".");
  if (hasPath(sources.flags, leafPath)) {
    const flag = sources.flagNames[leafKey];
    return { text: flag === undefined ? key : `${flag} (${key})`, isEnv: false, name: flag ?? key };
  }
  if (hasPath(sources.fromEnv, leafPath)) {
    const name = [envNameFor(leafPath), ...Object.keys(envAliases).filter((alias) => envAliases[alias]!.join(".") === leafKey)].find(
      (candidate) => sources.env[candidate] !== undefined && sources.env[candidate] !== "",
    )!;
    return { text: `${name} (${key})`, isEnv: true, name };
  }
  return { text: sources.file === undefined ? key : `${key} in ${sources.file}`, isEnv: false, name: key };
}

/** The sub-schema at a path of the config (through objects, lists and records). */
function schemaAt(issuePath: ReadonlyArray<string | number>): z.ZodTypeAny {
  let schema: z.ZodTypeAny = configSchema;
  for (const part of issuePath) {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodObject) schema = (inner.shape as Record<string, z.ZodTypeAny>)[String(part)] ?? inner;
    else if (inner instanceof z.ZodArray) schema = inner.element as z.ZodTypeAny;
    else if (inner instanceof z.ZodRecord) schema = inner.valueSchema as z.ZodTypeAny;
    else break;
  }
  return schema;
}

/**
 * What a schema accepts, in words: `a whole number ≥ 1`, `one of auto, cpu`, `on or off (also true/false, yes/no,
 * 1/0)` for a switch read from the environment (`true or false` in a JSON file).
 */
function describeAccepted(schema: z.ZodTypeAny, isEnv: boolean): string {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodNumber) {
    const noun = inner.isInt ? "a whole number" : "a number";
    const { minValue, maxValue } = inner;
    if (minValue !== null && maxValue !== null) return `${noun} from ${minValue} to ${maxValue}`;
    if (minValue !== null) return `${noun} ≥ ${minValue}`;
    return maxValue !== null ? `${noun} ≤ ${maxValue}` : noun;
  }
  if (inner instanceof z.ZodBoolean) return isEnv ? "on or off (also true/false, yes/no, 1/0)" : "true or false";
  if (inner instanceof z.ZodEnum) return `one of ${(inner.options as string[]).join(", ")}`;
  if (inner instanceof z.ZodString) {
    if (inner.isURL) return "a URL (http://… or https://…)";
    const minLength = inner.minLength ?? 0;
    return minLength > 1 ? `a text of at least ${minLength} characters` : minLength === 1 ? "a non-empty text" : "a text";
  }
  if (inner instanceof z.ZodArray) {
    const items = `each item ${describeAccepted(inner.element as z.ZodTypeAny, false)}`;
    return isEnv ? `a comma-separated list (or a JSON array), ${items}` : `a list, ${items}`;
  }
  if (inner instanceof z.ZodRecord)
    return `a JSON object whose values are each ${describeAccepted(inner.valueSchema as z.ZodTypeAny, false)}`;
  if (inner instanceof z.ZodObject) return `an object with the keys ${Object.keys(inner.shape as object).join(", ")}`;
  return "a valid value";
}

/** A given value for a message: strings quoted, anything else as JSON, cut at 80 characters. */
function formatGiven(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(source: unknown, valuePath: ReadonlyArray<string | number>): unknown {
  let node = source;
  for (const part of valuePath) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[String(part)];
  }
  return node;
}

function setPath(target: Record<string, unknown>, leafPath: readonly string[], value: unknown): void {
  let node = target;
  for (const key of leafPath.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[leafPath.at(-1)!] = value;
}

function hasPath(source: Record<string, unknown>, leafPath: readonly string[]): boolean {
  let node: unknown = source;
  for (const key of leafPath) {
    if (!isPlainObject(node) || !(key in node) || node[key] === undefined) return false;
    node = node[key];
  }
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pruneUndefined(value: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    if (isPlainObject(child)) {
      const pruned = pruneUndefined(child);
      if (Object.keys(pruned).length > 0) result[key] = pruned;
    } else result[key] = child;
  }
  return result;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    result[key] = isPlainObject(value) && isPlainObject(result[key]) ? deepMerge(result[key], value) : value;
  }
  return result;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
