/**
 * `moestro engine build`: compiles llama.cpp's `llama-server` from the source node-llama-cpp ships (its git bundle
 * plus patches, the commit the in-process engine runs), offline, into `$MOESTRO_HOME/engines/<name>/`
 * (docs/engines.md, "Getting a llama-server").
 */
import { execFile, spawn } from "node:child_process";
import { constants as fsConstants, createWriteStream, type WriteStream } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { MoestroError } from "../../errors/index.js";
import { type AmxProbe, probeAmx } from "./amx-probe.js";
import {
  checkLlamaServerBinary,
  type EngineBuild,
  type EngineBuildInfo,
  engineBuildName,
  enginesDirectory,
  killProcessGroup,
  type LlamaServerBackend,
  llamaServerFileName,
  readBundledLlamaCppSource,
  readEngineBuild,
} from "./binary.js";

/** The steps of a build, in order. A failure names its step. */
export const buildSteps = ["clone", "patch", "configure", "build", "install"] as const;
/** One of {@link buildSteps}. */
export type BuildStep = (typeof buildSteps)[number];

/** Where a build stands, for a progress bar. */
export interface LlamaServerBuildProgress {
  /** The step running. */
  step: BuildStep;
  /**
   * The whole build's progress, 0 ≤ percent ≤ 100: the compile (`build`) spans 5 to 99, following the `[ 42%]` lines
   * of make (or `[12/345]` of ninja); the other steps take seconds and sit at its ends.
   */
  percent: number;
}

/**
 * What a build costs in time, from a measurement: a CPU build of llama-server (and llama-bench) from this bundle took 12
 * minutes on an idle 2-core machine and 21 minutes on a busy one (/work/shared/ENGINE-NOTES.md), that is 24 and 42
 * core-minutes (`moestro engine build --backend cpu` itself, llama-server alone, took 17 min 48 s on 2 shared cores); compiling scales with the cores (`-j`), linking does not, hence a floor of 2 minutes.
 */
export interface BuildEstimate {
  /** Minutes on an idle machine. */
  idleMinutes: number;
  /** Minutes on a busy machine. */
  busyMinutes: number;
  /** One phrase: `about 12–21 minutes on 2 cores`, with what CUDA or Vulkan add. */
  text: string;
}

/**
 * Estimates how long a build takes on `cores` cores ({@link BuildEstimate} gives the source). CUDA and Vulkan builds
 * compile the same CPU part plus their kernels or shaders, which were not measured here: the text says they take longer.
 */
export function estimateBuildMinutes(options: { backend: LlamaServerBackend; cores: number }): BuildEstimate {
  const cores = Math.max(1, options.cores);
  const idleMinutes = Math.max(2, Math.round(24 / cores));
  const busyMinutes = Math.max(idleMinutes, Math.round(42 / cores));
  const span = idleMinutes === busyMinutes ? `${idleMinutes}` : `${idleMinutes}–${busyMinutes}`;
  const base = `about ${span} minutes on ${cores} core${cores === 1 ? "" : "s"}`;
  const extra =
    options.backend === "cuda"
      ? " for the CPU part; CUDA's kernels take longer (much longer without a GPU to pick the architecture)"
      : options.backend === "vulkan"
        ? " for the CPU part; Vulkan's shaders take longer"
        : "";
  return { idleMinutes, busyMinutes, text: `${base}${extra}` };
}

