import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { modelRefName, parseModelRef } from "./model-ref.js";

describe("parseModelRef and modelRefName", () => {
  it("names a URL's model by its decoded file name without .gguf", () => {
    const ref = parseModelRef("https://example.com/models/My%20Model-Q8_0.gguf?download=1");
    expect(ref).toEqual({ kind: "url", url: "https://example.com/models/My%20Model-Q8_0.gguf?download=1" });
    expect(modelRefName(ref)).toBe("My Model-Q8_0");
    expect(modelRefName(parseModelRef("https://example.com/"))).toBe("model");
  });

  it.each([
    ["https://example.com/%zz.gguf", "malformed percent-encoding in its file name '%zz.gguf'"],
    ["https://example.com/a%E0%A4%A.gguf", "malformed percent-encoding"],
    ["https://example.com/%FF.gguf", "malformed percent-encoding"],
    ["https://", "is not a valid URL"],
  ])("refuses %s with invalid_request naming model", (text, fragment) => {
    let caught: unknown;
    try {
      parseModelRef(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MoestroError);
    expect(caught).toMatchObject({ code: "invalid_request", status: 400, param: "model" });
    expect((caught as Error).message).toContain(fragment);
  });

  it("reads hf: references and local paths", () => {
    expect(modelRefName(parseModelRef("hf:Qwen/Qwen3-0.6B-GGUF:q8_0"))).toBe("Qwen/Qwen3-0.6B-GGUF:Q8_0");
    expect(parseModelRef("./a%zz.gguf")).toEqual({ kind: "path", path: "./a%zz.gguf" });
  });
});
