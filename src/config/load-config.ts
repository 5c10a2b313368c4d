import { z } from "zod";
import { MoestroError } from "../errors/index.js";
import { availableCores, configSchema, type Config } from "./schema.js";

/** Inputs of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Values from command-line flags, shaped like the config (highest precedence). Defaults to `{}`. */
  flags?: Record<string, unknown>;
  /** The environment to read `MOESTRO_*` variables from. Defaults to `{}` (read nothing); the CLI passes `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * Builds the effective configuration: flags over environment variables over defaults. Returns a deep-frozen object.
 * `engine.threads` defaults to the available cores and is capped at them, because more threads than cores collapses
 * llama.cpp's decode (../shared/ENGINE-NOTES.md: 0.7 tokens/s with 4 threads on 2 cores).
 *
 * @throws {MoestroError} `invalid_request` naming the offending key when a value is invalid.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const fromEnv = readEnv(options.env ?? {});
  const merged = deepMerge(fromEnv, options.flags ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join(".");
    throw new MoestroError("invalid_request", `Invalid configuration value for '${key}': ${issue.message}`, { param: key });
  }
  const config = parsed.data;
  const cores = availableCores();
  config.engine.threads = Math.min(config.engine.threads ?? cores, cores);
  return deepFreeze(config);
}

/** The environment variable that sets a config path: `["engine", "threads"]` → `MOESTRO_ENGINE__THREADS`. */
export function envNameFor(path: readonly string[]): string {
  return "MOESTRO_" + path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("__");
}

/** Reads every `MOESTRO_*` variable that names a scalar leaf of the schema, converting it to the leaf's type. */
function readEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [path, leaf] of schemaLeaves(configSchema, [])) {
    const raw = env[envNameFor(path)];
    if (raw === undefined || raw === "") continue;
    setPath(result, path, convertEnvValue(raw, leaf));
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

function schemaLeaves(schema: z.ZodTypeAny, path: string[]): Array<[string[], z.ZodTypeAny]> {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([key, value]) => schemaLeaves(value, [...path, key]));
  }
  if (inner instanceof z.ZodArray) return [];
  return [[path, inner]];
}

function convertEnvValue(raw: string, leaf: z.ZodTypeAny): unknown {
  if (leaf instanceof z.ZodNumber) return Number(raw);
  if (leaf instanceof z.ZodBoolean) return raw === "1" || raw.toLowerCase() === "true";
  return raw;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
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
