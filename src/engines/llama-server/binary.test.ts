import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { llamaServerSkipReason, testLlamaServer } from "../../../test/helpers/llama-server.js";
import { moestroRejection, writeScript } from "../../../test/helpers/test-programs.js";
import {
  checkLlamaServerBinary,
  defaultLlamaDirectory,
  type EngineBuildInfo,
  engineBuildName,
  listEngines,
  llamaServerSeesGpu,
  parseGitBundleCommit,
  parseLlamaServerVersion,
  readBundledLlamaCppSource,
  resolveLlamaServer,
} from "./binary.js";

if (testLlamaServer === undefined) console.warn(`binary.test.ts: the real-binary test skips: ${llamaServerSkipReason}`);

let folder: string;
beforeEach(async () => {
  folder = await fs.mkdtemp(path.join(os.tmpdir(), "moestro-binary-"));
});
afterEach(async () => {
  await fs.rm(folder, { recursive: true, force: true });
});

const script = (name: string, body: string): Promise<string> => writeScript(folder, name, body);

const failure = moestroRejection;

describe("the bundled llama.cpp source", () => {
  it("reads a git bundle's commit from its header: HEAD first, else the first ref; v2 and v3", () => {
    const a = "a".repeat(40);
    const b = "b".repeat(40);
    expect(parseGitBundleCommit(`# v2 git bundle\n${a} refs/heads/main\n${b} HEAD\n\nPACK`)).toBe(b);
    expect(parseGitBundleCommit(`# v3 git bundle\n@object-format=sha1\n-${b} prerequisite\n${a} refs/tags/x\n\n`)).toBe(a);
    expect(parseGitBundleCommit("PK\u0003\u0004 not a bundle")).toBeUndefined();
  });

  it("gives the commit git itself reads from node-llama-cpp's bundle, its patches and its tag", () => {
    const source = readBundledLlamaCppSource();
    const heads = execFileSync("git", ["bundle", "list-heads", path.join(defaultLlamaDirectory(), "gitRelease.bundle")], {
      encoding: "utf8",
    });
    expect(heads).toContain(`${source.commit} HEAD`);
    expect(source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(source.patchPaths.every((patch) => patch.endsWith(".diff"))).toBe(true);
    expect(source.tag).toEqual(expect.any(String));
  });

  it("says what to do when the bundle is missing", () => {
    expect(() => readBundledLlamaCppSource({ llamaDirectory: folder })).toThrow(/reinstall the dependencies \(npm ci\)/);
  });
});

describe("parseLlamaServerVersion", () => {
  it("reads llama.cpp's build info of 2026 and of older releases", () => {
    expect(parseLlamaServerVersion("version: 0.4.0-dev (build 1, commit 80fb11a)\nbuilt with GNU 12.2.0 for Linux x86_64\n")).toEqual({
      version: "0.4.0-dev (build 1, commit 80fb11a)",
      buildNumber: 1,
      commit: "80fb11a",
      buildInfo: "GNU 12.2.0 for Linux x86_64",
    });
    expect(
      parseLlamaServerVersion("ggml_cuda_init: found 1 CUDA devices\nversion: 6123 (79c1160b)\nbuilt with cc (GCC) 14 for x86_64"),
    ).toEqual({
      version: "6123 (79c1160b)",
      buildNumber: 6123,
      commit: "79c1160b",
      buildInfo: "cc (GCC) 14 for x86_64",
    });
    // Built without git: llama.cpp prints commit "unknown".
    expect(parseLlamaServerVersion("version: 0 (unknown)")).toMatchObject({ buildNumber: 0, commit: undefined, buildInfo: undefined });
  });

  it("finds no version in other programs' output", () => {
    expect(parseLlamaServerVersion("Python 3.11.2")).toBeUndefined();
    expect(parseLlamaServerVersion("version: 2.3.1")).toBeUndefined();
  });
});

describe("checkLlamaServerBinary", () => {
  const advice = /moestro engine build.*--llama-server PATH/;

  it("accepts a program that prints llama.cpp's version line on stderr, as llama-server does", async () => {
    const binary = await script(
      "llama-server",
      `echo "version: 0.4.0-dev (build 1, commit 80fb11a)" >&2; echo "built with GNU 12.2.0 for Linux x86_64" >&2`,
    );
    await expect(checkLlamaServerBinary(binary)).resolves.toEqual({
      path: binary,
      version: "0.4.0-dev (build 1, commit 80fb11a)",
      buildNumber: 1,
      commit: "80fb11a",
      buildInfo: "GNU 12.2.0 for Linux x86_64",
      output: "version: 0.4.0-dev (build 1, commit 80fb11a)\nbuilt with GNU 12.2.0 for Linux x86_64",
    });
  });

  it("refuses a path that does not exist, naming it and saying what to do", async () => {
    const missing = path.join(folder, "nothing");
    const error = await failure(checkLlamaServerBinary(missing));
    expect(error).toMatchObject({ code: "llama_server_unusable", status: 503, param: "engine.llamaServer" });
    expect(error.message).toContain(`${missing} does not exist`);
    expect(error.message).toMatch(advice);
  });

  it("refuses a folder and a file that is not executable", async () => {
    expect((await failure(checkLlamaServerBinary(folder))).message).toContain(`${folder} is not a file`);
    const plain = path.join(folder, "llama-server");
    await fs.writeFile(plain, "#!/bin/sh\necho hi\n", { mode: 0o644 });
    const error = await failure(checkLlamaServerBinary(plain));
    expect(error.message).toContain(`${plain} is not executable (chmod +x ${plain})`);
    expect(error.message).toMatch(advice);
  });

  it("refuses a program that prints something else, or fails", async () => {
    const other = await script("python3", `echo "Python 3.11.2"`);
    const error = await failure(checkLlamaServerBinary(other));
    expect(error.message).toContain(`printed "Python 3.11.2" for --version, not llama.cpp's version line: it is not a llama-server`);
    expect(error.message).toMatch(advice);
    const failing = await script("broken", `echo "error while loading shared libraries: libcudart.so.12" >&2; exit 127`);
    expect((await failure(checkLlamaServerBinary(failing))).message).toContain(
      `exited with code 127 on --version (printed "error while loading shared libraries: libcudart.so.12")`,
    );
  });

  it("kills a program that does not answer within the timeout, children included, and says so", async () => {
    const hanging = await script("hangs", "sleep 30");
    const startedAt = performance.now();
    const error = await failure(checkLlamaServerBinary(hanging, { timeoutMs: 300 }));
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(error.message).toContain(`${hanging} did not answer --version within 0.3 s`);
    expect(error.message).toMatch(advice);
  });

  it.skipIf(testLlamaServer === undefined)("reads a real llama-server's version and commit", async () => {
    const info = await checkLlamaServerBinary(testLlamaServer!);
    expect(info.version).toMatch(/\(build \d+, commit [0-9a-f]+\)|^\d+ \([0-9a-f]+\)/);
    expect(info.buildInfo).toEqual(expect.any(String));
    expect(info.commit).toMatch(/^[0-9a-f]{7,}$/);
    // CI's binary and the development one are builds of the bundled source.
    expect(readBundledLlamaCppSource().commit.startsWith(info.commit!)).toBe(true);
  });
});

describe("listEngines and resolveLlamaServer", () => {
  const bundled = "80fb11ac73e66d89eae2c6a91d8a77428fa733ed";
  const other = "1234567890ab1234567890ab1234567890ab1234";

  /** Writes a finished build folder as `moestro engine build` leaves it. */
  async function build(commit: string, backend: "cpu" | "cuda", builtAt: string): Promise<string> {
    const name = engineBuildName(commit, backend);
    const directory = path.join(folder, "engines", name);
    await fs.mkdir(directory, { recursive: true });
    await fs.writeFile(path.join(directory, "llama-server"), "#!/bin/sh\n", { mode: 0o755 });
    const info: EngineBuildInfo = {
      name,
      commit,
      tag: "v0.4.0",
      backend,
      cmakeArgs: ["-DGGML_NATIVE=ON"],
      buildSeconds: 700,
      builtAt,
      versionOutput: `version: 0.4.0-dev (build 1, commit ${commit.slice(0, 7)})`,
      version: `0.4.0-dev (build 1, commit ${commit.slice(0, 7)})`,
    };
    await fs.writeFile(path.join(directory, "build.json"), JSON.stringify(info));
    return path.join(directory, "llama-server");
  }

  it("lists finished builds newest first, skipping unfinished and temporary folders", async () => {
    const older = await build(bundled, "cpu", "2026-12-01T10:00:00.000Z");
    const newer = await build(other, "cuda", "2026-12-05T10:00:00.000Z");
    await fs.mkdir(path.join(folder, "engines", "llama-server-000000000000-cpu"), { recursive: true }); // no build.json
    await fs.mkdir(path.join(folder, "engines", `.build-${engineBuildName(bundled, "cuda")}-x1y2z3`), { recursive: true });
    const builds = await listEngines(folder);
    expect(builds.map((entry) => entry.path)).toEqual([newer, older]);
    expect(builds[1]).toEqual({
      name: "llama-server-80fb11ac73e6-cpu",
      commit: bundled,
      tag: "v0.4.0",
      backend: "cpu",
      path: older,
      version: "0.4.0-dev (build 1, commit 80fb11a)",
      builtAt: "2026-12-01T10:00:00.000Z",
      buildSeconds: 700,
    });
    expect(await listEngines(path.join(folder, "no-home"))).toEqual([]);
  });

  it("takes the configured path, else the newest build of the bundled commit, else any build, else none", async () => {
    expect(await resolveLlamaServer({ home: folder, bundledCommit: bundled })).toBeUndefined();
    const otherBuild = await build(other, "cpu", "2026-12-05T10:00:00.000Z");
    expect(await resolveLlamaServer({ home: folder, bundledCommit: bundled })).toBe(otherBuild);
    await build(bundled, "cpu", "2026-12-01T10:00:00.000Z");
    const newestBundled = await build(bundled, "cuda", "2026-12-02T10:00:00.000Z");
    expect(await resolveLlamaServer({ home: folder, bundledCommit: bundled })).toBe(newestBundled);
    expect(await resolveLlamaServer({ home: folder, configured: "relative/llama-server" })).toBe(path.resolve("relative/llama-server"));
  });
});

describe("llamaServerSeesGpu", () => {
  it("reads llama.cpp's device list: (none) is no GPU, a listed device is one, anything else is unknown", async () => {
    const none = await script("none", `echo "Available devices:"; echo "  (none)"`);
    expect(await llamaServerSeesGpu(none)).toBe(false);
    const cuda = await script("cuda", `echo "Available devices:"; echo "  CUDA0: NVIDIA H100 80GB HBM3 (81079 MiB, 80484 MiB free)"`);
    expect(await llamaServerSeesGpu(cuda)).toBe(true);
    expect(await llamaServerSeesGpu(await script("old", `echo "error: invalid argument: --list-devices" >&2; exit 1`))).toBeUndefined();
    expect(await llamaServerSeesGpu(await script("quiet", "true"))).toBeUndefined();
    expect(await llamaServerSeesGpu(path.join(folder, "missing"))).toBeUndefined();
  });

  it.skipIf(testLlamaServer === undefined)("reads a real llama-server's device list (none from a CPU build)", async () => {
    const sees = await llamaServerSeesGpu(testLlamaServer!);
    expect(typeof sees).toBe("boolean");
    if (/-cpu[\\/]llama-server$/.test(testLlamaServer!)) expect(sees).toBe(false);
  });
});
