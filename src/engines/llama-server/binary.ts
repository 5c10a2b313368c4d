/**
 * Which llama-server binary the workers run: the llama.cpp source bundled in node-llama-cpp's package (what
 * `moestro engine build` compiles), the builds in `$MOESTRO_HOME/engines`, the one a user names (`--llama-server`),
 * and the check that a file really is a llama-server (docs/engines.md, "Getting a llama-server").
 */
import { spawn } from "node:child_process";
import { closeSync, constants as fsConstants, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { z } from "zod";
import { MoestroError } from "../../errors/index.js";

/** The llama.cpp backends `moestro engine build` compiles for: `cpu`, `cuda` (NVIDIA) or `vulkan`. */
export const llamaServerBackends = ["cpu", "cuda", "vulkan"] as const;
/** One of {@link llamaServerBackends}. */
export type LlamaServerBackend = (typeof llamaServerBackends)[number];

/** The llama.cpp source that ships inside node-llama-cpp's package: the commit the in-process engine runs. */
export interface BundledLlamaCppSource {
  /** node-llama-cpp's `llama/` folder. */
  directory: string;
  /** The git bundle holding the source (`llama/gitRelease.bundle`), one commit. */
  bundlePath: string;
  /** The patches node-llama-cpp applies on top (`llama/patches/*.diff`), in name order. */
  patchPaths: string[];
  /** The bundle's commit, 40 hex digits (its `HEAD`). */
  commit: string;
  /** The release tag node-llama-cpp records for it (`llama/llama.cpp.info.json`), or `undefined` when it records none. */
  tag: string | undefined;
}

/** node-llama-cpp's `llama/` folder, found from the installed package (`require.resolve`). */
export function defaultLlamaDirectory(): string {
  const entry = createRequire(import.meta.url).resolve("node-llama-cpp"); // <package>/dist/index.js
  return path.join(path.dirname(entry), "..", "llama");
}

/**
 * The commit of a git bundle, read from its header without git: the line of `HEAD`, else the first ref. The header is
 * text, `# v2 git bundle` (or `v3` plus `@capability` lines), prerequisites `-<sha>`, then `<sha> <refname>` lines and
 * a blank line (git's Documentation/gitformat-bundle.txt).
 *
 * @returns 40 (or 64, SHA-256 repositories) hex digits, or `undefined` when the text is no bundle header.
 */
export function parseGitBundleCommit(header: string): string | undefined {
  const lines = header.split("\n");
  if (!/^# v[23] git bundle$/.test(lines[0] ?? "")) return undefined;
  const refs: Array<{ commit: string; ref: string }> = [];
  for (const line of lines.slice(1)) {
    if (line === "") break;
    const match = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+)/.exec(line);
    if (match) refs.push({ commit: match[1]!, ref: match[2]! });
  }
  return (refs.find((ref) => ref.ref === "HEAD") ?? refs[0])?.commit;
}

/**
 * Reads where node-llama-cpp keeps its llama.cpp source and which commit and tag it is (synchronous: a few small reads).
 *
 * @param options.llamaDirectory node-llama-cpp's `llama/` folder. Defaults to {@link defaultLlamaDirectory}.
 * @throws {MoestroError} `internal_error` when the bundle is missing or unreadable (a node-llama-cpp without its
 *   source: reinstall it with `npm ci`).
 */
export function readBundledLlamaCppSource(options: { llamaDirectory?: string } = {}): BundledLlamaCppSource {
  const directory = options.llamaDirectory ?? defaultLlamaDirectory();
  const bundlePath = path.join(directory, "gitRelease.bundle");
  let commit: string | undefined;
  try {
    // The header is a few lines; 4 KiB holds it with room to spare (the bundle itself is about 35 MB).
    const buffer = Buffer.alloc(4096);
    const fd = openSync(bundlePath, "r");
    try {
      const bytes = readSync(fd, buffer, 0, buffer.length, 0);
      commit = parseGitBundleCommit(buffer.subarray(0, bytes).toString("latin1"));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new MoestroError(
      "internal_error",
      `cannot read node-llama-cpp's llama.cpp source ${bundlePath} (${(error as Error).message}); reinstall the dependencies (npm ci).`,
      { cause: error },
    );
  }
  if (commit === undefined)
    throw new MoestroError("internal_error", `${bundlePath} is not a git bundle; reinstall the dependencies (npm ci).`);
  let tag: string | undefined;
  try {
    const info = JSON.parse(readFileSync(path.join(directory, "llama.cpp.info.json"), "utf8")) as { tag?: unknown };
    if (typeof info.tag === "string" && info.tag.length > 0) tag = info.tag;
  } catch {
    // The tag is informative only: the commit names the source.
  }
  let patchPaths: string[] = [];
  try {
    patchPaths = readdirSync(path.join(directory, "patches"))
      .sort()
      .filter((name) => name.endsWith(".diff"))
      .map((name) => path.join(directory, "patches", name));
  } catch {
    // No patches folder: nothing to apply.
  }
  return { directory, bundlePath, patchPaths, commit, tag };
}

/** `<home>/engines`, where `moestro engine build` puts its builds (one folder each). */
export function enginesDirectory(home: string): string {
  return path.join(home, "engines");
}

/**
 * The folder name of a build: `llama-server-<first 12 hex of the commit>-<backend>`, so that builds of two commits or
 * two backends sit side by side and a build of the same pair is found again (and reused).
 */
export function engineBuildName(commit: string, backend: LlamaServerBackend): string {
  return `llama-server-${commit.slice(0, 12)}-${backend}`;
}

/** The `build.json` that `moestro engine build` writes beside the binary, last (a folder without it is no build). */
export const engineBuildInfoSchema = z.object({
  /** The folder name ({@link engineBuildName}). */
  name: z.string(),
  /** The llama.cpp commit built, 40 hex digits. */
  commit: z.string(),
  /** node-llama-cpp's release tag of that commit, when it records one. */
  tag: z.string().nullish(),
  backend: z.enum(llamaServerBackends),
  /** The cmake configure arguments, as given. */
  cmakeArgs: z.array(z.string()),
  /** How long the whole build took, seconds. */
  buildSeconds: z.number(),
  /** When it finished, ISO 8601. */
  builtAt: z.string(),
  /** What the binary printed for `--version` (both lines). */
  versionOutput: z.string(),
  /** The version part of that output ({@link LlamaServerBinaryInfo.version}). */
  version: z.string(),
});
/** The contents of a build's `build.json`. */
export type EngineBuildInfo = z.infer<typeof engineBuildInfoSchema>;

/** A llama-server build found in `<home>/engines`, as `moestro engine ls` lists it. */
export interface EngineBuild {
  /** The folder name, `llama-server-<commit 12 hex>-<backend>`. */
  name: string;
  /** The llama.cpp commit, 40 hex digits. */
  commit: string;
  /** node-llama-cpp's release tag of the commit, when it records one. */
  tag: string | undefined;
  backend: LlamaServerBackend;
  /** Absolute path of the binary. */
  path: string;
  /** The version it reports (`0.4.0-dev (build 1, commit 80fb11a)`). */
  version: string;
  /** When it was built, ISO 8601. */
  builtAt: string;
  /** How long the build took, seconds. */
  buildSeconds: number;
}

/** The binary's file name inside a build folder. */
export const llamaServerFileName = process.platform === "win32" ? "llama-server.exe" : "llama-server";

/**
 * Reads one build folder: its `build.json` (validated) and the binary beside it.
 *
 * @returns the build, or `undefined` when the folder holds no finished build (no or a broken `build.json`, or no binary).
 */
export async function readEngineBuild(directory: string): Promise<EngineBuild | undefined> {
  let info: EngineBuildInfo;
  try {
    const parsed = engineBuildInfoSchema.safeParse(JSON.parse(await fs.readFile(path.join(directory, "build.json"), "utf8")));
    if (!parsed.success) return undefined;
    info = parsed.data;
  } catch {
    return undefined;
  }
  const binaryPath = path.join(directory, llamaServerFileName);
  try {
    await fs.access(binaryPath, fsConstants.X_OK);
  } catch {
    return undefined;
  }
  return {
    name: info.name,
    commit: info.commit,
    tag: info.tag ?? undefined,
    backend: info.backend,
    path: binaryPath,
    version: info.version,
    builtAt: info.builtAt,
    buildSeconds: info.buildSeconds,
  };
}

/**
 * The llama-server builds in `<home>/engines`: every folder with a finished build (a `build.json` and an executable
 * binary), newest first. Folders whose name starts with `.` are builds still running (or cut off) and are skipped.
 *
 * @returns an empty list when the folder does not exist.
 */
export async function listEngines(home: string): Promise<EngineBuild[]> {
  let names: string[];
  try {
    names = await fs.readdir(enginesDirectory(home));
  } catch {
    return [];
  }
  const builds: EngineBuild[] = [];
  for (const name of names.sort()) {
    if (name.startsWith(".")) continue;
    const build = await readEngineBuild(path.join(enginesDirectory(home), name));
    if (build) builds.push(build);
  }
  return builds.sort((a, b) => b.builtAt.localeCompare(a.builtAt));
}

/**
 * The llama-server binary workers run:
 * - `configured` (`engine.llamaServer`, `--llama-server`) when given, as given (resolved to an absolute path; not
 *   checked here, see {@link checkLlamaServerBinary});
 * - else the newest build in `<home>/engines` of the commit node-llama-cpp ships (`bundledCommit`), so that both
 *   engines run the same llama.cpp;
 * - else the newest build of any commit;
 * - else `undefined` (none: `moestro engine build` makes one).
 *
 * @param options.bundledCommit the commit to prefer, 40 hex digits. Defaults to the bundled source's
 *   ({@link readBundledLlamaCppSource}); when that cannot be read, any build is taken.
 */
export async function resolveLlamaServer(options: {
  configured?: string;
  home: string;
  bundledCommit?: string;
}): Promise<string | undefined> {
  if (options.configured !== undefined && options.configured.length > 0) return path.resolve(options.configured);
  const builds = await listEngines(options.home);
  let bundledCommit = options.bundledCommit;
  if (bundledCommit === undefined) {
    try {
      bundledCommit = readBundledLlamaCppSource().commit;
    } catch {
      // No bundled source to prefer: any build will do.
    }
  }
  return (builds.find((build) => build.commit === bundledCommit) ?? builds[0])?.path;
}

/** What a llama-server binary says it is ({@link checkLlamaServerBinary}). */
export interface LlamaServerBinaryInfo {
  /** The binary's absolute path. */
  path: string;
  /**
   * The version text after `version: `: `0.4.0-dev (build 1, commit 80fb11a)` from llama.cpp of 2026, `1 (80fb11a)` from
   * older ones (build number and commit).
   */
  version: string;
  /** The short commit hash it was built from, when it prints one (`80fb11a`; `unknown` builds without git give none). */
  commit?: string;
  /** llama.cpp's build number (commits since the start of its history; 1 for a squashed source such as the bundle's). */
  buildNumber?: number;
  /** The `built with …` line without its prefix (`GNU 12.2.0 for Linux x86_64`), or `undefined` when absent. */
  buildInfo: string | undefined;
  /** Everything it printed for `--version` (stdout, then stderr), trimmed. */
  output: string;
}

/**
 * Reads llama.cpp's build info from `--version` output (llama.cpp's `llama_print_build_info`, common/build-info.cpp.in):
 * `version: <version> (build <n>, commit <hash>)` (llama.cpp of 2026), or `version: <n> (<hash>)` (older releases and
 * most distributions), then `built with <compiler> for <target>`.
 *
 * @returns `undefined` when the output has no such version line (not a llama.cpp program).
 */
export function parseLlamaServerVersion(output: string): Omit<LlamaServerBinaryInfo, "path" | "output"> | undefined {
  const versionLine = /^version: (.+)$/m.exec(output);
  if (!versionLine) return undefined;
  const version = versionLine[1]!.trim();
  const current = /\(build (\d+), commit ([^)\s]+)\)$/.exec(version);
  const older = /^(\d+) \(([^)\s]+)\)$/.exec(version);
  const buildNumberText = current?.[1] ?? older?.[1];
  const commitText = current?.[2] ?? older?.[2];
  if (buildNumberText === undefined) return undefined;
  const buildInfo = /^built with (.+)$/m.exec(output)?.[1]?.trim();
  return {
    version,
    buildNumber: Number.parseInt(buildNumberText, 10),
    commit: commitText === undefined || commitText === "unknown" ? undefined : commitText,
    buildInfo,
  };
}

