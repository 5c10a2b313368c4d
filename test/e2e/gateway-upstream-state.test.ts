import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireLoadedModel, WireUpstreamList, WireUsageEvent } from "../../src/wire/console.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { flatLocalPrice, writePriceBook } from "../helpers/price-book.js";
import { killHard, moestroBin, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { postJson, startTestServer, type TestServer } from "../helpers/server.js";
import { startStandInUpstream, type StandInUpstream } from "../helpers/stand-in-upstream.js";

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

/**
 * A fallback asked for by an alias, in every dialect (docs/gateway.md, "Fallbacks"): the pool `stories260K` (alias
 * `story`) of two upstreams that answer 503 (both tried) falls back to the local `aidreams`. The header, the ledger's
 * `requested_model` and `attempts`, and the fallbacks metric name the model as sent (`story`) in Ollama's dialect too.
 */
describe.skipIf(!hasTestModels)("gateway: a fallback asked for by an alias, in every dialect", () => {
  let gateway: TestServer;
  const upstreams: StandInUpstream[] = [];

  beforeAll(async () => {
    // Up, listing the model, but failing every request: each request tries both before its fallback.
    const failing = (_request: unknown, response: http.ServerResponse) => {
      response.writeHead(503, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "overloaded", type: "server_error" } }));
    };
    upstreams.push(await startStandInUpstream(["stories260K"], failing), await startStandInUpstream(["stories260K"], failing));
    gateway = await startTestServer({
      models: [{ path: testModelPath("aidreams260K.gguf"), id: "aidreams" }],
      upstreams: [
        { name: "upA", url: upstreams[0]!.url },
        { name: "upB", url: upstreams[1]!.url },
      ],
      aliases: { story: "stories260K" },
      pools: { stories260K: { fallbacks: ["aidreams"] } },
      // Never ejected by its failures: each request tries both upstreams, whatever came before it.
      gateway: { ejectAfterFailures: 100 },
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });

  async function ledgerRow(requestId: string): Promise<WireUsageEvent> {
    for (let wait = 0; wait < 100; wait++) {
      const rows = ((await (await fetch(`${gateway.url}/v1/moestro/usage/events`)).json()) as { data: WireUsageEvent[] }).data;
      const row = rows.find((candidate) => candidate.request_id === requestId && candidate.status !== "running");
      if (row !== undefined) return row;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no ledger row for ${requestId}`);
  }

  const messages = [{ role: "user", content: "Once upon a time" }];
  const requests: Record<string, { path: string; body: Record<string, unknown>; headers?: Record<string, string> }> = {
    openai: { path: "/v1/chat/completions", body: { model: "story", max_tokens: 4, messages } },
    anthropic: {
      path: "/v1/messages",
      body: { model: "story", max_tokens: 4, messages },
      headers: { "anthropic-version": "2023-06-01" },
    },
    "ollama-chat": { path: "/api/chat", body: { model: "story", stream: false, options: { num_predict: 4 }, messages } },
    "ollama-generate": {
      path: "/api/generate",
      body: { model: "story:latest", stream: false, options: { num_predict: 4 }, prompt: "Once upon a time" },
    },
  };

  it("records the alias as sent and the same attempts in OpenAI's, Anthropic's and Ollama's dialects", async () => {
    const rows: Record<string, WireUsageEvent> = {};
    for (const [dialect, { path: route, body, headers }] of Object.entries(requests)) {
      const response = await fetch(`${gateway.url}${route}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": `alias-${dialect}`, ...headers },
        body: JSON.stringify(body),
      });
      expect(response.status, dialect).toBe(200);
      expect(response.headers.get("x-moestro-fallback-from"), dialect).toBe("story");
      await response.text();
      rows[dialect] = await ledgerRow(`alias-${dialect}`);
      expect(rows[dialect], dialect).toMatchObject({ model: "aidreams", requested_model: "story", status: "ok" });
    }
    // Both upstreams, then the fallback: the same count whatever the dialect.
    expect(Object.values(rows).map((row) => row.attempts)).toEqual([3, 3, 3, 3]);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/moestro_gateway_fallbacks_total\{from="story",to="aidreams",reason="[a-z_]+"\} 4/);
    expect(metrics).not.toContain('from="stories260K"');
  });

  it("never unloads the pool of upstreams alone: unload is refused, and requests' keep_alive leave it at never", async () => {
    const expiry = async (): Promise<string | null | undefined> => {
      const ps = (await (await fetch(`${gateway.url}/v1/moestro/ps`)).json()) as { data: WireLoadedModel[] };
      return ps.data.find((model) => model.id === "stories260K")?.expires_at;
    };
    expect(await expiry()).toBeNull();
    const unload = await fetch(`${gateway.url}/v1/moestro/models/unload`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "stories260K" }),
    });
    expect(unload.status).toBe(400);
    const { error } = (await unload.json()) as { error: { code: string; message: string; param: string } };
    expect(error).toMatchObject({ code: "invalid_request", param: "model" });
    expect(error.message).toContain("is a pool of upstreams alone");
    // By its alias too; still loaded, for good.
    expect((await postJson(`${gateway.url}/v1/moestro/models/unload`, { model: "story" })).status).toBe(400);
    expect(await expiry()).toBeNull();
    // A request with Ollama's keep_alive (to the pool, then its fallback) leaves the pool's "never" as it is.
    const chat = await postJson(`${gateway.url}/api/chat`, {
      model: "stories260K",
      stream: false,
      keep_alive: "5m",
      options: { num_predict: 2 },
      messages,
    });
    expect(chat.status).toBe(200);
    await chat.text();
    expect(await expiry()).toBeNull();
    // Ollama's unload idiom (no messages, keep_alive 0) is refused the same way.
    const idiom = await postJson(`${gateway.url}/api/chat`, { model: "stories260K", keep_alive: 0, messages: [] });
    expect(idiom.status).toBe(400);
    expect(await expiry()).toBeNull();
  });
});

