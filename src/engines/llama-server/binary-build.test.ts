import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { moestroRejection, writeScript } from "../../../test/helpers/test-programs.js";
import type { AmxProbe } from "./amx-probe.js";
import { type EngineBuildInfo, engineBuildName, readBundledLlamaCppSource } from "./binary.js";
import {
  buildLlamaServer,
  chooseDefaultBackend,
  estimateBuildMinutes,
  findNvcc,
  llamaServerCmakeArgs,
  noAmxFlags,
  parseBuildPercent,
} from "./binary-build.js";

let folder: string;
beforeEach(async () => {
  folder = await fs.mkdtemp(path.join(os.tmpdir(), "moestro-binary-build-"));
});
afterEach(async () => {
  await fs.rm(folder, { recursive: true, force: true });
});

const script = writeScript;

describe("llamaServerCmakeArgs", () => {
  const common = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
  ];

  it("leaves AMX out of the native code when asked, for every backend", () => {
    for (const backend of ["cpu", "cuda", "vulkan"] as const)
      expect(llamaServerCmakeArgs({ backend, withoutAmx: true }).slice(-2)).toEqual([
        "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
        "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
      ]);
  });

  it("builds a static, offline Release llama-server, tuned to this CPU, or for CUDA or Vulkan", () => {
    expect(llamaServerCmakeArgs({ backend: "cpu" })).toEqual([...common, "-DGGML_NATIVE=ON"]);
    expect(llamaServerCmakeArgs({ backend: "vulkan" })).toEqual([...common, "-DGGML_VULKAN=ON"]);
    expect(llamaServerCmakeArgs({ backend: "cuda" })).toEqual([...common, "-DGGML_CUDA=ON"]);
    expect(llamaServerCmakeArgs({ backend: "cuda", hasCudaGpu: true, nvccPath: "/usr/local/cuda/bin/nvcc" })).toEqual([
      ...common,
      "-DGGML_CUDA=ON",
      "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc",
      "-DCMAKE_CUDA_ARCHITECTURES=native",
    ]);
  });
});

describe("parseBuildPercent", () => {
  it("reads make's and ninja's progress, nothing else", () => {
    expect(parseBuildPercent("[ 42%] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o")).toBe(42);
    expect(parseBuildPercent("[100%] Built target llama-server")).toBe(100);
    expect(parseBuildPercent("[  0%] Building C object ggml/src/ggml.c.o")).toBe(0);
    expect(parseBuildPercent("[12/48] Building CXX object common/arg.cpp.o")).toBe(25);
    expect(parseBuildPercent("CMake Warning at scripts/ui-assets.cmake:359 (message):")).toBeUndefined();
  });
});