/** What to do about a binary that cannot be used: the same advice in every message of {@link checkLlamaServerBinary}. */
const binaryAdvice = "build one with `moestro engine build`, or name a working binary with --llama-server PATH";

/**
 * Checks that `binaryPath` is a llama-server that runs here: runs `PATH --version` (no shell, at most `timeoutMs`) and
 * reads its build info ({@link parseLlamaServerVersion}).
 *
 * @param options.timeoutMs how long `--version` may take, ms; the process (and its children) is killed after. Defaults
 *   to 10000.
 * @throws {MoestroError} `llama_server_unusable` (param `engine.llamaServer`) when there is no such file, it is a
 *   folder, it is not executable, it cannot be started, it exits non-zero or is killed, it runs past the timeout, or its
 *   output has no llama.cpp version line; the message names the path and says what to do.
 */
export async function checkLlamaServerBinary(binaryPath: string, options: { timeoutMs?: number } = {}): Promise<LlamaServerBinaryInfo> {
  const absolutePath = path.resolve(binaryPath);
  const unusable = (what: string, cause?: unknown): MoestroError =>
    new MoestroError("llama_server_unusable", `llama-server ${absolutePath} ${what}; ${binaryAdvice}.`, {
      param: "engine.llamaServer",
      cause,
    });
  let stat: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stat = await fs.stat(absolutePath);
  } catch (error) {
    throw unusable("does not exist", error);
  }
  if (!stat.isFile()) throw unusable("is not a file");
  try {
    await fs.access(absolutePath, fsConstants.X_OK);
  } catch (error) {
    throw unusable(`is not executable (chmod +x ${absolutePath})`, error);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const result = await runBinary(absolutePath, ["--version"], timeoutMs).catch((error: unknown) => {
    throw unusable(`cannot be started (${(error as Error).message})`, error);
  });
  const output = `${result.stdout}${result.stdout && result.stderr ? "\n" : ""}${result.stderr}`.trim();
  const excerpt = output.length === 0 ? "nothing" : `"${output.split("\n")[0]!.slice(0, 120)}"`;
  if (result.isTimedOut) throw unusable(`did not answer --version within ${timeoutMs / 1000} s: it is not a llama-server`);
  if (result.exitCode !== 0)
    throw unusable(
      `${result.exitCode === null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`} on --version (printed ${excerpt}): it is not a working llama-server`,
    );
  const parsed = parseLlamaServerVersion(output);
  if (!parsed) throw unusable(`printed ${excerpt} for --version, not llama.cpp's version line: it is not a llama-server`);
  return { path: absolutePath, ...parsed, output };
}

