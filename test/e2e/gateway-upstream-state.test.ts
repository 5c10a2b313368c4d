import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireUpstreamList } from "../../src/wire/console.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { killHard, moestroBin, startServe, type ServeProcess } from "../helpers/serve-process.js";

/** `moestro serve` processes of one describe, each with its own home; killed and removed after it. */
function serveProcesses() {
  const homes: string[] = [];
  const processes: ServeProcess[] = [];
  return {
    serve(args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
      const home = mkdtempSync(path.join(os.tmpdir(), "moestro-gwstate-"));
      homes.push(home);
      const started = startServe([...args, "--port", "0", "--threads", "1"], { MOESTRO_HOME: home, ...env });
      processes.push(started);
      return started;
    },
    async close(): Promise<void> {
      await Promise.all(processes.map((started) => killHard(started.child)));
      for (const home of homes) rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * An upstream that refuses the gateway's key (docs/gateway.md, "Health"): a `moestro serve` of stories260K with
 * `MOESTRO_ADMIN_KEY` set, behind a gateway that has no key for it. Its `/health` answers, its `GET /v1/models` is 401:
 * the upstream is ejected with that reason (upstreams list, ps, metrics), and a request for its model is told which
 * upstream could not be read, not to pull the model.
 */
describe.skipIf(!hasTestModels)("gateway: an upstream that refuses the gateway's key", () => {
  const processes = serveProcesses();
  let upstreamUrl: string;
  let gateway: ServeProcess;
  let gatewayUrl: string;

  beforeAll(async () => {
    upstreamUrl = await processes.serve(["--model", testModelPath("stories260K.gguf")], {
      MOESTRO_ADMIN_KEY: "gateway-state-upstream-admin-key-0123456789",
    }).url;
    gateway = processes.serve(["--upstream", `s1=${upstreamUrl}/v1`], { MOESTRO_ADMIN_KEY: "" });
    gatewayUrl = await gateway.url;
  }, 60_000);
  afterAll(() => processes.close());

  it("ejects it with the refusal as the reason, in the upstreams list, ps and metrics, and logs the real URL", async () => {
    const list = (await (await fetch(`${gatewayUrl}/v1/moestro/upstreams`)).json()) as WireUpstreamList;
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ name: "s1", state: "ejected", models: [] });
    expect(list.data[0]!.reason).toContain(`${upstreamUrl}/v1/models answered 401`);
    expect(gateway.stderr()).toContain(`${upstreamUrl}/v1/models`);
    expect(gateway.stderr()).not.toContain(`${upstreamUrl}/models`);

    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();
    expect(metrics).toContain('moestro_upstream_up{upstream="s1"} 0');
    expect(metrics).toMatch(/moestro_upstream_ejected_reason\{upstream="s1",reason="GET [^"]*answered 401[^"]*"\} 1/);

    const { stdout } = await promisify(execFile)(process.execPath, [moestroBin, "ps", "--url", gatewayUrl], {
      env: { ...process.env, MOESTRO_ADMIN_KEY: "" },
    });
    expect(stdout).toContain("No model is loaded.");
    expect(stdout).toMatch(/Upstream s1 \(.*\) is ejected: GET .*answered 401/);
  });

  it("answers a request for a model nobody lists with the upstream it could not read, not with moestro pull", async () => {
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "stories260K", max_tokens: 4, messages: [{ role: "user", content: "Hi" }] }),
    });
    expect(response.status).toBe(404);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("model_not_found");
    expect(error.message).toContain("Upstreams that cannot be read now: 's1' (GET");
    expect(error.message).toContain("answered 401");
    expect(error.message).not.toContain("moestro pull");
  });
});