describe("estimateBuildMinutes", () => {
  it("scales the measured 12 (idle) to 21 (busy) minutes on 2 cores by the cores, at least 2 minutes", () => {
    expect(estimateBuildMinutes({ backend: "cpu", cores: 2 })).toEqual({
      idleMinutes: 12,
      busyMinutes: 21,
      text: "about 12–21 minutes on 2 cores",
    });
    expect(estimateBuildMinutes({ backend: "cpu", cores: 16 })).toMatchObject({ idleMinutes: 2, busyMinutes: 3 });
    expect(estimateBuildMinutes({ backend: "cpu", cores: 1 }).text).toBe("about 24–42 minutes on 1 core");
    expect(estimateBuildMinutes({ backend: "cuda", cores: 16 }).text).toMatch(/CUDA's kernels take longer/);
  });
});

describe("chooseDefaultBackend", () => {
  const gpuLine = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-0000-0000-0000-000000000000)";

  it("picks cuda only with a CUDA GPU and the CUDA compiler", async () => {
    const bin = path.join(folder, "bin");
    await script(bin, "nvidia-smi", `echo "${gpuLine}"`);
    await script(bin, "nvcc", "exit 0");
    const choice = await chooseDefaultBackend({ env: { PATH: bin }, cudaFallbackDirectories: [] });
    expect(choice).toMatchObject({ backend: "cuda", gpus: [gpuLine], nvccPath: path.join(bin, "nvcc") });
  });

  it("builds for the CPU with a GPU but no compiler, and with a compiler but no GPU", async () => {
    const gpuOnly = path.join(folder, "gpu-only");
    await script(gpuOnly, "nvidia-smi", `echo "${gpuLine}"`);
    const noCompiler = await chooseDefaultBackend({ env: { PATH: gpuOnly }, cudaFallbackDirectories: [] });
    expect(noCompiler).toMatchObject({ backend: "cpu", nvccPath: undefined });
    expect(noCompiler.reason).toMatch(/CUDA compiler \(nvcc\) is not found/);

    const compilerOnly = path.join(folder, "compiler-only");
    await script(compilerOnly, "nvcc", "exit 0");
    await script(
      compilerOnly,
      "nvidia-smi",
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9`,
    );
    const noGpu = await chooseDefaultBackend({ env: { PATH: compilerOnly }, cudaFallbackDirectories: [] });
    expect(noGpu).toMatchObject({ backend: "cpu", gpus: [], nvccPath: path.join(compilerOnly, "nvcc") });
    expect(noGpu.reason).toMatch(/no CUDA GPU found/);
  });

  it("finds nvcc in $CUDA_HOME/bin when it is not on PATH", async () => {
    const cudaHome = path.join(folder, "cuda");
    await script(path.join(cudaHome, "bin"), "nvcc", "exit 0");
    expect(await findNvcc({ env: { PATH: "", CUDA_HOME: cudaHome }, fallbackDirectories: [] })).toBe(path.join(cudaHome, "bin", "nvcc"));
    expect(await findNvcc({ env: { PATH: "" }, fallbackDirectories: [] })).toBeUndefined();
  });

  it.skipIf(existsSync("/dev/nvidiactl"))("picks cpu on this machine, which has no NVIDIA GPU", async () => {
    expect((await chooseDefaultBackend()).backend).toBe("cpu");
  });
});

describe("buildLlamaServer", () => {
  /** A node-llama-cpp `llama/` folder whose bundle holds a one-file repository (no CMakeLists.txt), and `patches`. */
  async function fakeLlamaDirectory(patches: Record<string, string> = {}): Promise<string> {
    const repository = path.join(folder, "repository");
    await fs.mkdir(repository);
    await fs.writeFile(path.join(repository, "README.md"), "llama.cpp\n");
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd: repository, stdio: "pipe" });
    git("init", "--quiet");
    git("add", ".");
    git("commit", "--quiet", "-m", "source");
    const llama = path.join(folder, "llama");
    await fs.mkdir(path.join(llama, "patches"), { recursive: true });
    git("bundle", "create", "--quiet", path.join(llama, "gitRelease.bundle"), "HEAD");
    for (const [name, text] of Object.entries(patches)) await fs.writeFile(path.join(llama, "patches", name), text);
    return llama;
  }

  const failure = moestroRejection;

  /** A finished CPU build of `source`'s commit with AMX kept, as `engine build` leaves it (a stand-in binary). */
  async function finishedBuild(source: { commit: string; tag: string | undefined }) {
    const name = engineBuildName(source.commit, "cpu");
    const directory = path.join(folder, "engines", name);
    await script(directory, "llama-server", "exit 0");
    const info: EngineBuildInfo = {
      name,
      commit: source.commit,
      tag: source.tag ?? null,
      backend: "cpu",
      cmakeArgs: llamaServerCmakeArgs({ backend: "cpu" }),
      buildSeconds: 720,
      builtAt: "2026-12-07T08:00:00.000Z",
      versionOutput: "version: 0.4.0-dev (build 1, commit 80fb11a)",
      version: "0.4.0-dev (build 1, commit 80fb11a)",
    };
    await fs.writeFile(path.join(directory, "build.json"), JSON.stringify(info));
    return { name, directory, info };
  }
  const noAmx: AmxProbe = { state: "absent", detail: "the CPU lists no AMX tiles (amx_tile)" };
  const faultingAmx: AmxProbe = { state: "faults", detail: "the AMX probe was killed by SIGILL" };

  it("moves aside a finished build that kept AMX where AMX faults, and builds again without it", async () => {
    const llamaDirectory = await fakeLlamaDirectory();
    const { name, directory } = await finishedBuild(readBundledLlamaCppSource({ llamaDirectory }));
    // Where AMX works, the same build is reused.
    const reused = await buildLlamaServer({ home: folder, backend: "cpu", llamaDirectory, amx: noAmx });
    expect(reused).toMatchObject({ isReused: true, directory, amx: noAmx });
    // Where it faults, it is rebuilt (here the fake source fails at configure) and the old build is gone.
    const error = await failure(buildLlamaServer({ home: folder, backend: "cpu", llamaDirectory, jobs: 1, amx: faultingAmx }));
    expect(error.message).toMatch(/^the configure step failed/);
    expect(await fs.readdir(path.join(folder, "engines"))).toEqual([`${name}.build.log`]);
    const log = await fs.readFile(path.join(folder, "engines", `${name}.build.log`), "utf8");
    expect(log).toContain("AMX: faults (the AMX probe was killed by SIGILL); building without AMX");
    expect(log).toContain(`-DCMAKE_CXX_FLAGS=${noAmxFlags}`);
  });

  it("returns a finished build of the same commit and backend at once", async () => {
    const { name, directory, info } = await finishedBuild(readBundledLlamaCppSource());
    const progress: unknown[] = [];
    const result = await buildLlamaServer({ home: folder, backend: "cpu", amx: noAmx, onProgress: (update) => progress.push(update) });
    expect(result).toMatchObject({
      isReused: true,
      name,
      path: path.join(directory, "llama-server"),
      directory,
      logPath: path.join(folder, "engines", `${name}.build.log`),
      cmakeArgs: info.cmakeArgs,
    });
    expect(progress).toEqual([]);
  });

  it("names the patch step and the log when a patch does not apply, and removes its temporary folder", async () => {
    const llamaDirectory = await fakeLlamaDirectory({
      "PR-1.diff": "diff --git a/missing.cpp b/missing.cpp\n--- a/missing.cpp\n+++ b/missing.cpp\n@@ -1 +1 @@\n-old\n+new\n",
    });
    const steps: string[] = [];
    const error = await failure(
      buildLlamaServer({ home: folder, backend: "cpu", llamaDirectory, onProgress: ({ step }) => steps.push(step) }),
    );
    const logPath = path.join(folder, "engines", `${(await fs.readdir(path.join(folder, "engines")))[0]}`);
    expect(error).toMatchObject({ code: "engine_build_failed", status: 500 });
    expect(error.message).toMatch(/^the patch step failed: PR-1\.diff does not apply; the whole log is .*\.build\.log$/);
    expect(error.message).toContain(logPath);
    expect(await fs.readdir(path.join(folder, "engines"))).toEqual([path.basename(logPath)]);
    expect(await fs.readFile(logPath, "utf8")).toContain("missing.cpp");
    expect(steps).toEqual(["clone", "patch"]);
  });

  it("applies a patch, then names the configure step when cmake fails (here: no CMakeLists.txt)", async () => {
    const llamaDirectory = await fakeLlamaDirectory({
      "PR-2.diff": "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-llama.cpp\n+llama.cpp, patched\n",
    });
    const error = await failure(buildLlamaServer({ home: folder, backend: "cpu", llamaDirectory, jobs: 1 }));
    expect(error.message).toMatch(
      /^the configure step failed: cmake exited with code 1 \(CMake Error: .*does not appear to contain CMakeLists\.txt.*\); the whole log is .*\.build\.log$/,
    );
    const [logName] = await fs.readdir(path.join(folder, "engines"));
    const log = await fs.readFile(path.join(folder, "engines", logName!), "utf8");
    expect(log).toContain("$ git apply --ignore-whitespace");
    expect(log).toContain("-DLLAMA_USE_PREBUILT_UI=OFF");
    expect(log).toMatch(/does not appear to contain CMakeLists\.txt/);
  });

  it("stops when its signal aborts, leaving no temporary folder", async () => {
    const llamaDirectory = await fakeLlamaDirectory();
    const controller = new AbortController();
    const build = buildLlamaServer({
      home: folder,
      backend: "cpu",
      llamaDirectory,
      signal: controller.signal,
      onProgress: ({ step }) => {
        if (step === "configure") controller.abort();
      },
    });
    await expect(build).rejects.toMatchObject({ name: "AbortError" });
    expect((await fs.readdir(path.join(folder, "engines"))).filter((name) => name.startsWith("."))).toEqual([]);
  });
});
