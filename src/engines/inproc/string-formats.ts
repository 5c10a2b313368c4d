import { isIPv6 } from "node:net";

/**
 * A JSON-schema string `format` moestro knows: how to check a value after decoding, and, where a grammar can hold it,
 * the GBNF expression (no rule references) of the string's contents that decoding follows.
 */
export interface StringFormat {
  /** Whether `value` is in the format (the output check, through Ajv's `addFormat`). */
  check(value: string): boolean;
  /** The contents of a JSON string in the format, as GBNF; absent when the format is only checked after decoding. */
  grammar?: string;
}

const hour = '([01] [0-9] | "2" [0-3])';
const minute = "[0-5] [0-9]";
/** Days valid in every year: the grammar never writes February 29, which only leap years have. */
const dateGrammar = [
  '[0-9]{4} "-" (',
  '("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])',
  '| ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30")',
  '| "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]))',
].join(" ");
const timeGrammar = `${hour} ":" ${minute} ":" ${minute} ("." [0-9]{1,6})? ("Z" | [+-] ${hour} ":" ${minute})`;
const hostLabel = "[a-z0-9] ([a-z0-9-]{0,20} [a-z0-9])?";
const octet = '("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9]? [0-9])';

const timeCheck = /^([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d+)?)?([zZ]|[+-]([01]\d|2[0-3]):?[0-5]\d)?$/;
const hostnameCheck = /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$/i;

function isDate(value: string): boolean {
  const match = /^(\d{4})-(\d\d)-(\d\d)$/.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days;
}

/**
 * The string formats moestro enforces or checks (JSON Schema 2020-12 "Defined Formats"; OpenAI's structured outputs
 * list the same names). Without `ajv-formats` these are moestro's own, and deliberately lenient where the common
 * schema generators disagree with RFC 3339: zod 4's `z.iso.time()` pattern has no UTC offset and optional seconds,
 * and its `z.iso.datetime()` optional seconds, so `time` accepts `HH:MM`, optional seconds and fraction, and an
 * optional offset, and `date-time` a `date`, `T`, and such a time. The grammar writes a stricter form than the check
 * accepts (seconds and an offset always; no February 29).
 *
 * - grammar and check: `date` (days checked against the month, leap years included), `time`, `date-time`, `uuid`
 *   (8-4-4-4-12 hexadecimal digits), `email` (loose: `local@domain.tld`, letters, digits and `_+-` in dot-separated
 *   parts, as zod's email pattern allows), `hostname`, `ipv4`;
 * - check only (the grammar writes any string, so a model may break them: a 500 `invalid_model_output`): `duration`
 *   (ISO 8601), `ipv6`, `uri` (an absolute URL with a scheme).
 */
export const stringFormats: ReadonlyMap<string, StringFormat> = new Map<string, StringFormat>([
  ["date", { check: isDate, grammar: dateGrammar }],
  ["time", { check: (value) => timeCheck.test(value), grammar: timeGrammar }],
  [
    "date-time",
    {
      check: (value) => {
        const match = /^(\d{4}-\d\d-\d\d)[tT ](.*)$/.exec(value);
        return match !== null && isDate(match[1]!) && timeCheck.test(match[2]!);
      },
      grammar: `${dateGrammar} "T" ${timeGrammar}`,
    },
  ],
  [
    "uuid",
    {
      check: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value),
      grammar: '[0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12}',
    },
  ],
  [
    "email",
    {
      check: (value) =>
        /^[^\s@"<>()[\]\\,;:]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$/i.test(value),
      grammar: `[a-zA-Z0-9_+-]{1,24} ("." [a-zA-Z0-9_+-]{1,24}){0,3} "@" (${hostLabel} "."){1,3} [a-z]{2,8}`,
    },
  ],
  ["hostname", { check: (value) => hostnameCheck.test(value), grammar: `${hostLabel} ("." ${hostLabel}){0,4}` }],
  [
    "ipv4",
    {
      check: (value) => /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(value),
      grammar: `${octet} ("." ${octet}){3}`,
    },
  ],
  [
    "duration",
    {
      check: (value) =>
        /^P(?!$)(\d+(?:\.\d+)?W|(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(?:\.\d+)?S)?)?)$/.test(value) && !value.endsWith("T"),
    },
  ],
  ["ipv6", { check: (value) => isIPv6(value) }],
  [
    "uri",
    {
      check: (value) => {
        if (!/^[a-z][a-z0-9+.-]*:[^\s]*$/i.test(value)) return false;
        return URL.canParse(value);
      },
    },
  ],
]);
