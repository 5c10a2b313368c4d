import { describe, expect, it } from "vitest";
import { MoestroError } from "../errors/index.js";
import { chooseEngine, type EngineChoiceInput } from "./engine-choice.js";

const expertsInRam = async () => ({
  kind: "gpu-cpu-experts" as const,
  gpuLayers: 95,
  cpuMoeLayers: 86,
  description: "experts of 86 of 94 layers in RAM",
});
const allOnGpu = async () => ({ kind: "gpu" as const, gpuLayers: 49, cpuMoeLayers: 0, description: "all on the GPU" });

function input(overrides: Partial<EngineChoiceInput>): EngineChoiceInput {
  return { requested: "auto", hasGpu: true, binaryAvailable: true, plannedPlacement: expertsInRam, modelId: "m", ...overrides };
}

describe("chooseEngine (docs/engines.md#choosing-the-engine)", () => {
  it("auto: always in-process without a GPU, and never plans there", async () => {
    let planned = false;
    const choice = await chooseEngine(
      input({
        hasGpu: false,
        plannedPlacement: async () => {
          planned = true;
          return await expertsInRam();
        },
      }),
    );
    expect(choice).toMatchObject({ kind: "inproc", placement: { description: "CPU only" } });
    expect(planned).toBe(false);
  });

  it("auto with a GPU: a worker when experts stay in RAM and a binary exists, with the plan's placement", async () => {
    expect(await chooseEngine(input({}))).toMatchObject({ kind: "llama-server", placement: { gpuLayers: 95, cpuMoeLayers: 86 } });
    expect((await chooseEngine(input({ plannedPlacement: allOnGpu }))).kind).toBe("inproc");
  });

  it("auto with a GPU and no binary: in-process, with one line naming the command that builds one", async () => {
    const choice = await chooseEngine(input({ binaryAvailable: false }));
    expect(choice.kind).toBe("inproc");
    expect(choice.warning).toMatch(/moestro engine build/);
  });

  it("llama-server: CPU only without a GPU; overrides win; no binary is an error naming the build command", async () => {
    expect(await chooseEngine(input({ requested: "llama-server", hasGpu: false }))).toMatchObject({
      kind: "llama-server",
      placement: { gpuLayers: 0, cpuMoeLayers: 0 },
    });
    const overridden = await chooseEngine(input({ requested: "llama-server", overrides: { cpuMoeLayers: 10 } }));
    expect(overridden.placement).toMatchObject({ gpuLayers: 95, cpuMoeLayers: 10 });
    const refused = await chooseEngine(input({ requested: "llama-server", binaryAvailable: false })).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MoestroError);
    expect((refused as MoestroError).message).toMatch(/moestro engine build/);
  });

  it("inproc is taken as asked, even where a worker would help", async () => {
    expect((await chooseEngine(input({ requested: "inproc" }))).kind).toBe("inproc");
  });
});
