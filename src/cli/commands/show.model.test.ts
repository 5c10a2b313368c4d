import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { hasTestModels, skipReason, testModelPath } from "../../../test/helpers/models.js";
import { ModelStore } from "../../models/model-store.js";
import { createShowCommand, type ShowCommandDeps } from "./show.js";

async function runShow(args: string[], deps: ShowCommandDeps = {}): Promise<string> {
  const out: string[] = [];
  await createShowCommand({ env: {}, ...deps, write: (text) => void out.push(text) }).parseAsync(args, { from: "user" });
  return out.join("");
}

describe.skipIf(!hasTestModels)("moestro show on the tiny models", () => {
  test("stories260K-moe: a readable summary", async () => {
    const text = await runShow([testModelPath("stories260K-moe.gguf")]);
    expect(text).toMatch(/^model: +stories260K-moe$/m);
    expect(text).toMatch(/^architecture: +llama$/m);
    expect(text).toMatch(/^experts: +4 routed, 2 used per token/m);
    expect(text).toMatch(/^context length: +512 tokens$/m);
    expect(text).toMatch(/^chat template: +none$/m);
    expect(text).toMatch(/quantization mix\ntype +tensors +parameters +size +share/);
    expect(text).toMatch(/^Q8_0 /m);
  });

  test("a pulled model's name resolves through the local store ($MOESTRO_HOME)", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-home-"));
    try {
      const store = new ModelStore(home);
      const name = "tiny/stories260K-moe-GGUF:Q8_0";
      mkdirSync(store.folderFor(name), { recursive: true });
      copyFileSync(testModelPath("stories260K-moe.gguf"), path.join(store.folderFor(name), "stories260K-moe.gguf"));
      const sizeBytes = statSync(testModelPath("stories260K-moe.gguf")).size;
      await store.save({
        name,
        ref: `hf:${name}`,
        files: [{ name: "stories260K-moe.gguf", sizeBytes, sha256: "0".repeat(64) }],
        pulledAtMs: 0,
      });
      const facts = JSON.parse(await runShow([name, "--json"], { env: { MOESTRO_HOME: home } })) as Record<string, any>;
      expect(facts.source).toEqual({ kind: "file", path: path.join(store.folderFor(name), "stories260K-moe.gguf"), sizeBytes });
      expect(facts.moe).toMatchObject({ expertCount: 4, expertUsedCount: 2 });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test("tiny-qwen3moe --json: parameters, experts, quantization and chat features", async () => {
    const facts = JSON.parse(await runShow([testModelPath("tiny-qwen3moe.gguf"), "--json"])) as Record<string, any>;
    expect(facts.architecture).toBe("qwen3moe");
    expect(facts.parameters.total).toBeGreaterThan(facts.parameters.active);
    expect(facts.moe).toMatchObject({ expertCount: 8, expertUsedCount: 2 });
    expect(facts.layerCount).toBe(2);
    expect(facts.contextTokens).toBe(4096);
    expect(facts.fileSizeBytes).toBe(16948736);
    expect(facts.quantization.map((share: { type: string }) => share.type)).toEqual(["Q4_0", "F32"]);
    expect(facts.chat).toEqual({ hasTemplate: true, templateFamily: "Qwen 3", supportsThinking: true, supportsTools: true });
  });
});
if (!hasTestModels) test.skip(skipReason, () => {});
