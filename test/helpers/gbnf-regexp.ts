/**
 * A JavaScript regular expression (`u` flag, anchored) that matches what a GBNF expression without rule references
 * matches: literals `"…"`, classes `[…]` and `[^…]`, groups, `|`, and the quantifiers `* + ? {n} {n,} {n,m}` (the
 * subset moestro's own GBNF leaves are written in: `integerRangeGrammar`, `patternGrammar`, `stringFormats`). Escapes
 * as llama.cpp's GBNF parser reads them: `\xHH`, `\uHHHH`, `\UHHHHHHHH`, `\t \n \r \\ \" \[ \]`. For tests: the
 * grammar builders are checked against the values they must admit without a model.
 *
 * @throws {Error} on a rule reference or syntax outside that subset.
 */
export function gbnfExpressionToRegExp(expression: string): RegExp {
  let source = "";
  let index = 0;
  const readEscape = (): number => {
    const letter = expression[index + 1]!;
    const lengths: Record<string, number> = { x: 2, u: 4, U: 8 };
    if (letter in lengths) {
      const hex = expression.slice(index + 2, index + 2 + lengths[letter]!);
      index += 2 + lengths[letter]!;
      return Number.parseInt(hex, 16);
    }
    index += 2;
    const named: Record<string, string> = { t: "\t", n: "\n", r: "\r" };
    return (named[letter] ?? letter).codePointAt(0)!;
  };
  const asRegExp = (codePoint: number) => `\\u{${codePoint.toString(16)}}`;
  while (index < expression.length) {
    const char = expression[index]!;
    if (char === " ") {
      index++;
    } else if (char === '"') {
      index++;
      while (expression[index] !== '"') {
        if (index >= expression.length) throw new Error("unclosed literal");
        if (expression[index] === "\\") source += asRegExp(readEscape());
        else {
          source += asRegExp(expression.codePointAt(index)!);
          index += String.fromCodePoint(expression.codePointAt(index)!).length;
        }
      }
      index++;
    } else if (char === "[") {
      index++;
      source += "[";
      if (expression[index] === "^") {
        source += "^";
        index++;
      }
      while (expression[index] !== "]") {
        if (index >= expression.length) throw new Error("unclosed class");
        if (expression[index] === "-") {
          source += "-";
          index++;
        } else if (expression[index] === "\\") {
          source += asRegExp(readEscape());
        } else {
          source += asRegExp(expression.codePointAt(index)!);
          index += String.fromCodePoint(expression.codePointAt(index)!).length;
        }
      }
      source += "]";
      index++;
    } else if ("()|*+?".includes(char)) {
      source += char === "(" ? "(?:" : char;
      index++;
    } else if (char === "{") {
      const close = expression.indexOf("}", index);
      source += expression.slice(index, close + 1);
      index = close + 1;
    } else {
      throw new Error(`not in the subset at ${index}: ${expression.slice(index, index + 20)}`);
    }
  }
  return new RegExp(`^(?:${source})$`, "u");
}
