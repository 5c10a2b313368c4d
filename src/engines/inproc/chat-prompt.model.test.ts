import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import { hasTestModels, testModelPath, getTestLlama } from "../../../test/helpers/models.js";
import { ChatTemplate } from "./chat-prompt.js";
import { tokenizePrompt } from "./tokenize-prompt.js";

describe.skipIf(!hasTestModels)("ChatTemplate on the Qwen3 template", () => {
  let model: LlamaModel;
  beforeAll(async () => {
    const llama = await getTestLlama();
    model = await llama.loadModel({ modelPath: testModelPath("tiny-qwen3moe.gguf") });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("renders tools, the call and its result in Qwen's format, and stops on <|im_end|>", () => {
    const rendered = new ChatTemplate(model, resolveChatWrapper(model)).render(
      [
        { role: "user", text: "Weather in Paris?" },
        { role: "assistant", text: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"location":"Paris"}' }] },
        { role: "tool", toolCallId: "call_1", text: '{"temp":20}' },
      ],
      [{ name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { location: { type: "string" } } } }],
    );
    const text = model.detokenize(tokenizePrompt(model, { kind: "template", text: rendered.text }), true);
    expect(text).toContain("<tools>");
    expect(text).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"location": "Paris"}}\n</tool_call>');
    expect(text).toContain('<tool_response>\n{"temp": 20}\n</tool_response>');
    expect(text.endsWith("<|im_start|>assistant\n")).toBe(true);
    expect([...rendered.stopTokens].map((token) => model.detokenize([token], true))).toContain("<|im_end|>");
  });

  it("finds the stop tokens and texts of a template once, for every chat", () => {
    const template = new ChatTemplate(model, resolveChatWrapper(model));
    const first = template.render([{ role: "user", text: "Hi" }]);
    const second = template.render([
      { role: "system", text: "Be brief." },
      { role: "user", text: "Weather?" },
    ]);
    expect(second.stopTokens).toBe(first.stopTokens);
    expect(second.stopTexts).toBe(first.stopTexts);
  });
});
