import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { startFakeHub } from "../../../test/helpers/fake-hub.js";
import { ggufToolsSkipReason, hasGgufTools, qwen3_235b_a22b, writeQwen3MoeHeader } from "../../../test/planner/gguf-fixtures.js";
import { createShowCommand, type ShowCommandDeps } from "./show.js";

async function runShow(args: string[], deps: ShowCommandDeps = {}): Promise<string> {
  const out: string[] = [];
  await createShowCommand({ env: {}, ...deps, write: (text) => void out.push(text) }).parseAsync(args, { from: "user" });
  return out.join("");
}

describe.skipIf(!hasGgufTools)("moestro show on a hub reference", () => {
  test("reads HF_ENDPOINT and prints the 235B's counts without downloading it", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "moestro-show-"));
    await writeQwen3MoeHeader(path.join(dir, "big.gguf"), qwen3_235b_a22b);
    const header = readFileSync(path.join(dir, "big.gguf"));
    const hub = await startFakeHub({
      repos: { "acme/Qwen3-30B-A3B-GGUF": [{ path: "Qwen3-235B-A22B-Q4_K_M.gguf", content: header, listedSizeBytes: 142_650_000_000 }] },
    });
    try {
      const text = await runShow(["hf:acme/Qwen3-30B-A3B-GGUF:Q4_K_M"], { env: { HF_ENDPOINT: hub.url } });
      expect(text).toMatch(/^parameters: +235B total, 22\.\dB active per token$/m);
      expect(text).toMatch(/^file size: +133 GiB$/m);
      expect(text).toContain(`${hub.url}/acme/Qwen3-30B-A3B-GGUF/resolve/main/Qwen3-235B-A22B-Q4_K_M.gguf`);
      expect(hub.log.filter((request) => request.url.includes("/resolve/")).every((request) => request.range !== undefined)).toBe(true);
    } finally {
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
if (!hasGgufTools) test.skip(ggufToolsSkipReason, () => {});
