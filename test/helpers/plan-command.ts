import { createPlanCommand, type PlanCommandDeps } from "../../src/cli/commands/plan.js";
import type { HostProbe } from "../../src/planner/index.js";

/** Bytes in a GiB and a MiB. */
export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

/** A fixed, fake machine: no native probing in these tests. */
export const fakeHost: HostProbe = {
  cpuName: "Test CPU",
  cores: 8,
  clockHz: 3e9,
  flopsPerCycle: 32,
  totalMemoryBytes: 32 * GiB,
  availableMemoryBytes: 16 * GiB,
  bandwidthBytesPerSecond: 40e9,
};
/** The plan command's dependencies on the fake machine, with no GPU and no environment. */
export const fakeDeps: PlanCommandDeps = { env: {}, probeHost: async () => fakeHost, probeGpu: async () => undefined };

/** Runs `moestro plan ARGS` on the fake machine and returns what it printed (commander errors are thrown). */
export async function runPlan(args: string[], deps: PlanCommandDeps = {}): Promise<string> {
  const out: string[] = [];
  const command = createPlanCommand({ ...fakeDeps, ...deps, write: (text) => void out.push(text) })
    .exitOverride()
    .configureOutput({ writeErr: (text) => void out.push(text), writeOut: (text) => void out.push(text) });
  await command.parseAsync(args, { from: "user" });
  return out.join("");
}

/** A parsed `--json` plan. */
export type Json = Record<string, any>;
/** Runs `moestro plan ARGS --json` and parses it. */
export const runPlanJson = async (args: string[], deps?: PlanCommandDeps): Promise<Json> =>
  JSON.parse(await runPlan([...args, "--json"], deps)) as Json;
