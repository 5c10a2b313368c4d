import { describe, expect, it } from "vitest";
import type { ModelEntry } from "../../spec/index.js";
import { findOllamaModel, ollamaListName, ollamaPullReference, resolveOllamaModel } from "./model-names.js";

const entries: ModelEntry[] = [
  { id: "tiny", path: "/m/tiny.gguf", source: "config", aliases: ["qwen3:30b-a3b"] },
  { id: "Qwen/Qwen3-0.6B-GGUF:Q8_0", path: "/m/q.gguf", source: "store" },
  { id: "owner/repo:Q4_K_M", path: "/m/r.gguf", source: "store" },
];

describe("Ollama model names", () => {
  it.each([
    ["tiny", "tiny"],
    ["tiny:latest", "tiny"],
    ["TINY", "tiny"],
    ["qwen3:30b-a3b", "tiny"],
    ["hf.co/Qwen/Qwen3-0.6B-GGUF:Q8_0", "Qwen/Qwen3-0.6B-GGUF:Q8_0"],
    ["hf.co/Qwen/Qwen3-0.6B-GGUF:q8_0", "Qwen/Qwen3-0.6B-GGUF:Q8_0"],
    ["huggingface.co/Qwen/Qwen3-0.6B-GGUF:Q8_0", "Qwen/Qwen3-0.6B-GGUF:Q8_0"],
    ["hf.co/owner/repo", "owner/repo:Q4_K_M"],
    ["hf.co/owner/repo:latest", "owner/repo:Q4_K_M"],
    ["my-copy:latest", "tiny"],
  ])("%s reaches %s", (name, id) => {
    expect(findOllamaModel(name, entries, new Map([["my-copy", "tiny"]]))).toBe(id);
  });

  it("answers an unknown name with Ollama's 404 message", () => {
    expect(() => resolveOllamaModel("llama3.2", entries, new Map())).toThrow(
      expect.objectContaining({ status: 404, message: expect.stringMatching(/^model 'llama3\.2' not found/) }),
    );
  });

  it("lists names with a tag", () => {
    expect(ollamaListName("tiny")).toBe("tiny:latest");
    expect(ollamaListName("qwen3:30b-a3b")).toBe("qwen3:30b-a3b");
    expect(ollamaListName("owner/repo:Q8_0")).toBe("owner/repo:Q8_0");
    expect(ollamaListName("owner/repo/file.gguf")).toBe("owner/repo/file.gguf:latest");
  });

  it("pulls hf.co names as hf: references, aliases as their targets, and refuses library names saying what to do", () => {
    expect(ollamaPullReference("hf.co/owner/repo:Q8_0", {})).toBe("hf:owner/repo:Q8_0");
    expect(ollamaPullReference("hf.co/owner/repo:latest", {})).toBe("hf:owner/repo:Q4_K_M");
    expect(ollamaPullReference("qwen3:30b-a3b", { "qwen3:30b-a3b": "hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M" })).toBe(
      "hf:Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M",
    );
    expect(ollamaPullReference("https://host/m.gguf", {})).toBe("https://host/m.gguf");
    for (const name of ["qwen3:30b-a3b", "./model.gguf"]) {
      expect(() => ollamaPullReference(name, {})).toThrow(
        expect.objectContaining({ status: 400, message: expect.stringContaining("hf.co/OWNER/REPO:QUANT") }),
      );
    }
  });
});
