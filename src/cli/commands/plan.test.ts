import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runPlan, runPlanJson } from "../../../test/helpers/plan-command.js";
import { ggufToolsSkipReason, hasGgufTools, qwen3_30b_a3b, writeQwen3MoeHeader } from "../../../test/planner/gguf-fixtures.js";

describe("moestro plan without a model", () => {
  test("--list-hardware prints the catalog", async () => {
    expect(await runPlan(["--list-hardware"])).toMatch(/^h200 +gpu +141 GiB +4800 GB\/s +700 W/m);
  });
});

describe.skipIf(!hasGgufTools)("moestro plan on Qwen3-30B-A3B's real shape (header only)", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-plan-"));
    file = path.join(dir, "Qwen3-30B-A3B-Q4_K_M.gguf");
    await writeQwen3MoeHeader(file, qwen3_30b_a3b);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a 12 GiB GPU keeps attention on the GPU and some layers' experts in RAM: --n-cpu-moe N", async () => {
    const plan = await runPlanJson([file, "--vram", "12GiB", "--vram-bandwidth", "900", "--ram", "64GiB", "--parallel", "1"]);
    expect(plan.fits).toBe(true);
    expect(plan.placement.kind).toBe("gpu-cpu-experts");
    const n = plan.placement.cpuExpertLayers;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(48);
    expect(plan.llamaServerArgs).toEqual(["-m", file, "-c", "4096", "-np", "1", "-ngl", "49", "--n-cpu-moe", String(n)]);
    expect(plan.decodeTokensPerSecond).toBeGreaterThan(0);
  });

  test("an RTX 4090 with 64 GB: all on the GPU at 4096 × 1, experts spill at 32768 × 4", async () => {
    const small = await runPlanJson([file, "--hardware", "rtx-4090", "--parallel", "1"]);
    expect(small.placement.kind).toBe("gpu");
    const large = await runPlanJson([file, "--hardware", "rtx-4090", "--ctx", "32768", "--parallel", "4"]);
    expect(large.placement.kind).toBe("gpu-cpu-experts");
    expect(large.llamaServerArgs).toContain("--n-cpu-moe");
    expect(large.decodeTokensPerSecond).toBeLessThan(small.decodeTokensPerSecond);
  });
});
if (!hasGgufTools) test.skip(ggufToolsSkipReason, () => {});
