import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { gbnfExpressionToRegExp } from "../../../test/helpers/gbnf-regexp.js";
import { patternGrammar, UnsupportedPatternError } from "./pattern-grammar.js";
import { stringFormats } from "./string-formats.js";

/** The contents of a JSON string holding `text`, as the grammar writes them. */
const jsonContents = (text: string) => JSON.stringify(text).slice(1, -1);
/** Whether `text` needs no JSON escape, so that its JSON contents are itself. */
const isPlain = (text: string) => jsonContents(text) === text;

// zod 4's own patterns (z.iso.date(), z.iso.time(), z.iso.datetime(), z.uuid()) and a few hand-written ones.
const zodPatterns = ["date", "time", "datetime", "uuid"].map((name) => {
  const schema = z.toJSONSchema(name === "uuid" ? z.uuid() : z.iso[name as "date" | "time" | "datetime"]()) as { pattern: string };
  return schema.pattern;
});
const patterns = [
  ...zodPatterns,
  "^[A-Z]{3}$",
  "^\\d{5}(-\\d{4})?$",
  "^(?:ab|c)+x?$",
  "^[^a-c]{1,3}\\.[a-z]+$",
  "^\\w+@\\w+\\.com$",
  "abc",
  "^a.b$",
  '^say "hi"\\\\$',
  "^\\u00e9+[\\x41-\\x43]*$",
];

describe("patternGrammar (issue 18)", () => {
  it("admits only strings the pattern matches, and every plain string it matches (property, zod's patterns included)", () => {
    for (const pattern of patterns) {
      const grammar = gbnfExpressionToRegExp(patternGrammar(pattern));
      const regexp = new RegExp(pattern, "u");
      fc.assert(
        fc.property(fc.stringMatching(regexp), (text) => {
          if (isPlain(text)) expect(grammar.test(text), `${pattern}: ${JSON.stringify(text)}`).toBe(true);
        }),
        { numRuns: 200 },
      );
      fc.assert(
        fc.property(fc.stringMatching(grammar), (contents) => {
          const text = JSON.parse(`"${contents}"`) as string;
          expect(regexp.test(text), `${pattern}: ${JSON.stringify(text)}`).toBe(true);
        }),
        { numRuns: 200 },
      );
    }
  });

  it('writes characters JSON must escape as their escapes, and keeps `"`, `\\` and controls out of classes and `.`', () => {
    expect(gbnfExpressionToRegExp(patternGrammar('^a"b\\n$')).test('a\\"b\\n')).toBe(true);
    const dot = gbnfExpressionToRegExp(patternGrammar("^.$"));
    for (const char of ['"', "\\", "\n", "\u0001"]) expect(dot.test(char)).toBe(false);
    expect(dot.test("é")).toBe(true);
    expect(gbnfExpressionToRegExp(patternGrammar("^[ -~]$")).test('"')).toBe(false);
    expect(gbnfExpressionToRegExp(patternGrammar("^[^a]$")).test("\\")).toBe(false);
  });

  it("refuses syntax outside the subset (the output check then holds the pattern)", () => {
    for (const pattern of [
      "^(?!\\.)a$",
      "^(?<name>a)$",
      "^(a)\\1$",
      "^\\bword$",
      "^\\p{L}$",
      "^a{2000}$",
      "^(a{0,100}){0,100}$",
      "^a^b$",
      "^[\\s\\S]$".replace("\\s\\S", '"'),
    ]) {
      expect(() => patternGrammar(pattern), pattern).toThrow(UnsupportedPatternError);
    }
  });
});

describe("stringFormats (issue 18)", () => {
  it("every string a format's grammar admits passes its check (property), and zod's own regexes for email and uuid", () => {
    const zodEmail = new RegExp((z.toJSONSchema(z.string().email()) as { pattern: string }).pattern, "u");
    for (const [name, format] of stringFormats) {
      if (format.grammar === undefined) continue;
      const grammar = gbnfExpressionToRegExp(format.grammar);
      fc.assert(
        fc.property(fc.stringMatching(grammar), (text) => {
          expect(format.check(text), `${name}: ${text}`).toBe(true);
          if (name === "email") expect(zodEmail.test(text), text).toBe(true);
        }),
        { numRuns: 200 },
      );
    }
  });

  it("checks the formats it only checks, and refuses what breaks a checked format", () => {
    const check = (name: string, value: string) => stringFormats.get(name)!.check(value);
    expect(check("date", "2024-02-29")).toBe(true);
    expect(check("date", "2023-02-29")).toBe(false);
    expect(check("time", "10:20")).toBe(true);
    expect(check("time", "24:00:00Z")).toBe(false);
    expect(check("date-time", "2024-01-02T10:20:30.5+01:00")).toBe(true);
    expect(check("date-time", "2024-01-02 x")).toBe(false);
    expect(check("duration", "P1DT2H")).toBe(true);
    expect(check("duration", "PT")).toBe(false);
    expect(check("ipv6", "::1")).toBe(true);
    expect(check("ipv6", "1::2::3")).toBe(false);
    expect(check("uri", "https://example.com/a?b")).toBe(true);
    expect(check("uri", "example.com")).toBe(false);
    expect(check("email", "a.b@c.io")).toBe(true);
    expect(check("email", "a b@c")).toBe(false);
  });
});
