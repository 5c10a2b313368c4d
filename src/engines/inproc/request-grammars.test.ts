import { describe, expect, it } from "vitest";
import { boundNumberRules } from "./request-grammars.js";

// The rules as node-llama-cpp 3.21.1's JSON-schema converter writes them, beside a rule that must stay as it is.
const converted = [
  'root ::= "[" integer-number-rule "," fractional-number-rule "]"',
  'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?',
  'fractional-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? ("0" | [1-9] [0-9]{0,15}))?',
  'boolean-rule ::= "true" | "false"',
].join("\n");

describe("boundNumberRules", () => {
  it("drops the integer's exponent and bounds the number's to two digits, leaving other rules alone", () => {
    expect(boundNumberRules(converted).split("\n")).toEqual([
      'root ::= "[" integer-number-rule "," fractional-number-rule "]"',
      'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15})',
      'fractional-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?',
      'boolean-rule ::= "true" | "false"',
    ]);
  });

  it("returns a grammar without number rules unchanged", () => {
    const grammar = 'root ::= "\\"a\\""';
    expect(boundNumberRules(grammar)).toBe(grammar);
  });
});
