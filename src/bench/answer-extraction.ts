/**
 * How an answer was found in a response, most explicit first.
 * - `boxed`: the last `\boxed{...}`.
 * - `answer-line`: the last "Answer: X" (also "answer is X", "Final answer: **X**").
 * - `gsm8k`: the last "#### X" (GSM8K's own answer marker).
 * - `parenthesised`: the last "(X)" naming a choice.
 * - `bare`: the response, or its last line, is the answer alone ("C", "C.", "42").
 * - `last-number`: the last number in the response (numeric exact-match answers only).
 */
export type AnswerForm = "boxed" | "answer-line" | "gsm8k" | "parenthesised" | "bare" | "last-number";

/** An answer found in a response. */
export interface ExtractedAnswer {
  /** The answer: a choice letter (`"C"`), or the final answer's text as written (`"1,234"`). */
  answer: string;
  /** Where it was found. */
  form: AnswerForm;
}

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * The text a model answered with, its thought removed: `<think>...</think>` blocks are cut, and when only a closing
 * `</think>` is there (the template opened the thought), what follows the last one is kept. Servers that split
 * reasoning into `reasoning_content` send no tags, and the text is returned as it is.
 */
export function stripThinking(text: string): string {
  const withoutBlocks = text.replace(/<think>[\s\S]*?<\/think>/g, "");
  const close = withoutBlocks.lastIndexOf("</think>");
  const answer = close === -1 ? withoutBlocks : withoutBlocks.slice(close + "</think>".length);
  // An unclosed thought holds no answer.
  const open = answer.indexOf("<think>");
  return (open === -1 ? answer : answer.slice(0, open)).trim();
}

/** The contents of every `\boxed{...}` (also `\fbox{}`) in `text`, in order, braces balanced. */
export function findBoxedContents(text: string): string[] {
  const contents: string[] = [];
  const pattern = /\\(?:boxed|fbox)\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    let depth = 1;
    let index = match.index + match[0].length;
    const start = index;
    for (; index < text.length && depth > 0; index++) {
      if (text[index] === "{") depth++;
      else if (text[index] === "}") depth--;
    }
    if (depth === 0) contents.push(text.slice(start, index - 1));
    pattern.lastIndex = index;
  }
  return contents;
}

/** LaTeX and Markdown wrapping removed: `\text{C}` → `C`, `**42**` → `42`, `$5$` → `5`. */
function unwrap(text: string): string {
  let result = text.trim();
  for (let pass = 0; pass < 3; pass++) {
    result = result
      .replace(/\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}/g, "$1")
      .replace(/^\$+|\$+$/g, "")
      .replace(/^[*_`]+|[*_`]+$/g, "")
      .trim();
  }
  return result;
}

/** A choice letter at the start of `text`, alone or followed by a non-letter ("C", "(C)", "C) 42", "[C]"). */
function leadingLetter(text: string, valid: string): string | undefined {
  const match = /^(?:[Oo]ption|[Cc]hoice)?\s*[([]?\s*([A-Z])\s*[)\]]?(?![A-Za-z])/.exec(unwrap(text));
  return match && valid.includes(match[1]!) ? match[1] : undefined;
}

/** What follows each "answer" marker in `text`, last first. */
function textsAfterAnswerMarkers(text: string): string[] {
  const after: string[] = [];
  // A marker needs its separator ("Answer:", "answer is"), so that "to find the answer, ..." is not one.
  const pattern = /answer(?:\s+is\b\s*[:：]?|\s*[:：])/gi;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) after.push(text.slice(match.index + match[0].length).replace(/^[\s*_:：]+/, ""));
  return after.reverse();
}

/**
 * Finds the chosen letter of a multiple-choice question in `response` (its thought already removed by
 * {@link stripThinking}), among the first `choiceCount` letters. Forms tried, most explicit first: `\boxed{C}`,
 * "Answer: C" (also "The answer is (C)", "**Answer:** C", "Final answer: C"), the last "(C)", then a response or last
 * line that is the letter alone. Letters must be capitals, so "the answer is a trick" finds nothing.
 *
 * @returns the letter and its form, or `undefined` when no form matches (an unparsable answer).
 */
export function extractChoiceLetter(response: string, choiceCount: number): ExtractedAnswer | undefined {
  const valid = letters.slice(0, Math.max(0, Math.min(choiceCount, letters.length)));
  for (const boxed of findBoxedContents(response).reverse()) {
    const letter = leadingLetter(boxed, valid);
    if (letter) return { answer: letter, form: "boxed" };
  }
  for (const after of textsAfterAnswerMarkers(response)) {
    const letter = leadingLetter(after.split("\n")[0]!, valid);
    if (letter) return { answer: letter, form: "answer-line" };
  }
  const parenthesised = [...response.matchAll(/\(([A-Z])\)/g)].map((match) => match[1]!).filter((letter) => valid.includes(letter));
  if (parenthesised.length > 0) return { answer: parenthesised.at(-1)!, form: "parenthesised" };
  const lastLine = response.trim().split("\n").at(-1) ?? "";
  const bare = /^[([]?([A-Z])[)\].:]?$/.exec(unwrap(lastLine));
  if (bare && valid.includes(bare[1]!)) return { answer: bare[1]!, form: "bare" };
  return undefined;
}

