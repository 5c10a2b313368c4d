import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeHub } from "../helpers/fake-hub.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/moestro.js");

/** Runs `moestro ARGS` as a user would, and returns its exit code and output. */
function runMoestro(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Starts `moestro ARGS` without blocking this process (a fake hub in it must answer); `ended` resolves with its exit
 * code and output.
 */
function spawnMoestro(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { interrupt(): void; ended: Promise<{ status: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const ended = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("close", (status) => resolve({ status, stdout, stderr })),
  );
  return { interrupt: () => child.kill("SIGINT"), ended };
}

/**
 * Runs `moestro ARGS` with its stdout (or stderr) a pipe whose reader is gone before it writes, as `moestro ARGS | head`
 * once head has what it wants; resolves with its exit code and what it wrote to the other stream.
 */
function runIntoClosedPipe(
  args: string[],
  closed: "stdout" | "stderr",
  env: NodeJS.ProcessEnv = {},
): Promise<{ status: number | null; output: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
  // Closed at once: node takes far longer to start than this takes, so every write of the command meets EPIPE.
  child[closed].destroy();
  const other = closed === "stdout" ? child.stderr : child.stdout;
  let output = "";
  other.on("data", (data: Buffer) => (output += data.toString()));
  return new Promise((resolve) => child.once("close", (status) => resolve({ status, output })));
}

/** The one JSON line a failed command with `--json` writes to stderr. */
function jsonError(stderr: string): { message: string; code: string; type: string; param: string | null; status?: number } {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  return (JSON.parse(lines[0]!) as { error: { message: string; code: string; type: string; param: string | null; status?: number } }).error;
}

describe("moestro CLI: errors", () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  function temporaryHome(): string {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-cli-errors-"));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    return home;
  }

  it("with --json, a command's error is one JSON object on stderr, stdout stays empty, and the exit code is 1", () => {
    const result = runMoestro(["rm", "nothing-here", "--json", "--home", temporaryHome()]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    const error = jsonError(result.stderr);
    expect(error).toMatchObject({ code: "model_not_found", type: "invalid_request_error", param: "model" });
    expect(error.message).toMatch(/No model named 'nothing-here'/);
  });

  it("with --json, a flag the parser refuses is a JSON error naming the flag", () => {
    const result = runMoestro(["serve", "--port", "abc", "--json"]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(jsonError(result.stderr)).toMatchObject({ code: "invalid_request", param: "--port" });
    const missing = runMoestro(["bench", "--json"]);
    expect(missing.status).toBe(1);
    expect(jsonError(missing.stderr)).toMatchObject({ code: "invalid_request", param: "--url" });
    expect(jsonError(missing.stderr).message).toContain("--url");
  });

  it("without --json, the error is one line of text prefixed with the command", () => {
    const result = runMoestro(["rm", "nothing-here", "--home", temporaryHome()]);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^moestro rm: No model named 'nothing-here'/);
    const parse = runMoestro(["serve", "--port", "abc"]);
    expect(parse.stderr.trim()).toBe("moestro serve: option '-p, --port <port>' argument 'abc' is invalid. 'abc' is not a whole number.");
  });

  it("a bad MOESTRO_* value names the variable, what it accepts and what it got; a bad file value names the key and the file", () => {
    const home = temporaryHome();
    const result = runMoestro(["ls", "--json"], { MOESTRO_HOME: home, MOESTRO_ENGINE__THREADS: "abc" });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toEqual({
      message: 'MOESTRO_ENGINE__THREADS (engine.threads): expected a whole number ≥ 1, got "abc"',
      code: "invalid_request",
      type: "invalid_request_error",
      param: "engine.threads",
    });
    const file = path.join(home, "config.json");
    writeFileSync(file, JSON.stringify({ engine: { gpu: "tpu" } }));
    const fromFile = runMoestro(["config", "show"], { MOESTRO_HOME: home });
    expect(fromFile.status).toBe(1);
    expect(fromFile.stderr.trim()).toBe(
      `moestro config show: engine.gpu in ${file}: expected one of auto, cpu, cuda, vulkan, metal, got "tpu"`,
    );
  });

  it("a serve flag whose value the config refuses is named by its flag", () => {
    const result = runMoestro(["serve", "--threads", "0", "--model", "missing.gguf", "--json"], { MOESTRO_HOME: temporaryHome() });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toMatchObject({
      message: "--threads (engine.threads): expected a whole number ≥ 1, got 0",
      param: "engine.threads",
    });
  });

  it("a failed pull says why and leaves no empty model folder behind", () => {
    const home = temporaryHome();
    const result = runMoestro(["pull", "http://127.0.0.1:9/model-Q8_0.gguf", "--json"], { MOESTRO_HOME: home });
    expect(result.status).toBe(1);
    expect(jsonError(result.stderr)).toMatchObject({ code: "hub_unreachable" });
    expect(existsSync(path.join(home, "models")) ? readdirSync(path.join(home, "models")) : []).toEqual([]);
  });

  it("Ctrl-C stops a pull with one line saying how to resume (JSON with --json), exit code 130; the same command resumes", async () => {
    const hub = await startFakeHub({
      repos: { "owner/slow-GGUF": [{ path: "slow-Q8_0.gguf", content: Buffer.alloc(400_000, 7) }] },
      bytesPerSecond: 100_000,
    });
    cleanups.push(() => hub.close());
    const env = { MOESTRO_HOME: temporaryHome(), HF_ENDPOINT: hub.url };
    const pull = spawnMoestro(["pull", "hf:owner/slow-GGUF:Q8_0", "--json"], env);
    const deadline = Date.now() + 20_000;
    while (!hub.requests.some((request) => request.includes("/resolve/")) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 300)); // some bytes on disk
    pull.interrupt();
    const interrupted = await pull.ended;
    expect(interrupted.status).toBe(130);
    expect(interrupted.stdout).toBe("");
    expect(jsonError(interrupted.stderr)).toEqual({
      message: "interrupted; run the same command again to resume.",
      code: "interrupted",
      type: "invalid_request_error",
      param: null,
    });
    const again = await spawnMoestro(["pull", "hf:owner/slow-GGUF:Q8_0", "--json"], env).ended;
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ sizeBytes: 400_000 });
    expect(hub.requests.filter((request) => request.includes("/resolve/")).at(-1)).toMatch(/ bytes=[1-9]\d*-$/);
  });

  it("a URL with malformed percent-encoding is a clear invalid_request, not an internal error", () => {
    const result = runMoestro(["pull", "https://127.0.0.1:9/%zz.gguf", "--json"], { MOESTRO_HOME: temporaryHome() });
    expect(result.status).toBe(1);
    const error = jsonError(result.stderr);
    expect(error).toMatchObject({ code: "invalid_request", param: "model" });
    expect(error.message).toContain("malformed percent-encoding in its file name '%zz.gguf'");
  });

  it("output piped into a reader that stops early (| head) ends the command quietly: no stack, exit 0", async () => {
    const home = temporaryHome();
    for (const args of [["config", "show"], ["usage"], ["usage", "--json"], ["keys", "ls"]]) {
      const result = await runIntoClosedPipe(args, "stdout", { MOESTRO_HOME: home, MOESTRO_URL: "" });
      expect({ args, ...result }).toEqual({ args, status: 0, output: "" });
    }
    // A failing command whose stderr reader is gone still exits 1, without a stack on stdout.
    const failed = await runIntoClosedPipe(["rm", "nothing-here", "--home", home], "stderr");
    expect(failed).toEqual({ status: 1, output: "" });
  });

  it("a server that cannot be reached is server_unavailable, and a local file that cannot be read names its argument", () => {
    const bench = runMoestro(["bench", "--url", "http://127.0.0.1:1", "--model", "x", "-n", "1", "-c", "1", "--no-progress", "--json"]);
    expect(bench.status).toBe(1);
    expect(jsonError(bench.stderr)).toMatchObject({ code: "server_unavailable", type: "server_error", param: "url" });
    const keys = runMoestro(["keys", "ls", "--url", "http://127.0.0.1:1", "--json"]);
    expect(jsonError(keys.stderr)).toMatchObject({ code: "server_unavailable", message: expect.stringContaining("http://127.0.0.1:1") });
    const missing = runMoestro(["batch", "submit", "/nonexistent/requests.jsonl", "--url", "http://127.0.0.1:1", "--json"]);
    expect(missing.status).toBe(1);
    const error = jsonError(missing.stderr);
    expect(error).toMatchObject({ code: "invalid_request", param: "file" });
    expect(error.message).toMatch(/^Cannot read the batch input file \/nonexistent\/requests\.jsonl: ENOENT/);
  });

  it("batch submit names a line that is not JSON before it asks for an endpoint or uploads anything", () => {
    const file = path.join(temporaryHome(), "bad.jsonl");
    writeFileSync(file, "{not json\n");
    // No server at that URL: the file is refused before any request.
    for (const extra of [[], ["--endpoint", "/v1/completions"]]) {
      const result = runMoestro(["batch", "submit", file, "--url", "http://127.0.0.1:1", ...extra]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^moestro batch submit: Line 1 of the batch input file is not valid JSON: /);
    }
  });

  it("keys create refuses --rpm and --tpm below 1 and an empty --name, naming the flag", () => {
    const home = temporaryHome();
    for (const [flag, value] of [
      ["--rpm", "-5"],
      ["--tpm", "0"],
      ["--name", " "],
    ] as const) {
      const args =
        flag === "--name" ? ["keys", "create", "--name", value, "--json"] : ["keys", "create", "--name", "x", flag, value, "--json"];
      const result = runMoestro(args, { MOESTRO_HOME: home, MOESTRO_URL: "" });
      expect(result.status).toBe(1);
      expect(jsonError(result.stderr)).toMatchObject({ code: "invalid_request", param: flag });
    }
  });

  it("a command group alone prints its help on stdout and exits 0; with --json, its subcommands", () => {
    const bare = runMoestro(["keys"]);
    expect(bare).toMatchObject({ status: 0, stderr: "" });
    expect(bare.stdout).toMatch(/^Usage: moestro keys /);
    expect(bare.stdout).toContain("revoke");
    const json = runMoestro(["config", "--json"]);
    expect(json).toMatchObject({ status: 0, stderr: "" });
    expect(JSON.parse(json.stdout)).toMatchObject({ command: "moestro config", commands: [{ name: "show", usage: "[options]" }] });
    expect(
      (JSON.parse(runMoestro(["--json"]).stdout) as { commands: Array<{ name: string }> }).commands.map((command) => command.name),
    ).toContain("keys");
    // A subcommand's own --json is still its own, and an unknown subcommand is still an error with a suggestion.
    const typo = runMoestro(["keys", "lss"]);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toContain("unknown command 'lss'");
    expect(typo.stderr).toContain("Did you mean ls?");
  });

  it("help and the version still exit 0", () => {
    expect(runMoestro(["--version"]).status).toBe(0);
    const help = runMoestro(["ls", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--json");
  });
});

describe("moestro CLI: errors a server answered", () => {
  const adminKey = "cli-errors-admin-key-0123456789";
  let open: TestServer;
  let keyed: TestServer;
  // The servers run in this process: the CLI is spawned without blocking it (spawnMoestro, not runMoestro), so they can answer.
  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => await spawnMoestro(args, { MOESTRO_ADMIN_KEY: "", ...env }).ended;
  beforeAll(async () => {
    // No models: these answers come before any model would.
    open = await startTestServer({ models: [] });
    keyed = await startTestServer({ models: [], adminKey });
  });
  afterAll(async () => {
    await open?.close();
    await keyed?.close();
  });

  it("with --json, the server's code, type, param, message and status pass through", async () => {
    const keys = await cli(["keys", "ls", "--url", open.url, "--json"]);
    expect(keys.status).toBe(1);
    expect(jsonError(keys.stderr)).toMatchObject({
      code: "permission_denied",
      type: "invalid_request_error",
      status: 403,
      message: expect.stringContaining("--admin-key"),
    });
    const ps = await cli(["ps", "--url", keyed.url, "--json"], { MOESTRO_ADMIN_KEY: "" });
    expect(jsonError(ps.stderr)).toMatchObject({
      code: "missing_api_key",
      status: 401,
      message: expect.stringMatching(/refused the list/),
    });
    const batch = await cli(["batch", "get", "batch_nope", "--url", open.url, "--json"]);
    expect(jsonError(batch.stderr)).toMatchObject({ code: "not_found", param: "id", status: 404 });
  });

  it("keys create --models warns on stderr about a model the server does not serve, and creates the key all the same", async () => {
    const created = await cli(["keys", "create", "--name", "later", "--models", "nope", "--url", keyed.url, "--json"], {
      MOESTRO_ADMIN_KEY: adminKey,
    });
    expect(created.status).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: "later", models: ["nope"] });
    expect(JSON.parse(created.stderr)).toEqual({
      warning: { message: expect.stringContaining("the server serves no model 'nope'"), param: "--models" },
    });
    const text = await cli(["keys", "create", "--name", "later", "--models", "nope", "--url", keyed.url], { MOESTRO_ADMIN_KEY: adminKey });
    expect(text.stderr).toMatch(/^moestro keys create: warning: the server serves no model 'nope' \(it serves: none\)/);
  });
});