/** An executable on `env.PATH`, or `undefined`. */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const directory of (env.PATH ?? "").split(path.delimiter)) {
    if (directory === "") continue;
    const candidate = path.join(directory, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(candidate: string): Promise<boolean> {
  try {
    if (!(await fs.stat(candidate)).isFile()) return false;
    await fs.access(candidate, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The CUDA compiler: `nvcc` on `PATH`, else in `$CUDA_HOME/bin`, else in `fallbackDirectories` (where the CUDA toolkit
 * installs by default, often not on `PATH`).
 *
 * @param options.fallbackDirectories defaults to `["/usr/local/cuda/bin"]`.
 * @returns its path, or `undefined`.
 */
export async function findNvcc(
  options: { env?: NodeJS.ProcessEnv; fallbackDirectories?: readonly string[] } = {},
): Promise<string | undefined> {
  const env = options.env ?? process.env;
  const onPath = await findExecutable("nvcc", env);
  if (onPath) return onPath;
  const directories = [
    ...(env.CUDA_HOME ? [path.join(env.CUDA_HOME, "bin")] : []),
    ...(options.fallbackDirectories ?? ["/usr/local/cuda/bin"]),
  ];
  for (const directory of directories) {
    const candidate = path.join(directory, "nvcc");
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The NVIDIA GPUs `nvidia-smi -L` lists (`GPU 0: NVIDIA H100 80GB HBM3 (UUID: …)`), one line each; empty when
 * `nvidia-smi` is missing, fails or takes over 10 s (no driver, no GPU).
 */
export function listCudaGpus(options: { env?: NodeJS.ProcessEnv } = {}): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", ["-L"], { env: options.env ?? process.env, timeout: 10_000 }, (error, stdout) => {
      if (error) return resolve([]);
      resolve(
        String(stdout)
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => /^GPU \d+:/.test(line)),
      );
    });
  });
}

/** The backend `moestro engine build` picks when none is given, and why. */
export interface DefaultBackendChoice {
  backend: LlamaServerBackend;
  /** One phrase for the user: `no CUDA GPU found (nvidia-smi -L lists none)`. */
  reason: string;
  /** The GPUs `nvidia-smi -L` listed. */
  gpus: string[];
  /** The CUDA compiler found, if any. */
  nvccPath: string | undefined;
}

/**
 * Picks the default backend: `cuda` only when a CUDA GPU is present (`nvidia-smi -L` lists one) and the CUDA compiler
 * is found ({@link findNvcc}); else `cpu`. A machine with the compiler but no GPU builds for the CPU: a CUDA build
 * without a GPU to pick its architecture compiles kernels for every architecture, for nothing that runs here.
 */
export async function chooseDefaultBackend(
  options: { env?: NodeJS.ProcessEnv; cudaFallbackDirectories?: readonly string[] } = {},
): Promise<DefaultBackendChoice> {
  const [gpus, nvccPath] = await Promise.all([
    listCudaGpus({ env: options.env }),
    findNvcc({ env: options.env, fallbackDirectories: options.cudaFallbackDirectories }),
  ]);
  if (gpus.length === 0) return { backend: "cpu", reason: "no CUDA GPU found (nvidia-smi -L lists none)", gpus, nvccPath };
  if (nvccPath === undefined)
    return {
      backend: "cpu",
      reason: "a CUDA GPU is present but the CUDA compiler (nvcc) is not found on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin",
      gpus,
      nvccPath,
    };
  return { backend: "cuda", reason: `${gpus.length} CUDA GPU${gpus.length === 1 ? "" : "s"} and ${nvccPath}`, gpus, nvccPath };
}

/**
 * The cmake configure arguments of a build: a static (`BUILD_SHARED_LIBS=OFF`, so the binary can move), Release
 * llama-server without tests, examples, OpenSSL or web UI (the prebuilt UI would be downloaded: builds are offline; the
 * workers are reached by moestro only), plus per backend:
 * - `cpu`: `GGML_NATIVE=ON` (this CPU's instruction set);
 * - `cuda`: `GGML_CUDA=ON`, `CMAKE_CUDA_COMPILER` when nvcc was found off `PATH`, and `CMAKE_CUDA_ARCHITECTURES=native`
 *   when a GPU is present (only its architecture, far quicker than all);
 * - `vulkan`: `GGML_VULKAN=ON`.
 *
 * With `withoutAmx`, `CMAKE_C_FLAGS` and `CMAKE_CXX_FLAGS` add `-mno-amx-tile -mno-amx-int8 -mno-amx-bf16`: GCC and
 * Clang keep an explicit `-mno-*` over what `-march=native` would enable, so ggml compiles no AMX kernel (they are
 * guarded by `__AMX_INT8__`). For a CPU whose AMX faults ({@link probeAmx}); ggml's CPU code is built natively for every
 * backend (`GGML_NATIVE` defaults to on), so this applies to all three.
 */
export function llamaServerCmakeArgs(options: {
  backend: LlamaServerBackend;
  hasCudaGpu?: boolean;
  nvccPath?: string;
  withoutAmx?: boolean;
}): string[] {
  const args = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
  ];
  switch (options.backend) {
    case "cpu":
      args.push("-DGGML_NATIVE=ON");
      break;
    case "cuda":
      args.push("-DGGML_CUDA=ON");
      if (options.nvccPath) args.push(`-DCMAKE_CUDA_COMPILER=${options.nvccPath}`);
      if (options.hasCudaGpu) args.push("-DCMAKE_CUDA_ARCHITECTURES=native");
      break;
    case "vulkan":
      args.push("-DGGML_VULKAN=ON");
      break;
    default:
      options.backend satisfies never;
  }
  if (options.withoutAmx) args.push(`-DCMAKE_C_FLAGS=${noAmxFlags}`, `-DCMAKE_CXX_FLAGS=${noAmxFlags}`);
  return args;
}

