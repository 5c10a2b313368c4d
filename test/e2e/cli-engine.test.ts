import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { engineBuildName, readBundledLlamaCppSource } from "../../src/engines/llama-server/binary.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");

/** Runs `moestro ARGS` as a user would, and returns its exit code and output. */
function runMoestro(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: process.env, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("moestro engine", () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
  });
  function temporaryHome(): string {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-engine-"));
    homes.push(home);
    return home;
  }

  /** A finished CPU build of the bundled commit, as `moestro engine build` leaves it; returns the binary's path. */
  function finishedBuild(home: string): string {
    const source = readBundledLlamaCppSource();
    const name = engineBuildName(source.commit, "cpu");
    const directory = path.join(home, "engines", name);
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, "llama-server"), "#!/bin/sh\necho 'version: 0.4.0-dev (build 1, commit 80fb11a)' >&2\n", {
      mode: 0o755,
    });
    writeFileSync(
      path.join(directory, "build.json"),
      JSON.stringify({
        name,
        commit: source.commit,
        tag: source.tag ?? null,
        backend: "cpu",
        // Without AMX, as a build on a CPU whose AMX faults records it: such a machine would otherwise rebuild it.
        cmakeArgs: [
          "-DGGML_NATIVE=ON",
          "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
          "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
        ],
        buildSeconds: 731.2,
        builtAt: "2026-12-07T08:00:00.000Z",
        versionOutput: "version: 0.4.0-dev (build 1, commit 80fb11a)",
        version: "0.4.0-dev (build 1, commit 80fb11a)",
      }),
    );
    return path.join(directory, "llama-server");
  }

  it("ls says how to build one when there is none; --json prints an empty array", () => {
    const home = temporaryHome();
    const human = runMoestro(["engine", "ls", "--home", home]);
    expect(human.status).toBe(0);
    expect(human.stdout).toBe(`No llama-server built in ${path.join(home, "engines")}. Build one: moestro engine build\n`);
    expect(runMoestro(["engine", "ls", "--home", home, "--json"]).stdout).toBe("[]\n");
  });

  it("build reuses a finished build at once (one JSON object with --json), and ls lists it with the binary workers run", () => {
    const home = temporaryHome();
    const binary = finishedBuild(home);
    const json = runMoestro(["engine", "build", "--backend", "cpu", "--home", home, "--json"]);
    expect(json.status).toBe(0);
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toMatchObject({ reused: true, backend: "cpu", path: binary, buildSeconds: 731.2 });

    const human = runMoestro(["engine", "build", "--backend", "cpu", "--home", home]);
    expect(human.stdout).toContain(`is already built (2026-12-07 08:00), reused: ${binary}\n`);
    expect(human.stdout).toContain("--llama-server PATH");

    const listed = runMoestro(["engine", "ls", "--home", home]);
    expect(listed.stdout).toMatch(/^NAME +BACKEND +COMMIT +BUILT +PATH\nllama-server-[0-9a-f]{12}-cpu +cpu /);
    expect(listed.stdout).toContain(`workers run ${binary}\n`);
    expect(JSON.parse(runMoestro(["engine", "ls", "--home", home, "--json"]).stdout)).toEqual([
      expect.objectContaining({ backend: "cpu", path: binary, version: "0.4.0-dev (build 1, commit 80fb11a)" }),
    ]);
  });

  it("refuses an unknown backend as an invalid flag value", () => {
    const result = runMoestro(["engine", "build", "--backend", "metal", "--json"]);
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stderr).error).toMatchObject({ code: "invalid_request", param: "--backend" });
  });

  it("serve takes --engine and --llama-server, with their variables", () => {
    const help = runMoestro(["serve", "--help"]).stdout;
    expect(help).toContain("--engine <kind>");
    expect(help).toContain("MOESTRO_ENGINE__KIND");
    expect(help).toContain("--llama-server <path>");
    expect(help).toContain("MOESTRO_ENGINE__LLAMA_SERVER");
  });
});
