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

/** The effective configuration with the source of each leaf value (by dotted path) and the file read, if any. */
export interface LoadedConfig {
  config: Config;
  sources: Record<string, ConfigSource>;
  file: string | undefined;
}

/** Environment variables read besides the mechanical `MOESTRO_*` names: Hugging Face's own. */
const envAliases: Record<string, string[]> = { HF_ENDPOINT: ["hub", "endpoint"], HF_TOKEN: ["hub", "token"] };

/**
 * Builds the effective configuration: flags over environment variables over the config file over defaults. Returns a
 * deep-frozen object. Environment names are derived mechanically: `MOESTRO_` + the upper-case path with `__` between
 * levels (`engine.maxQueuedRequests` → `MOESTRO_ENGINE__MAX_QUEUED_REQUESTS`); lists are comma-separated; `HF_ENDPOINT`
 * and `HF_TOKEN` are read too. `engine.threads` defaults to every physical core but one (`defaultThreadCount`, see
 * docs/threads.md) and is capped at the available cores, because more threads than cores collapses llama.cpp's decode
 * (docs/engine.md#sampling-threads-and-memory).
 *
 * @throws {MoestroError} `invalid_request` when a value is invalid, naming where it came from (the variable, the key
 *   and file, or the flag), what the key accepts and the value given: `MOESTRO_ENGINE__THREADS (engine.threads):
 *   expected a whole number ≥ 1, got "abc"`; `param` is the key. Also when the config file cannot be read or parsed.
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
  const fromEnv = readEnv(env);
  const file = options.configFile ?? (env.MOESTRO_CONFIG || undefined) ?? defaultConfigFile(flags, fromEnv);
  const fromFile = file === undefined ? {} : readConfigFile(file, options.configFile !== undefined || Boolean(env.MOESTRO_CONFIG));
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
  return { config: deepFreeze(config), sources, file: file !== undefined && existsSync(file) ? file : undefined };
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