/** The compiler flags that leave AMX out of a native build (see {@link llamaServerCmakeArgs}). */
export const noAmxFlags = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16";

/**
 * The build's percentage from one line of the compile's output: make's `[ 42%] Building …` (0–100), or ninja's
 * `[12/345] …`; `undefined` for other lines.
 */
export function parseBuildPercent(line: string): number | undefined {
  const make = /^\[\s*(\d{1,3})%\]/.exec(line);
  if (make) return Math.min(100, Number.parseInt(make[1]!, 10));
  const ninja = /^\[(\d+)\/(\d+)\]/.exec(line);
  if (ninja && Number(ninja[2]) > 0) return Math.min(100, Math.floor((Number(ninja[1]) / Number(ninja[2])) * 100));
  return undefined;
}

/** Options of {@link buildLlamaServer}. */
export interface BuildLlamaServerOptions {
  /** moestro's home folder (`$MOESTRO_HOME`); the build goes to `<home>/engines/<name>/`. */
  home: string;
  /** What to build for (see {@link chooseDefaultBackend} for the default the CLI picks). */
  backend: LlamaServerBackend;
  /** Parallel compile jobs (`-j`). Defaults to the cores this process may use (`os.availableParallelism()`). */
  jobs?: number;
  /** Called at each step and at each new percentage of the compile. */
  onProgress?: (progress: LlamaServerBuildProgress) => void;
  /** Stops the build: the running step's processes are killed, the temporary folder removed, and an `AbortError` thrown. */
  signal?: AbortSignal;
  /** node-llama-cpp's `llama/` folder. Defaults to the installed package's. */
  llamaDirectory?: string;
  /** The environment the tools run in and are found on (`PATH`, `CUDA_HOME`). Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** What the AMX probe found (for tests); {@link probeAmx} runs when left out. */
  amx?: AmxProbe;
}

/** A finished build, new or reused. */
export interface LlamaServerBuildResult extends EngineBuild {
  /** Whether a build of the same commit and backend was already there and was returned without building. */
  isReused: boolean;
  /** The build's folder, `<home>/engines/<name>`. */
  directory: string;
  /** The build log, `<home>/engines/<name>.build.log` (kept after the build, also after a failure). */
  logPath: string;
  /** The cmake configure arguments used. */
  cmakeArgs: string[];
  /** What the AMX probe found before the build (see {@link probeAmx}); `faults` means the build left AMX out. */
  amx: AmxProbe;
}

