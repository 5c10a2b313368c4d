/**
 * Regular expressions (a JSON schema's `pattern`) as GBNF, for the subset a grammar can hold, as llama.cpp's
 * `json-schema-to-grammar` converts them (`_pattern_to_rule`), rewritten as a small parser so that every quantifier
 * applies to one atom. The grammar writes the *contents* of a JSON string, so a value it admits must also be valid
 * inside JSON quotes: where a pattern would allow `"`, `\` or a control character (which JSON must escape), the
 * grammar leaves them out. Every string the grammar admits matches the pattern; some strings the pattern allows may
 * be left out (a narrowing, never a widening). The output check validates the answer against the pattern too.
 *
 * Supported: literals, `.`, `[...]` and `[^...]` classes (ranges, `\d`, `\w`, `\s` inside), `\d \D \w \W \s`, escaped
 * punctuation, `\t \n \r \xHH \uHHHH`, groups `( )` and `(?: )`, `|`, the quantifiers `* + ? {n} {n,} {n,m}` (lazy
 * forms read as greedy: same language), `^` at the start and `$` at the end (an unanchored side allows any text).
 * Anything else (lookarounds, backreferences, `\b`, `\p{…}`, named groups, anchors inside) is unsupported.
 */

/** Why a pattern cannot be converted. */
export class UnsupportedPatternError extends Error {}

/** The largest `{n,m}` bound converted: llama.cpp expands a repetition into one rule per optional copy. */
const maxRepetition = 1000;
/** The deepest group nesting converted. */
const maxGroupDepth = 50;
/** The longest pattern converted, characters. */
const maxPatternLength = 2000;

/**
 * The most grammar elements a pattern may expand to once llama.cpp has unrolled its repetitions (each `{m,n}` becomes
 * n copies, nested ones multiply): `(a{0,1000}){0,1000}` would be a million rules.
 */
const maxExpandedSize = 5000;

/** Converted GBNF and the number of grammar elements it expands to. */
interface Piece {
  text: string;
  size: number;
}

function sum(pieces: readonly Piece[]): number {
  return pieces.reduce((total, piece) => total + piece.size, 0);
}

/** A character class as code-point ranges, inclusive. */
type Ranges = Array<[number, number]>;

