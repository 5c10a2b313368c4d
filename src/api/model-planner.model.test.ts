import { describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../../test/helpers/models.js";
import type { HostProbe } from "../planner/index.js";
import { createModelPlanner } from "./model-planner.js";

const host: HostProbe = {
  cpuName: "Test CPU",
  cores: 8,
  clockHz: 3e9,
  flopsPerCycle: 32,
  totalMemoryBytes: 32 * 2 ** 30,
  availableMemoryBytes: 16 * 2 ** 30,
  bandwidthBytesPerSecond: 40e9,
};

describe.skipIf(!hasTestModels)("the server's model planner (real GGUF headers)", () => {
  it("reads the MoE facts and plans the model on this machine for the server's context shape", async () => {
    const probes: boolean[] = [];
    const planner = createModelPlanner({
      contextTokens: 256,
      sequences: 2,
      batchTokens: 64,
      threads: 3,
      probeHost: async ({ measureBandwidth }) => {
        probes.push(measureBandwidth);
        return { ...host, bandwidthBytesPerSecond: measureBandwidth ? host.bandwidthBytesPerSecond : undefined };
      },
    });
    const plan = await planner.plan({ id: "stories260K-moe", path: testModelPath("stories260K-moe.gguf"), source: "config" });
    expect(plan.model).toBe("stories260K-moe");
    expect(plan.facts).toMatchObject({ architecture: "llama", layer_count: 5, expert_count: 4, expert_used_count: 2 });
    expect(plan.facts.active_parameters).toBeLessThan(plan.facts.total_parameters);
    expect(plan.memory).toMatchObject({ context_tokens: 256, sequences: 2 });
    expect(plan.placement).toMatchObject({ kind: "cpu", fits: true, gpu: null });
    expect(plan.decode_tokens_per_second).toBeGreaterThan(0);
    expect(plan.hardware.name).toContain("Test CPU");
    expect(plan.worker_args).toEqual(expect.arrayContaining(["-c", "512", "-np", "2", "-t", "3", "-ngl", "0", "-b", "64"]));

    // The copy bandwidth is measured once; later plans reuse it.
    const dense = await planner.plan({ id: "stories260K", path: testModelPath("stories260K.gguf"), source: "config" });
    expect(probes).toEqual([true, false]);
    expect(dense.facts.expert_count).toBeNull();
    expect(dense.decode_tokens_per_second).toBeGreaterThan(0);
    expect(dense.hardware.sources.join("\n")).not.toContain("not measured");
  });
});