/**
 * Builds `llama-server` for `backend` from the llama.cpp source in node-llama-cpp's package, offline, in five steps:
 * clone the bundle, apply node-llama-cpp's patches (`git apply`; one already in the source is skipped), configure
 * ({@link llamaServerCmakeArgs}), build the `llama-server` target alone with `-j jobs`, and install: copy the binary,
 * check it runs (`--version`), write `build.json`. All of it happens in `<home>/engines/.build-<name>-XXXXXX/`, and the
 * finished folder is renamed to `<home>/engines/<name>/` (one atomic rename: a folder there is always complete), then
 * the temporary one (source and objects, about 280 MB for a CPU build) is removed, also after a failure or abort. Temporary folders left by
 * a build that was killed are removed by the next build of the same name (their pid file names no running process).
 * Every command's output goes to `<home>/engines/<name>.build.log`.
 *
 * A finished build of the same commit and backend is returned at once (`isReused: true`); so is one that a concurrent
 * build finished first. Before that, {@link probeAmx} checks whether this CPU's AMX faults; if it does, the build leaves
 * AMX out, and a finished build that did not (made before this check, or on another machine sharing the folder) is
 * moved aside and built again, as its binary dies with SIGILL on the first quantized model.
 *
 * @throws {MoestroError} `engine_build_failed` naming the failed step and the log file (git or cmake missing, a patch
 *   that does not apply, a compiler error, a binary that does not run).
 * @throws {MoestroError} `internal_error` when node-llama-cpp's source is missing (see `readBundledLlamaCppSource`).
 * @throws an `AbortError` when `signal` aborts.
 * @example
 * const build = await buildLlamaServer({home: "/root/.moestro", backend: "cpu", onProgress: ({step, percent}) => …});
 * build.path; // /root/.moestro/engines/llama-server-80fb11ac73e6-cpu/llama-server
 */
