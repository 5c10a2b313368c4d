import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireLoadedModel } from "../../src/wire/console.js";
import { hasTestModels, skipReason, testModelPath } from "../helpers/models.js";
import { killHard, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { startTestServer } from "../helpers/server.js";

/**
 * moestro in front of other moestro processes: two `moestro serve` of stories260K (in-process engine, one thread) as
 * upstreams, and a third `moestro serve --upstream one=URL --upstream two=URL` with no model of its own as the gateway.
 * The processes are shared by every test of the file; the last test kills an upstream.
 */
describe.skipIf(!hasTestModels)("gateway: moestro in front of two moestro upstreams", () => {
  const homes: string[] = [];
  const processes: ServeProcess[] = [];
  let one: ServeProcess;
  let two: ServeProcess;
  let oneUrl: string;
  let twoUrl: string;
  let gatewayUrl: string;
  let client: OpenAI;

  const serve = (args: string[]): ServeProcess => {
    const home = mkdtempSync(path.join(os.tmpdir(), "moestro-gateway-"));
    homes.push(home);
    const started = startServe([...args, "--port", "0", "--threads", "1"], { MOESTRO_HOME: home });
    processes.push(started);
    return started;
  };

  beforeAll(async () => {
    const model = testModelPath("stories260K.gguf");
    one = serve(["--model", model]);
    two = serve(["--model", model]);
    [oneUrl, twoUrl] = await Promise.all([one.url, two.url]);
    // One upstream given with /v1, the other without: both spellings of an OpenAI base URL work.
    gatewayUrl = await serve(["--upstream", `one=${oneUrl}/v1`, "--upstream", `two=${twoUrl}`]).url;
    client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await Promise.all(processes.map((started) => killHard(started.child)));
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });

  const greedy = {
    model: "stories260K",
    temperature: 0,
    max_tokens: 24,
    messages: [{ role: "user" as const, content: "Once upon a time" }],
  };

  it("serves the upstreams' model as one pool, pulling nothing, and ps shows both upstreams", async () => {
    expect((await client.models.list()).data.map((model) => model.id)).toEqual(["stories260K"]);
    const ps = (await (await fetch(`${gatewayUrl}/v1/moestro/ps`)).json()) as { data: WireLoadedModel[] };
    expect(ps.data).toHaveLength(1);
    expect(ps.data[0]).toMatchObject({ id: "stories260K", engine: "upstream" });
    expect(ps.data[0]!.upstreams!.map((upstream) => [upstream.name, upstream.state])).toEqual([
      ["one", "healthy"],
      ["two", "healthy"],
    ]);
  });

  it("streams the same answer through the gateway as the upstream gives directly", async () => {
    const direct = new OpenAI({ baseURL: `${oneUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    const collect = async (target: OpenAI) => {
      const stream = await target.chat.completions.create({ ...greedy, stream: true, stream_options: { include_usage: true } });
      let text = "";
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        finish ??= chunk.choices[0]?.finish_reason;
        usage ??= chunk.usage;
      }
      return { text, finish, usage: { prompt: usage?.prompt_tokens, completion: usage?.completion_tokens } };
    };
    const upstream = await collect(direct);
    expect(upstream.text.length).toBeGreaterThan(0);
    expect(await collect(client)).toEqual(upstream);
  });

  it("spreads requests over both upstreams, one at a time and concurrently", async () => {
    const servedBy = async () => {
      const { response } = await client.chat.completions.create({ ...greedy, max_tokens: 4 }).withResponse();
      return response.headers.get("x-moestro-upstream");
    };
    const sequential: Array<string | null> = [];
    for (let index = 0; index < 4; index++) sequential.push(await servedBy());
    expect(sequential.filter((name) => name === "one")).toHaveLength(2);
    expect(sequential.filter((name) => name === "two")).toHaveLength(2);
    const concurrent = await Promise.all([servedBy(), servedBy(), servedBy(), servedBy()]);
    expect(new Set(concurrent)).toEqual(new Set(["one", "two"]));
  });

  it("works with the official Anthropic client (Messages API in front of an OpenAI upstream)", async () => {
    const anthropic = new Anthropic({ baseURL: gatewayUrl, apiKey: "unused", maxRetries: 0 });
    const message = await anthropic.messages.create({
      model: "stories260K",
      max_tokens: 8,
      messages: [{ role: "user", content: "Once upon a time" }],
    });
    expect(message.content[0]?.type).toBe("text");
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    const stream = anthropic.messages.stream({ model: "stories260K", max_tokens: 8, messages: [{ role: "user", content: "Once" }] });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toMatch(/max_tokens|end_turn/);
  });

  it("makes a local model of the same id one pool with the upstreams", async () => {
    // In this process: stories260K loaded here, and the upstream `one` serving the same id.
    const mixed = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      upstreams: [{ name: "one", url: oneUrl }],
    });
    try {
      expect((await mixed.client.models.list()).data.map((model) => model.id)).toEqual(["stories260K"]);
      const served: Array<string | null> = [];
      for (let index = 0; index < 4; index++) {
        const { data, response } = await mixed.client.chat.completions.create({ ...greedy, max_tokens: 4 }).withResponse();
        expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
        served.push(response.headers.get("x-moestro-upstream"));
      }
      expect(served.sort()).toEqual(["local", "local", "one", "one"]);
      const ps = (await (await fetch(`${mixed.url}/v1/moestro/ps`)).json()) as { data: WireLoadedModel[] };
      expect(ps.data).toHaveLength(1);
      expect(ps.data[0]!.memory_bytes).toBeGreaterThan(0);
      expect(ps.data[0]!.upstreams!.map((upstream) => [upstream.name, upstream.requests_total])).toEqual([
        ["local", 2],
        ["one", 2],
      ]);
    } finally {
      await mixed.close();
    }
  });

  it("moves new requests to the other upstream when one is killed, with no 5xx", async () => {
    await killHard(two.child);
    const statuses: number[] = [];
    const served: Array<string | null> = [];
    for (let index = 0; index < 6; index++) {
      const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...greedy, max_tokens: 4, stream: index % 2 === 1 }),
      });
      await response.text();
      statuses.push(response.status);
      served.push(response.headers.get("x-moestro-upstream"));
    }
    expect(statuses).toEqual(Array(6).fill(200));
    expect(served).toEqual(Array(6).fill("one"));
    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(/moestro_upstream_errors_total\{upstream="two"\} [1-9]/);
    expect(metrics).toContain('moestro_upstream_in_flight{upstream="one"} 0');
  });
});

if (!hasTestModels) describe.skip(skipReason, () => {});