/**
 * Whether a llama-server binary sees a GPU it can offload layers to: runs `PATH --list-devices` (no shell, at most
 * `timeoutMs`, default 10000) and reads llama.cpp's `Available devices:` list (`(none)` from a CPU build, or from a GPU
 * build on a machine without a usable GPU).
 *
 * @returns `true` with a device listed, `false` with `(none)`, `undefined` when it cannot tell (the binary failed, ran
 *   past the timeout, or printed no such list: an older llama.cpp). Never throws.
 */
export async function llamaServerSeesGpu(binaryPath: string, options: { timeoutMs?: number } = {}): Promise<boolean | undefined> {
  const result = await runBinary(binaryPath, ["--list-devices"], options.timeoutMs ?? 10_000).catch(() => undefined);
  if (result === undefined || result.isTimedOut || result.exitCode !== 0) return undefined;
  const lines = `${result.stdout}\n${result.stderr}`.split("\n").map((line) => line.trim());
  const start = lines.indexOf("Available devices:");
  if (start < 0) return undefined;
  const first = lines.slice(start + 1).find((line) => line.length > 0);
  return first !== undefined && first !== "(none)";
}

/**
 * Runs `binaryPath ARGS` (`--version`, `--list-devices`) in its own process group and collects its output. On timeout the whole group is killed
 * and the promise settles at once: a shell script that waits on a child would otherwise keep the pipes open (and
 * `execFile`'s callback waiting) until that child ends.
 */
function runBinary(
  binaryPath: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; exitCode: number | null; signal: NodeJS.Signals | null; isTimedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath, args, { stdio: ["ignore", "pipe", "pipe"], detached: process.platform !== "win32" });
    let stdout = "";
    let stderr = "";
    // At most 64 KiB each: the version is two lines, the devices a few, and a program that prints more is not llama-server.
    child.stdout.on("data", (chunk: Buffer) => {
      if (stdout.length < 65_536) stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 65_536) stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      killProcessGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ stdout, stderr, exitCode: null, signal: "SIGKILL", isTimedOut: true });
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exitCode, signal, isTimedOut: false });
    });
  });
}

/** Kills a process group started with `detached: true` (its leader's pid), ignoring one that has ended. */
export function killProcessGroup(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
  if (pid === undefined) return;
  try {
    process.kill(process.platform === "win32" ? pid : -pid, signal);
  } catch {
    // Already gone.
  }
}
