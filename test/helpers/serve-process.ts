import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The built CLI (`bin/moestro.js`, which runs `dist/`: `npm run build` first). */
export const moestroBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/moestro.js");

/** `moestro serve` running as a child process of the test. */
export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  /**
   * Its base URL, once it says it listens (`listening on URL`, or with `--json` the `{"event": "listening", "url"}`
   * line); rejects with its stderr when it exits first.
   */
  url: Promise<string>;
  /** What it has written to stderr so far. */
  stderr(): string;
}

/** Starts the built CLI's `moestro serve` with `args` (after `serve`), its environment this process's plus `env`. */
export function startServe(args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
  const child = spawn(process.execPath, [moestroBin, "serve", ...args], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const url = new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout.on("data", (data: Buffer) => {
      output += data.toString();
      const text = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (text !== undefined) resolve(text);
      const json = output.split("\n").find((line) => line.includes('"listening"'));
      if (json !== undefined) resolve((JSON.parse(json) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  // A test that never awaits `url` (it expects an exit) must not see an unhandled rejection.
  url.catch(() => undefined);
  return { child, url, stderr: () => stderr };
}

/** Kills `child` as `kill -9` does (SIGKILL) and resolves once it has exited; at once when it already has. */
export function killHard(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