/** The numbers in `text` as written (`-1,234.5`, `3/4`), in order. */
function findNumbers(text: string): string[] {
  return [...text.matchAll(/-?\d[\d,]*(?:\.\d+)?(?:\s*\/\s*\d+)?|-?\.\d+/g)].map((match) => match[0]);
}

/**
 * Finds the final answer of an exact-match question in `response` (its thought already removed). Forms tried, most
 * explicit first: `\boxed{...}`, "Answer: ..." (the rest of that line), "#### ..." (GSM8K), then, when
 * `isNumeric` (the expected answer is a number), the last number in the response, else a response of one short line
 * (60 characters at most) as it is.
 *
 * @returns the answer as written and its form, or `undefined` when none is found (an unparsable answer).
 */
export function extractFinalAnswer(response: string, options: { isNumeric: boolean }): ExtractedAnswer | undefined {
  const clean = (text: string): string =>
    unwrap(
      text
        .split("\n")[0]!
        .trim()
        .replace(/[.。]$/, ""),
    );
  const boxed = findBoxedContents(response).at(-1);
  if (boxed !== undefined && unwrap(boxed).length > 0) return { answer: unwrap(boxed), form: "boxed" };
  for (const after of textsAfterAnswerMarkers(response)) {
    const answer = clean(after);
    if (answer.length > 0) return { answer, form: "answer-line" };
  }
  const gsm8k = [...response.matchAll(/####\s*([^\n]+)/g)].at(-1);
  if (gsm8k) return { answer: clean(gsm8k[1]!), form: "gsm8k" };
  if (options.isNumeric) {
    const last = findNumbers(response).at(-1);
    return last === undefined ? undefined : { answer: last, form: "last-number" };
  }
  // A bare answer is a short phrase on one line; a long sentence is a response without an answer.
  const trimmed = response.trim();
  return trimmed.length > 0 && trimmed.length <= 60 && !trimmed.includes("\n") ? { answer: clean(trimmed), form: "bare" } : undefined;
}

/**
 * The value of a number as written in an answer: thousands separators, currency signs, units after it and a trailing
 * `%` are ignored; `a/b` is divided. Returns `undefined` when `text` holds no number. For an answer such as "42 apples"
 * it is 42; for "between 3 and 5" the last number, 5 (GSM8K style: the final number).
 */
export function parseAnswerNumber(text: string): number | undefined {
  const last = findNumbers(text).at(-1);
  if (last === undefined) return undefined;
  const [numerator, denominator] = last
    .replace(/,/g, "")
    .split("/")
    .map((part) => Number(part.trim()));
  if (denominator !== undefined) return denominator === 0 ? undefined : numerator! / denominator;
  return Number.isFinite(numerator) ? numerator : undefined;
}

/**
 * An answer's text normalised for comparison: lower case, Unicode NFKC, surrounding quotes and trailing punctuation
 * removed, whitespace collapsed.
 */
export function normalizeAnswerText(text: string): string {
  return unwrap(text)
    .normalize("NFKC")
    .toLowerCase()
    .replace(/^["'“‘«]+|["'”’»]+$/g, "")
    .replace(/[.。!?;,]+$/, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Whether `expected` is a number (the GSM8K style of exact-match answer): `42`, `-3.5`, `1,234`, `$12`, `75%`, `3/4`.
 * A GSM8K solution text with a `#### N` marker counts by its final number.
 */
export function isNumericAnswer(expected: string): boolean {
  return /^[-+]?[$€£]?\s*(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*\/\s*\d+)?\s*%?$/.test(expectedFinal(expected));
}

/** The expected answer proper: for a GSM8K solution, what follows its last `####`. */
function expectedFinal(expected: string): string {
  const marker = expected.lastIndexOf("####");
  return (marker === -1 ? expected : expected.slice(marker + 4)).trim();
}

/**
 * Whether an extracted answer matches the expected one. Numbers ({@link isNumericAnswer}) compare by value, within a
 * relative 1e-9 (so `1,000` = `1000.0` and `3/4` = `0.75`); other answers compare as {@link normalizeAnswerText}.
 */
export function isAnswerMatch(extracted: string, expected: string): boolean {
  const target = expectedFinal(expected);
  if (isNumericAnswer(target)) {
    const want = parseAnswerNumber(target);
    const got = parseAnswerNumber(extracted);
    if (want === undefined || got === undefined) return false;
    return Math.abs(want - got) <= 1e-9 * Math.max(1, Math.abs(want));
  }
  return normalizeAnswerText(extracted) === normalizeAnswerText(target);
}