/** Code points a JSON string must escape: `"`, `\` and the controls. */
const jsonEscaped: Ranges = [
  [0x00, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
];
/** What `.` does not match in a JavaScript regular expression without the `s` flag: line terminators. */
const lineTerminators: Ranges = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const digits: Ranges = [[0x30, 0x39]];
const wordCharacters: Ranges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
/** JavaScript's `\s` (ECMAScript WhiteSpace and LineTerminator). */
const whiteSpace: Ranges = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const maxCodePoint = 0x10ffff;

/**
 * The GBNF expression (no rule references) for the contents of a JSON string that matches `pattern`.
 *
 * @throws {UnsupportedPatternError} when the pattern uses syntax outside the subset, or cannot be parsed.
 */
export function patternGrammar(pattern: string): string {
  if (pattern.length > maxPatternLength) throw new UnsupportedPatternError(`longer than ${maxPatternLength} characters`);
  const parser = new PatternParser(pattern);
  return parser.parse();
}

class PatternParser {
  readonly #chars: string[];
  #index = 0;
  #depth = 0;

  constructor(pattern: string) {
    // Code points, so that a character outside the BMP is one atom, as with the `u` flag Ajv compiles patterns with.
    this.#chars = [...pattern];
  }

  parse(): string {
    const anchoredStart = this.#chars[0] === "^";
    if (anchoredStart) this.#index++;
    const last = this.#chars.length - 1;
    const anchoredEnd = last >= this.#index && this.#chars[last] === "$" && !isEscapedAt(this.#chars, last);
    const end = anchoredEnd ? last : this.#chars.length;
    const body = this.#alternation(end);
    if (this.#index !== end) throw new UnsupportedPatternError(`unexpected '${this.#chars[this.#index]}'`);
    const any = `${rangesGrammar(invert(union(jsonEscaped, [])))}*`;
    return [anchoredStart ? "" : any, `(${body.text})`, anchoredEnd ? "" : any].filter(Boolean).join(" ");
  }

  #alternation(end: number): Piece {
    const branches = [this.#sequence(end)];
    while (this.#index < end && this.#chars[this.#index] === "|") {
      this.#index++;
      branches.push(this.#sequence(end));
    }
    return { text: branches.map((branch) => branch.text).join(" | "), size: sum(branches) };
  }

  #sequence(end: number): Piece {
    const items: Piece[] = [];
    while (this.#index < end && this.#chars[this.#index] !== "|" && this.#chars[this.#index] !== ")") {
      const atom = this.#atom(end);
      items.push(this.#quantified(atom, end));
    }
    return items.length === 0 ? { text: '""', size: 1 } : { text: items.map((item) => item.text).join(" "), size: sum(items) };
  }

  #quantified(atom: Piece, end: number): Piece {
    const char = this.#chars[this.#index];
    let min: number;
    let max: number | undefined;
    if (char === "*" || char === "+" || char === "?") {
      this.#index++;
      [min, max] = char === "*" ? [0, undefined] : char === "+" ? [1, undefined] : [0, 1];
    } else if (char === "{") {
      const close = this.#chars.indexOf("}", this.#index);
      const match = close < 0 || close >= end ? null : /^\{(\d+)(,(\d*))?\}$/.exec(this.#chars.slice(this.#index, close + 1).join(""));
      // JavaScript reads a `{` that starts no quantifier as a literal, but not with the `u` flag Ajv uses.
      if (match === null) throw new UnsupportedPatternError("a '{' that is no quantifier");
      this.#index = close + 1;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
      if (min > maxRepetition || (max !== undefined && max > maxRepetition)) {
        throw new UnsupportedPatternError(`a repetition above ${maxRepetition}`);
      }
      if (max !== undefined && max < min) throw new UnsupportedPatternError("a repetition whose maximum is below its minimum");
    } else {
      return atom;
    }
    // llama.cpp expands `x{m,n}` into n copies of x: nested repetitions multiply.
    const size = atom.size * Math.max(1, max ?? min);
    if (size > maxExpandedSize) throw new UnsupportedPatternError(`repetitions that expand past ${maxExpandedSize} grammar elements`);
    if (this.#chars[this.#index] === "?") this.#index++; // lazy: the same language
    if (this.#chars[this.#index] === "*" || this.#chars[this.#index] === "+" || this.#chars[this.#index] === "?") {
      throw new UnsupportedPatternError("a quantifier after a quantifier");
    }
    const group = `(${atom.text})`;
    const text =
      max === undefined
        ? min === 0
          ? `${group}*`
          : min === 1
            ? `${group}+`
            : `${group}{${min},}`
        : min === 0 && max === 1
          ? `${group}?`
          : max === 0
            ? '""'
            : min === max
              ? `${group}{${min}}`
              : `${group}{${min},${max}}`;
    return { text, size };
  }

  #atom(end: number): Piece {
    const char = this.#chars[this.#index]!;
    switch (char) {
      case "(": {
        this.#index++;
        if (this.#chars[this.#index] === "?") {
          if (this.#chars[this.#index + 1] !== ":") throw new UnsupportedPatternError("a lookaround or named group");
          this.#index += 2;
        }
        if (++this.#depth > maxGroupDepth) throw new UnsupportedPatternError(`groups nested deeper than ${maxGroupDepth}`);
        const body = this.#alternation(end);
        if (this.#chars[this.#index] !== ")") throw new UnsupportedPatternError("an unclosed group");
        this.#index++;
        this.#depth--;
        return { text: `(${body.text})`, size: body.size };
      }
      case ".":
        this.#index++;
        return { text: rangesGrammar(invert(union(jsonEscaped, lineTerminators))), size: 1 };
      case "[":
        return { text: this.#characterClass(end), size: 1 };
      case "\\":
        return { text: this.#escape(), size: 1 };
      case "^":
      case "$":
        throw new UnsupportedPatternError(`the anchor '${char}' inside the pattern`);
      case "*":
      case "+":
      case "?":
      case "{":
      case "}":
      case "]":
        throw new UnsupportedPatternError(`'${char}' with nothing to repeat or open`);
      default:
        this.#index++;
        return { text: literalGrammar(char.codePointAt(0)!), size: 1 };
    }
  }

  #escape(): string {
    const next = this.#chars[this.#index + 1];
    if (next === undefined) throw new UnsupportedPatternError("a trailing backslash");
    const classRanges = escapeClass(next);
    if (classRanges !== undefined) {
      this.#index += 2;
      return rangesGrammar(subtract(classRanges, jsonEscaped));
    }
    const codePoint = this.#escapedCodePoint();
    return literalGrammar(codePoint);
  }

  /** The code point of the escape at the cursor (`\n`, `\x41`, `\.`), moving past it. */
  #escapedCodePoint(): number {
    const next = this.#chars[this.#index + 1]!;
    const controls: Record<string, number> = { t: 0x09, n: 0x0a, r: 0x0d, f: 0x0c, v: 0x0b, "0": 0 };
    if (next in controls && !/\d/.test(this.#chars[this.#index + 2] ?? "")) {
      this.#index += 2;
      return controls[next]!;
    }
    if (next === "x" || next === "u") {
      const length = next === "x" ? 2 : 4;
      const hex = this.#chars.slice(this.#index + 2, this.#index + 2 + length).join("");
      if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(hex)) throw new UnsupportedPatternError(`the escape '\\${next}${hex}'`);
      this.#index += 2 + length;
      return Number.parseInt(hex, 16);
    }
    // With the `u` flag only syntax characters (and `/`, `-`) may be escaped: anything else is a class or unsupported.
    if (/^[\^$\\.*+?()[\]{}|/-]$/.test(next)) {
      this.#index += 2;
      return next.codePointAt(0)!;
    }
    throw new UnsupportedPatternError(`the escape '\\${next}'`);
  }

  #characterClass(end: number): string {
    this.#index++;
    const negated = this.#chars[this.#index] === "^";
    if (negated) this.#index++;
    let ranges: Ranges = [];
    // With the `u` flag a `]` always closes the class (`[]` matches nothing), as in JavaScript.
    while (this.#index < end && this.#chars[this.#index] !== "]") {
      const low = this.#classAtom();
      if (Array.isArray(low)) {
        ranges = union(ranges, low);
        continue;
      }
      if (this.#chars[this.#index] === "-" && this.#index + 1 < end && this.#chars[this.#index + 1] !== "]") {
        this.#index++;
        const high = this.#classAtom();
        if (Array.isArray(high)) throw new UnsupportedPatternError("a class escape as the end of a range");
        if (high < low) throw new UnsupportedPatternError("a range out of order");
        ranges = union(ranges, [[low, high]]);
      } else {
        ranges = union(ranges, [[low, low]]);
      }
    }
    if (this.#chars[this.#index] !== "]") throw new UnsupportedPatternError("an unclosed character class");
    this.#index++;
    const allowed = negated ? invert(union(ranges, jsonEscaped)) : subtract(ranges, jsonEscaped);
    if (allowed.length === 0) throw new UnsupportedPatternError("a character class that leaves no character a JSON string may hold");
    return rangesGrammar(allowed);
  }

  /** One member of a class: a code point, or the ranges of a class escape (`\d`). */
  #classAtom(): number | Ranges {
    const char = this.#chars[this.#index]!;
    if (char !== "\\") {
      this.#index++;
      return char.codePointAt(0)!;
    }
    const next = this.#chars[this.#index + 1];
    if (next === "b") {
      this.#index += 2;
      return 0x08;
    }
    const classRanges = next === undefined ? undefined : escapeClass(next);
    if (classRanges !== undefined) {
      this.#index += 2;
      return classRanges;
    }
    if (next === undefined) throw new UnsupportedPatternError("a trailing backslash");
    return this.#escapedCodePoint();
  }
}

/** The ranges of a class escape (`d`, `D`, `w`, `W`, `s`, `S`), or `undefined` for another letter. */
function escapeClass(letter: string): Ranges | undefined {
  switch (letter) {
    case "d":
      return digits;
    case "D":
      return invert(digits);
    case "w":
      return wordCharacters;
    case "W":
      return invert(wordCharacters);
    case "s":
      return whiteSpace;
    case "S":
      return invert(whiteSpace);
    default:
      return undefined;
  }
}

/** Whether the character at `index` is preceded by an odd number of backslashes. */
function isEscapedAt(chars: readonly string[], index: number): boolean {
  let backslashes = 0;
  for (let at = index - 1; at >= 0 && chars[at] === "\\"; at--) backslashes++;
  return backslashes % 2 === 1;
}

/** A GBNF expression for one code point as it appears inside a JSON string (escaped when JSON requires it). */
function literalGrammar(codePoint: number): string {
  const json = JSON.stringify(String.fromCodePoint(codePoint)).slice(1, -1);
  return `"${[...json].map(gbnfLiteralChar).join("")}"`;
}

function gbnfLiteralChar(char: string): string {
  if (char === '"' || char === "\\") return `\\${char}`;
  return /^[\x20-\x7e]$/.test(char) ? char : hexEscape(char.codePointAt(0)!);
}

/** A GBNF character class for `ranges` (already free of what JSON escapes), every member as a hex escape. */
function rangesGrammar(ranges: Ranges): string {
  if (ranges.length === 0) throw new UnsupportedPatternError("a class that leaves no character a JSON string may hold");
  return `[${ranges.map(([low, high]) => (low === high ? hexEscape(low) : `${hexEscape(low)}-${hexEscape(high)}`)).join("")}]`;
}

function hexEscape(codePoint: number): string {
  if (codePoint <= 0xff) return `\\x${codePoint.toString(16).padStart(2, "0")}`;
  if (codePoint <= 0xffff) return `\\u${codePoint.toString(16).padStart(4, "0")}`;
  return `\\U${codePoint.toString(16).padStart(8, "0")}`;
}

/** `a` ∪ `b`, sorted and merged. */
function union(a: Ranges, b: Ranges): Ranges {
  const sorted = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const merged: Ranges = [];
  for (const [low, high] of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && low <= last[1] + 1) last[1] = Math.max(last[1], high);
    else merged.push([low, high]);
  }
  return merged;
}

/** Every code point not in `ranges` (surrogates excluded: they are no characters). */
function invert(ranges: Ranges): Ranges {
  const result: Ranges = [];
  let next = 0;
  for (const [low, high] of union(ranges, [[0xd800, 0xdfff]])) {
    if (low > next) result.push([next, low - 1]);
    next = Math.max(next, high + 1);
  }
  if (next <= maxCodePoint) result.push([next, maxCodePoint]);
  return result;
}

/** `a` without `b`. */
function subtract(a: Ranges, b: Ranges): Ranges {
  const allowed = invert(b);
  const result: Ranges = [];
  for (const [low, high] of union(a, [])) {
    for (const [allowedLow, allowedHigh] of allowed) {
      const from = Math.max(low, allowedLow);
      const to = Math.min(high, allowedHigh);
      if (from <= to) result.push([from, to]);
    }
  }
  return union(result, []);
}
