import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cpuListsAmx, probeAmx } from "./amx-probe.js";
import { describeWorkerExit } from "./worker-process.js";

const sapphireRapids = "processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8 flush_l1d\n";
const zen4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n";

describe("cpuListsAmx", () => {
  it("reads amx_tile among the flags, and nothing else", () => {
    expect(cpuListsAmx(sapphireRapids)).toBe(true);
    expect(cpuListsAmx(zen4)).toBe(false);
    expect(cpuListsAmx("model name\t: amx_tile lookalike\nflags\t\t: fpu\n")).toBe(false);
  });
});

describe("probeAmx", () => {
  it("does not probe a CPU that lists no AMX", async () => {
    expect(await probeAmx({ cpuinfo: zen4 })).toEqual({ state: "absent", detail: "the CPU lists no AMX tiles (amx_tile)" });
  });

  it("says untested when the compiler is missing", async () => {
    const probe = await probeAmx({ cpuinfo: sapphireRapids, env: { ...process.env, CC: "/nonexistent/cc" } });
    expect(probe.state).toBe("untested");
    expect(probe.detail).toMatch(/^\/nonexistent\/cc could not compile the AMX probe \(could not start: /);
  });

  // The real probe on this machine: its answer depends on the CPU and VM (the 2-core development VM lists AMX and
  // faults: 'faults'), so only its consistency is checked.
  it("runs on this machine and answers consistently with /proc/cpuinfo", async () => {
    const probe = await probeAmx();
    let listed = false;
    try {
      listed = process.platform === "linux" && process.arch === "x64" && cpuListsAmx(readFileSync("/proc/cpuinfo", "utf8"));
    } catch {}
    if (listed) expect(["usable", "refused", "faults", "untested"]).toContain(probe.state);
    else expect(probe.state).toBe("absent");
    if (probe.state === "faults") expect(probe.detail).toMatch(/killed by SIG[A-Z]+/);
  });
});

describe("describeWorkerExit", () => {
  it("names the code or the signal, and what SIGILL means here", () => {
    expect(describeWorkerExit(1, null)).toBe("exited with code 1");
    expect(describeWorkerExit(null, "SIGKILL")).toBe("was killed by SIGKILL");
    expect(describeWorkerExit(null, "SIGILL")).toMatch(/^was killed by SIGILL \(.*moestro engine build.*AMX/);
  });
});