export async function buildLlamaServer(options: BuildLlamaServerOptions): Promise<LlamaServerBuildResult> {
  const startedAt = performance.now();
  const source = readBundledLlamaCppSource({ llamaDirectory: options.llamaDirectory });
  const name = engineBuildName(source.commit, options.backend);
  const engines = enginesDirectory(options.home);
  const directory = path.join(engines, name);
  const logPath = path.join(engines, `${name}.build.log`);
  const env = { ...(options.env ?? process.env), GIT_TERMINAL_PROMPT: "0" };
  const amx = options.amx ?? (await probeAmx({ env }));
  const withoutAmx = amx.state === "faults";
  const existing = await readEngineBuild(directory);
  if (existing) {
    const existingArgs = await readCmakeArgs(directory);
    if (!withoutAmx || existingArgs.some((arg) => arg.includes("-mno-amx-tile")))
      return { ...existing, isReused: true, directory, logPath, cmakeArgs: existingArgs, amx };
    // Moved aside under a temporary build's name without a pid file: removeAbandonedBuilds deletes it below.
    await fs.rename(directory, path.join(engines, `.build-${name}-faulting-amx-${process.pid}`));
  }

  const jobs = Math.max(1, options.jobs ?? os.availableParallelism());
  const failed = (step: BuildStep, what: string, cause?: unknown): MoestroError =>
    new MoestroError("engine_build_failed", `the ${step} step failed: ${what}; the whole log is ${logPath}`, { cause });
  for (const [tool, step, install] of [
    ["git", "clone", "install git"],
    ["cmake", "configure", "install CMake (3.14 or newer) and a C++ compiler"],
  ] as const) {
    if (!(await findExecutable(tool, env)))
      throw new MoestroError("engine_build_failed", `the ${step} step cannot run: ${tool} is not on PATH; ${install} and try again`);
  }
  let cudaGpus: string[] = [];
  let nvccPath: string | undefined;
  if (options.backend === "cuda") {
    [cudaGpus, nvccPath] = await Promise.all([listCudaGpus({ env }), findNvcc({ env })]);
    if (nvccPath === undefined)
      throw new MoestroError(
        "engine_build_failed",
        "the configure step cannot run: the CUDA compiler (nvcc) is not on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin; install the CUDA toolkit, or build with --backend cpu",
      );
  }
  // nvcc on PATH needs no cmake hint; one found elsewhere does.
  const cmakeArgs = llamaServerCmakeArgs({
    backend: options.backend,
    hasCudaGpu: cudaGpus.length > 0,
    nvccPath: nvccPath !== undefined && nvccPath !== (await findExecutable("nvcc", env)) ? nvccPath : undefined,
    withoutAmx,
  });

  await fs.mkdir(engines, { recursive: true });
  await removeAbandonedBuilds(engines, name);
  const temporary = await fs.mkdtemp(path.join(engines, `.build-${name}-`));
  await fs.writeFile(path.join(temporary, "pid"), String(process.pid));
  const log = createWriteStream(logPath);
  const sourceDirectory = path.join(temporary, "src");
  const buildDirectory = path.join(sourceDirectory, "build");
  const report = (step: BuildStep, percent: number): void => options.onProgress?.({ step, percent });
  const run = (step: BuildStep, command: string, args: string[], runOptions: { cwd?: string; onLine?: (line: string) => void } = {}) =>
    runLogged(command, args, { cwd: runOptions.cwd ?? temporary, env, log, signal: options.signal, onLine: runOptions.onLine }).then(
      ({ exitCode, firstError }) => {
        if (exitCode !== 0) throw failed(step, `${command} exited with code ${exitCode}${firstError ? ` (${firstError})` : ""}`);
      },
      (error: unknown) => {
        if (options.signal?.aborted) throw error;
        throw failed(step, `${command} could not run (${(error as Error).message})`, error);
      },
    );
  try {
    log.write(`moestro engine build: llama.cpp ${source.commit} (${source.tag ?? "no tag"}), backend ${options.backend}, ${jobs} jobs\n`);
    log.write(`AMX: ${amx.state} (${amx.detail})${withoutAmx ? "; building without AMX" : ""}\n`);
    report("clone", 0);
    await run("clone", "git", ["-c", "advice.detachedHead=false", "clone", "--quiet", source.bundlePath, sourceDirectory]);
    const head = await gitOutput(["rev-parse", "HEAD"], sourceDirectory, env);
    if (head !== source.commit) throw failed("clone", `the clone is at ${head}, not the bundle's ${source.commit}`);

    report("patch", 1);
    for (const patchPath of source.patchPaths) {
      // As node-llama-cpp applies them (bindings/utils/applyLlamaCppRepoPatches.js): `git apply --ignore-whitespace`;
      // a patch already in the source (merged upstream) applies in reverse and is skipped.
      const { exitCode: applies } = await runLogged("git", ["apply", "--check", "--ignore-whitespace", patchPath], {
        cwd: sourceDirectory,
        env,
        log,
      });
      if (applies === 0) await run("patch", "git", ["apply", "--ignore-whitespace", patchPath], { cwd: sourceDirectory });
      else if ((await runLogged("git", ["apply", "--check", "--reverse", patchPath], { cwd: sourceDirectory, env, log })).exitCode === 0)
        log.write(`${path.basename(patchPath)} is already in the source; skipped\n`);
      else throw failed("patch", `${path.basename(patchPath)} does not apply`);
    }

    report("configure", 2);
    await run("configure", "cmake", ["-S", sourceDirectory, "-B", buildDirectory, ...cmakeArgs]);

    let lastPercent = -1;
    report("build", 5);
    await run("build", "cmake", ["--build", buildDirectory, "--config", "Release", "--target", "llama-server", "-j", String(jobs)], {
      onLine: (line) => {
        const percent = parseBuildPercent(line);
        if (percent === undefined || percent <= lastPercent) return;
        lastPercent = percent;
        report("build", 5 + Math.round(percent * 0.94));
      },
    });

    report("install", 99);
    const built = path.join(buildDirectory, "bin", llamaServerFileName);
    const staged = path.join(temporary, "out");
    await fs.mkdir(staged);
    const stagedBinary = path.join(staged, llamaServerFileName);
    try {
      await fs.copyFile(built, stagedBinary);
      await fs.chmod(stagedBinary, 0o755);
    } catch (error) {
      throw failed("install", `the build left no ${built} (${(error as Error).message})`, error);
    }
    const checked = await checkLlamaServerBinary(stagedBinary).catch((error: unknown) => {
      throw failed("install", `the new binary does not run: ${(error as Error).message}`, error);
    });
    log.write(`${checked.output}\n`);
    const info: EngineBuildInfo = {
      name,
      commit: source.commit,
      tag: source.tag ?? null,
      backend: options.backend,
      cmakeArgs,
      buildSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
      builtAt: new Date().toISOString(),
      versionOutput: checked.output,
      version: checked.version,
    };
    await fs.writeFile(path.join(staged, "build.json"), `${JSON.stringify(info, null, 2)}\n`);
    try {
      await fs.rename(staged, directory);
    } catch (error) {
      // A concurrent build of the same name finished first: its folder is as good as this one.
      const other = await readEngineBuild(directory);
      if (other) return { ...other, isReused: true, directory, logPath, cmakeArgs: await readCmakeArgs(directory), amx };
      throw failed("install", `cannot move the build to ${directory} (${(error as Error).message})`, error);
    }
    log.write(`installed ${path.join(directory, llamaServerFileName)} in ${info.buildSeconds} s\n`);
    report("install", 100);
    const finished = await readEngineBuild(directory);
    if (!finished) throw failed("install", `${directory} holds no usable build after the move`);
    return { ...finished, isReused: false, directory, logPath, cmakeArgs, amx };
  } finally {
    await new Promise<void>((resolve) => log.end(resolve));
    await fs.rm(temporary, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** The cmake arguments recorded in a build's `build.json`, or none when it cannot be read. */
async function readCmakeArgs(directory: string): Promise<string[]> {
  try {
    const info = JSON.parse(await fs.readFile(path.join(directory, "build.json"), "utf8")) as { cmakeArgs?: unknown };
    return Array.isArray(info.cmakeArgs) ? info.cmakeArgs.map(String) : [];
  } catch {
    return [];
  }
}

/**
 * Removes the temporary folders of earlier builds of `name` whose process is gone (killed, or the machine restarted):
 * each holds a `pid` file; a folder whose pid runs belongs to a concurrent build and is left alone.
 */
async function removeAbandonedBuilds(engines: string, name: string): Promise<void> {
  for (const entry of await fs.readdir(engines)) {
    if (!entry.startsWith(`.build-${name}-`)) continue;
    const folder = path.join(engines, entry);
    let pid = Number.NaN;
    try {
      pid = Number.parseInt(await fs.readFile(path.join(folder, "pid"), "utf8"), 10);
    } catch {
      // No pid file: the build died before writing it.
    }
    if (Number.isInteger(pid) && isProcessRunning(pid)) continue;
    await fs.rm(folder, { recursive: true, force: true, maxRetries: 3 });
  }
}

function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The trimmed stdout of a git command, or "" when it fails. */
function gitOutput(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve) => {
    execFile("git", args, { cwd, env }, (error, stdout) => resolve(error ? "" : String(stdout).trim()));
  });
}

/** The first line of a command's output that reads as an error (a compiler's `error:`, cmake's `CMake Error`). */
const errorLinePattern = /\berror\b/i;

/**
 * Runs a command in its own process group with its output appended to `log`, calling `onLine` with each stdout line.
 * On abort the whole group is killed (make's compilers included) and the abort reason is thrown; when moestro itself
 * exits meanwhile, the group is killed too, so no compiler outlives it.
 *
 * @returns the exit code (`null` when a signal ended it) and the first output line that reads as an error (at most 300
 *   characters), for the failure message.
 * @throws the spawn error (a missing command) or the abort reason.
 */
function runLogged(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: WriteStream; signal?: AbortSignal; onLine?: (line: string) => void },
): Promise<{ exitCode: number | null; firstError: string | undefined }> {
  options.signal?.throwIfAborted();
  options.log.write(`\n$ ${[command, ...args].join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const kill = (): void => killProcessGroup(child.pid, "SIGTERM");
    const onAbort = (): void => kill();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    process.once("exit", kill);
    let firstError: string | undefined;
    const lineReader = (onLine?: (line: string) => void) => {
      let pending = "";
      return {
        push(chunk: Buffer): void {
          options.log.write(chunk);
          const lines = (pending + chunk.toString("utf8")).split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) take(line);
        },
        end(): void {
          if (pending) take(pending);
        },
      };
      function take(line: string): void {
        if (firstError === undefined && errorLinePattern.test(line)) firstError = line.trim().slice(0, 300);
        onLine?.(line);
      }
    };
    const stdout = lineReader(options.onLine);
    const stderr = lineReader();
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const settle = (): void => {
      options.signal?.removeEventListener("abort", onAbort);
      process.off("exit", kill);
    };
    child.once("error", (error) => {
      settle();
      reject(error);
    });
    child.once("close", (exitCode) => {
      settle();
      stdout.end();
      stderr.end();
      if (options.signal?.aborted) reject(options.signal.reason);
      else resolve({ exitCode, firstError });
    });
  });
}
