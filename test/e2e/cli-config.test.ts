import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { killHard, moestroBin, startServe } from "../helpers/serve-process.js";

/** The environment of a child CLI: this process's without its MOESTRO_* variables (a developer's own), plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("MOESTRO_") && !name.startsWith("HF_")));
  return { ...base, ...env };
}

describe("moestro CLI: the config file, MOESTRO_* variables and the models serve is given", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  function temporaryFolder(): string {
    const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-config-"));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    return folder;
  }
  function run(args: string[], env: Record<string, string>, cwd?: string) {
    return spawnSync(process.execPath, [moestroBin, ...args], { encoding: "utf8", env: cleanEnv(env), cwd, timeout: 60_000 });
  }

  it("refuses a config file with an unknown key, in one line naming the key, the file and the key meant", () => {
    const home = temporaryFolder();
    const file = path.join(home, "typo.json");
    writeFileSync(file, JSON.stringify({ engine: { contextTokens: 8192, thread: 2 } }));
    const result = run(["config", "show", "--config", file], { MOESTRO_HOME: home });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `moestro config show: unknown key engine.thread in ${file}; did you mean engine.threads? (every key: docs/config.md)\n`,
    );
    writeFileSync(file, JSON.stringify({ serverr: { port: 1 } }));
    const json = run(["config", "show", "--config", file, "--json"], { MOESTRO_HOME: home });
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "invalid_request", param: "serverr" } });
    expect(JSON.parse(json.stderr).error.message).toContain("did you mean server?");
  });

  it("warns of a MOESTRO_* variable that names no key, and not of those moestro reads for other purposes", () => {
    const home = temporaryFolder();
    const result = run(["config", "show", "--json"], {
      MOESTRO_HOME: home,
      MOESTRO_ENGINE__THREAD: "3",
      MOESTRO_SERVER_PORT: "9",
      MOESTRO_TEST_MODELS: "/nowhere",
      MOESTRO_API_KEY: "k",
    });
    expect(result.status).toBe(0);
    const warnings = result.stderr
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { warning: { message: string } }).warning.message);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^MOESTRO_ENGINE__THREAD is not a variable moestro reads, so it is ignored; did you mean MOESTRO_ENGINE__THREADS/,
      ),
      expect.stringMatching(/^MOESTRO_SERVER_PORT is not .*; did you mean MOESTRO_SERVER__PORT \(server\.port\)\?/),
    ]);
    const text = run(["config", "show"], { MOESTRO_HOME: home, MOESTRO_SERVER_PORT: "9" });
    expect(text.stderr).toMatch(/^moestro config show: warning: MOESTRO_SERVER_PORT is not a variable moestro reads/);
    expect(text.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("config show: --home finds config.json there, and HF_ENDPOINT is named as the variable read", () => {
    const home = temporaryFolder();
    writeFileSync(path.join(home, "config.json"), JSON.stringify({ server: { port: 9123 } }));
    const result = run(["config", "show", "--home", home], { HF_ENDPOINT: "http://mirror.example" });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`config file: ${path.join(home, "config.json")}`);
    expect(result.stdout).toMatch(/^server\.port +9123 +\[file; MOESTRO_SERVER__PORT\]$/m);
    expect(result.stdout).toMatch(/^hub\.endpoint +http:\/\/mirror\.example +\[env; HF_ENDPOINT\]$/m);
    expect(result.stdout).toMatch(/^hub\.token +\(unset\) +\[default; MOESTRO_HUB__TOKEN\]$/m);
  });

  it("serve --help: what --model takes, one default each, every API, where the config file is", () => {
    const help = run(["serve", "--help"], {}).stdout.replace(/\s+/g, " ");
    expect(help).toContain("-m, --model <[NAME=]MODEL>");
    expect(help).toMatch(/--model .*hf:owner\/repo:QUANT.*https:\/\//);
    expect(help).not.toContain("(default: [])");
    for (const endpoint of ["/v1/chat/completions", "/v1/messages", "/v1/responses", "/api/chat"]) expect(help).toContain(endpoint);
    expect(help).toMatch(/--config <file> .*\$MOESTRO_HOME or ~\/\.moestro/);
  });

  it("serve refuses two models with one id, naming the id and both, before anything is opened", () => {
    const folder = temporaryFolder();
    const [first, second] = [path.join(folder, "a1.gguf"), path.join(folder, "a2.gguf")];
    const flags = run(["serve", "--model", `a=${first}`, "--model", `a=${second}`, "--port", "0", "--threads", "1"], {
      MOESTRO_HOME: folder,
    });
    expect(flags.status).toBe(1);
    expect(flags.stderr).toBe(
      `moestro serve: two models have the id "a": --model a=${first} and --model a=${second}; give each its own id (--model NAME=PATH, or "id" in the config file)\n`,
    );
    const twice = run(["serve", "--model", first, "--model", first, "--port", "0", "--threads", "1"], { MOESTRO_HOME: folder });
    expect(twice.stderr).toMatch(/two models have the id "a1": --model .*a1\.gguf and --model .*a1\.gguf/);
    const file = path.join(folder, "config.json");
    writeFileSync(file, JSON.stringify({ models: [{ path: "x/m.gguf" }, { path: "y/m.gguf" }] }));
    const fromFile = run(["serve", "--config", file, "--port", "0", "--threads", "1"], { MOESTRO_HOME: folder });
    expect(fromFile.status).toBe(1);
    expect(fromFile.stderr).toContain(`two models have the id "m": models[0].path in ${file} and models[1].path in ${file}`);
  });

  it("serve names a file that is not GGUF in one line, and a missing file by its config key and file", () => {
    const folder = temporaryFolder();
    const fake = path.join(folder, "fake.gguf");
    writeFileSync(fake, JSON.stringify({ name: "not a model" }, null, 2));
    const result = run(["serve", "--model", fake, "--port", "0", "--threads", "1"], { MOESTRO_HOME: folder });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `moestro serve: Cannot read a GGUF header from ${fake} (--model ${fake}): it does not start with "GGUF" but with "{\\n  ", so it is not a GGUF model file.\n`,
    );
    mkdirSync(path.join(folder, "cfg"));
    const file = path.join(folder, "cfg", "config.json");
    writeFileSync(file, JSON.stringify({ models: [{ path: "missing.gguf" }] }));
    const missing = run(["serve", "--config", file, "--port", "0", "--threads", "1"], { MOESTRO_HOME: folder });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(
      `moestro serve: cannot serve the model file ${path.join(folder, "cfg", "missing.gguf")} (models[0].path in ${file}): there is no such file. Check models[0].path, or pull a model (moestro pull hf:owner/repo:QUANT) and serve it by its hf: reference.\n`,
    );
  });

  it.skipIf(!hasTestModels)("serve reads a config file's relative model path against the file's folder, not the current one", async () => {
    const folder = temporaryFolder();
    mkdirSync(path.join(folder, "cfg"));
    copyFileSync(testModelPath("stories260K.gguf"), path.join(folder, "cfg", "m.gguf"));
    const file = path.join(folder, "cfg", "config.json");
    writeFileSync(file, JSON.stringify({ models: [{ path: "m.gguf" }] }));
    const serve = startServe(["--config", file, "--port", "0", "--threads", "1", "--log-level", "error"], { MOESTRO_HOME: folder });
    cleanups.push(() => killHard(serve.child));
    const url = await serve.url;
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((model) => model.id)).toEqual(["m"]);
  });
});