/**
 * A stream that breaks off at the upstream (docs/gateway.md, "Usage, budgets and the ledger"): a `moestro serve` of
 * stories260K behind a priced gateway (`--price-book`) is killed (`kill -9`) while it streams. The client gets the
 * chunks sent so far, then the `upstream_failed` error event; the ledger row bills the tokens produced (one per
 * content chunk, the prompt estimated, marked estimated), priced.
 */
describe.skipIf(!hasTestModels)("gateway: a stream whose upstream is killed mid-answer", () => {
  const processes = serveProcesses();
  let upstream: ServeProcess;
  let gatewayUrl: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "moestro-gwkill-"));
    const priceBook = writePriceBook(dir, {
      version: 1,
      prices: [
        flatLocalPrice("stories260K", { inputMicroUsdPerMillionTokens: 1_000_000_000, outputMicroUsdPerMillionTokens: 2_000_000_000 }),
      ],
    });
    upstream = processes.serve(["--model", testModelPath("stories260K.gguf")], { MOESTRO_ADMIN_KEY: "" });
    const upstreamUrl = await upstream.url;
    gatewayUrl = await processes.serve(["--upstream", `upA=${upstreamUrl}/v1`, "--price-book", priceBook], { MOESTRO_ADMIN_KEY: "" }).url;
  }, 60_000);
  afterAll(async () => {
    await processes.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("bills the tokens produced before the kill, estimated and priced, with the upstream_failed error event", async () => {
    const response = await postJson(
      `${gatewayUrl}/v1/chat/completions`,
      {
        model: "stories260K",
        stream: true,
        max_tokens: 480,
        temperature: 1,
        ignore_eos: true,
        messages: [{ role: "user", content: "Tell me a story." }],
      },
      { headers: { "content-type": "application/json", "x-request-id": "killed-1" } },
    );
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let killed = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (!killed && (text.match(/"content":"[^"]/g) ?? []).length >= 40) {
        killed = true;
        await killHard(upstream.child);
      }
    }
    expect(killed).toBe(true);
    expect(text).toContain('"code":"upstream_failed"');
    const received = (text.match(/"content":"[^"]/g) ?? []).length;

    let row: WireUsageEvent | undefined;
    for (let wait = 0; wait < 100 && row === undefined; wait++) {
      const rows = ((await (await fetch(`${gatewayUrl}/v1/moestro/usage/events`)).json()) as { data: WireUsageEvent[] }).data;
      row = rows.find((candidate) => candidate.request_id === "killed-1" && candidate.status !== "running");
      if (row === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(row).toMatchObject({ status: "error", error_code: "upstream_failed", upstream: "upA", usage_estimated: true });
    // At least what reached the client (the gateway may have read a few chunks more before the connection dropped).
    expect(row!.completion_tokens).toBeGreaterThanOrEqual(received);
    expect(row!.completion_tokens).toBeLessThan(480);
    expect(row!.prompt_tokens).toBeGreaterThan(0);
    expect(row!.cost_micro_usd).toBe(row!.prompt_tokens * 1_000 + row!.completion_tokens * 2_000);
  });
});
