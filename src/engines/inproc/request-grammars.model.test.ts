import type { LlamaGrammar, LlamaModel } from "node-llama-cpp";
import { LlamaGrammarEvaluationState } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTestLlama, hasTestModels, testModelPath } from "../../../test/helpers/models.js";
import { acceptGrammarToken } from "./grammar-state.js";
import { RequestGrammars } from "./request-grammars.js";

describe.skipIf(!hasTestModels)("RequestGrammars: numbers", () => {
  let model: LlamaModel;
  let grammars: { xml: RequestGrammars; json: RequestGrammars };
  beforeAll(async () => {
    const llama = await getTestLlama();
    model = await llama.loadModel({ modelPath: testModelPath("tiny-qwen35moe.gguf") });
    grammars = { xml: new RequestGrammars(llama, "xml"), json: new RequestGrammars(llama, "json") };
  });
  afterAll(async () => {
    await model?.dispose();
  });

  /** Whether `grammar` lets the model write `text`, token by token. */
  const allows = (grammar: LlamaGrammar, text: string): boolean => {
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    try {
      for (const token of model.tokenize(text, false)) acceptGrammarToken(state, token);
      return true;
    } catch {
      return false;
    }
  };
  const parameters = { type: "object", properties: { n: { type: "integer" }, x: { type: "number" } }, required: ["n", "x"] };

  it("writes integers and numbers without leading zeros, in the XML tool-call form as in JSON", async () => {
    const xml = await grammars.xml.toolCall([{ name: "f", parameters }]);
    const call = (n: string, x: string) =>
      `<function=f>\n<parameter=n>\n${n}\n</parameter>\n<parameter=x>\n${x}\n</parameter>\n</function>`;
    const json = await grammars.json.schema(parameters, "response_format");
    const object = (n: string, x: string) => `{"n": ${n}, "x": ${x}}`;
    for (const [form, grammar, write] of [
      ["xml", xml, call],
      ["json", json, object],
    ] as const) {
      expect([form, allows(grammar, write("-7", "0.25e-3"))]).toEqual([form, true]);
      expect([form, allows(grammar, write("0", "10"))]).toEqual([form, true]);
      expect([form, allows(grammar, write("007", "1"))]).toEqual([form, false]);
      expect([form, allows(grammar, write("7", "00.5"))]).toEqual([form, false]);
      expect([form, allows(grammar, write("7", "1e400"))]).toEqual([form, false]);
    }
  });

  it("issue 18: an integer's bounds hold in the XML tool-call form and in JSON, zod 4's safe-integer bounds included", async () => {
    const bounded = {
      type: "object",
      properties: {
        n: { type: "integer", minimum: 10, maximum: 20 },
        big: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
      },
      required: ["n", "big"],
    };
    const xml = await grammars.xml.toolCall([{ name: "f", parameters: bounded }]);
    const call = (n: string, big: string) =>
      `<function=f>\n<parameter=n>\n${n}\n</parameter>\n<parameter=big>\n${big}\n</parameter>\n</function>`;
    const json = await grammars.json.schema(bounded, "response_format");
    const object = (n: string, big: string) => `{"n": ${n}, "big": ${big}}`;
    for (const [form, grammar, write] of [
      ["xml", xml, call],
      ["json", json, object],
    ] as const) {
      expect([form, allows(grammar, write("15", "-9007199254740991"))]).toEqual([form, true]);
      expect([form, allows(grammar, write("20", "9007199254740991"))]).toEqual([form, true]);
      expect([form, allows(grammar, write("21", "0"))]).toEqual([form, false]);
      expect([form, allows(grammar, write("9", "0"))]).toEqual([form, false]);
      expect([form, allows(grammar, write("10", "9007199254740992"))]).toEqual([form, false]);
    }
  });

  it("issue 18: length-bounded strings build up to 1,999 characters (the BMP rule is defined before its use) and at 2,000", async () => {
    // llama.cpp refused `( rule ){0,1000}` when the rule was defined after it ("exceeds sane defaults").
    for (const maxLength of [5, 1000, 1999, 2000]) {
      const grammar = await grammars.json.schema(
        { type: "object", properties: { s: { type: "string", maxLength } }, required: ["s"] },
        "p",
      );
      expect(allows(grammar, `{"s": "${"é".repeat(Math.min(maxLength, 5))}"}`)).toBe(true);
      expect(allows(grammar, `{"s": "\u{1F600}"}`)).toBe(false);
    }
    for (const maxItems of [1000, 1999, 2000, 2001]) {
      const items = { type: "object", properties: { a: { type: "array", items: { type: "integer" }, maxItems } }, required: ["a"] };
      expect(allows(await grammars.json.schema(items, "p"), '{"a": [1, 2]}')).toBe(true);
    }
  });
});
