import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { serveFlagNames } from "../cli/commands/serve.js";
import { configLeafPaths, envNameFor } from "./load-config.js";
import { configSchema } from "./schema.js";

/** Unwraps defaults, optionals, nullables and refinements down to the schema that says the shape. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable)
      current = current._def.innerType as z.ZodTypeAny;
    else if (current instanceof z.ZodEffects) current = current.innerType() as z.ZodTypeAny;
    else return current;
  }
}

/**
 * Every key of the schema as docs/config.md writes it: `engine.threads`, a list `models` and its items' keys
 * `models[].path`, an object of named entries `pools` and their keys `pools.*.fallbacks`.
 */
function documentedKeys(schema: z.ZodTypeAny, prefix: string): string[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject)
    return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([key, child]) =>
      documentedKeys(child, prefix === "" ? key : `${prefix}.${key}`),
    );
  const keys = [prefix];
  if (inner instanceof z.ZodArray && unwrap(inner.element as z.ZodTypeAny) instanceof z.ZodObject)
    keys.push(...documentedKeys(inner.element as z.ZodTypeAny, `${prefix}[]`));
  if (inner instanceof z.ZodRecord && unwrap(inner.valueSchema as z.ZodTypeAny) instanceof z.ZodObject)
    keys.push(...documentedKeys(inner.valueSchema as z.ZodTypeAny, `${prefix}.*`));
  return keys;
}

/** docs/config.md's key table: key → its cells (type, default, env, flag, meaning, docs). */
function documentedRows(): Map<string, string[]> {
  const text = readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8");
  const rows = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^\| `([^`]+)` \|(.*)\|$/.exec(line);
    // Cells are split on | not preceded by a backslash (an escaped \| inside a cell).
    if (match)
      rows.set(
        match[1]!,
        match[2]!.split(/(?<!\\)\|/).map((cell) => cell.trim()),
      );
  }
  return rows;
}

describe("docs/config.md", () => {
  const rows = documentedRows();
  const keys = documentedKeys(configSchema, "");

  it("has a row for every key of the config schema, and none for a key that is not one", () => {
    expect(keys.length).toBeGreaterThan(70);
    expect(keys.filter((key) => !rows.has(key))).toEqual([]);
    expect([...rows.keys()].filter((key) => !keys.includes(key))).toEqual([]);
  });

  it("names each key's environment variable and serve's flag, and links a page for each", () => {
    for (const leafPath of configLeafPaths())
      expect(rows.get(leafPath.join("."))![2], leafPath.join(".")).toContain(`\`${envNameFor(leafPath)}\``);
    for (const [key, flag] of Object.entries(serveFlagNames())) expect(rows.get(key)![3], key).toBe(`\`${flag}\``);
    for (const [key, cells] of rows) expect(cells[5], key).toMatch(/\[[^\]]+\]\([^)]+\.md[^)]*\)/);
  });
});
