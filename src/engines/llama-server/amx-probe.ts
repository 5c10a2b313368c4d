/**
 * Whether Intel AMX works on this machine, checked before a llama-server build.
 *
 * llama.cpp's CPU backend built with `GGML_NATIVE=ON` compiles with `-march=native`; on a CPU that lists AMX
 * (`amx_tile`, `amx_int8` in /proc/cpuinfo: Sapphire Rapids and later Xeons) that turns on ggml's AMX kernels, which
 * take over the matrix products of quantized weights (`ggml_backend_amx_mul_mat`) once the kernel grants the tile
 * state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, ggml-cpu/amx/amx.cpp). Some virtual machines list AMX
 * and grant the request, yet fault on the first tile instruction: measured on this project's 2-core KVM development
 * machine (Firecracker kernel, 2026-12-08), llama-server of build 80fb11a died with SIGILL at `tilezero` while loading
 * any Q4_0 model, and the F32 stories260K (no quantized product) ran. So the build runs this small C program first, and
 * when it faults the build leaves AMX out (`-mno-amx-*`, see `llamaServerCmakeArgs`).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * What the probe found:
 * - `absent`: the CPU does not list `amx_tile` (or this is not Linux on x86-64): `-march=native` enables no AMX;
 * - `usable`: the probe loaded a tile configuration and zeroed a tile, then exited 0;
 * - `refused`: the kernel refused the tile state; ggml checks the same request and then does not use AMX;
 * - `faults`: the probe was killed by a signal at the tile instructions: a native build must leave AMX out;
 * - `untested`: no C compiler, or one that cannot compile AMX intrinsics (so it cannot emit them for ggml either).
 */
export type AmxProbeState = "absent" | "usable" | "refused" | "faults" | "untested";

/** {@link probeAmx}'s answer. */
export interface AmxProbe {
  state: AmxProbeState;
  /** One line for the build log and `engine build --json`, e.g. `the AMX probe was killed by SIGILL`. */
  detail: string;
}

/**
 * The probe: asks for the tile state as ggml does, loads a configuration of 8 tiles of 16 rows × 64 bytes (palette 1),
 * zeroes tiles 0 and 4 (ggml's first kernel zeroes `tmm4` and `tmm6`) and releases them. Exit 2: the request was refused.
 */
export const amxProbeSource = `#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <immintrin.h>
struct tile_config { uint8_t palette_id; uint8_t start_row; uint8_t reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; };
int main(void) {
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return 2;
  struct tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(4);
  _tile_release();
  return 0;
}
`;

/**
 * Whether the CPU lists AMX tiles: `amx_tile` among /proc/cpuinfo's flags, on Linux x86-64 only.
 *
 * @param cpuinfo the text of /proc/cpuinfo; read from the file when left out (an unreadable file lists nothing).
 */
export function cpuListsAmx(cpuinfo?: string): boolean {
  if (cpuinfo === undefined) {
    if (process.platform !== "linux" || process.arch !== "x64" || !existsSync("/proc/cpuinfo")) return false;
    try {
      cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return false;
    }
  }
  return /^flags\s*:.*\bamx_tile\b/m.test(cpuinfo);
}

/**
 * Compiles and runs {@link amxProbeSource} with the C compiler the build would use (`$CC`, else `cc`) in a temporary
 * folder, removed afterwards. Takes about 0.2 s; never throws (a failure to compile or start is `untested`).
 *
 * @param options.env the environment the compiler is found and run in (defaults to `process.env`).
 * @param options.cpuinfo /proc/cpuinfo's text (for tests); read from the file when left out.
 * @param options.timeoutMs how long the compile and the run may each take (default 30,000 ms), then `untested`.
 */
export async function probeAmx(options: { env?: NodeJS.ProcessEnv; cpuinfo?: string; timeoutMs?: number } = {}): Promise<AmxProbe> {
  if (!cpuListsAmx(options.cpuinfo)) return { state: "absent", detail: "the CPU lists no AMX tiles (amx_tile)" };
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const compiler = env.CC?.trim() || "cc";
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), "moestro-amx-"));
  try {
    const source = path.join(folder, "amx.c");
    const binary = path.join(folder, "amx");
    await fs.writeFile(source, amxProbeSource);
    const compiled = await runQuietly(compiler, ["-O2", "-mamx-tile", source, "-o", binary], env, timeoutMs);
    if (compiled.code !== 0)
      return { state: "untested", detail: `${compiler} could not compile the AMX probe (${compiled.how}); it cannot emit AMX either` };
    const ran = await runQuietly(binary, [], env, timeoutMs);
    if (ran.signal)
      return { state: "faults", detail: `the AMX probe was killed by ${ran.signal}: this CPU or VM lists AMX but faults on it` };
    if (ran.code === 0) return { state: "usable", detail: "the AMX probe ran" };
    if (ran.code === 2) return { state: "refused", detail: "the kernel refused the AMX tile state (ggml then leaves AMX out itself)" };
    return { state: "untested", detail: `the AMX probe ${ran.how}` };
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

/** Runs a command with its output discarded; resolves with its exit code or signal, never rejects. */
function runQuietly(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; how: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, how: `could not start: ${error.message}` });
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      // A timeout's SIGKILL is ours, not a fault of the probe.
      if (signal === "SIGKILL") resolve({ code: null, signal: null, how: `took over ${timeoutMs} ms` });
      else resolve({ code, signal, how: signal ? `was killed by ${signal}` : `exited with code ${code}` });
    });
  });
}
