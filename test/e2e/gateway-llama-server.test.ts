import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaServerSkipReason, testLlamaServer } from "../helpers/llama-server.js";
import { hasTestModels, skipReason, testModelPath } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { sleep } from "../helpers/stand-in-upstream.js";

/** A free TCP port of 127.0.0.1 (bound, then released for the child to take). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * moestro in front of a real llama-server (the managed worker's binary, started here as a plain server, one thread) as
 * an upstream of kind `llama-server`: its model is discovered, and answers come through unchanged in OpenAI's and
 * Anthropic's dialects.
 */
describe.skipIf(!hasTestModels || testLlamaServer === undefined)("gateway: moestro in front of llama-server", () => {
  let child: ChildProcess;
  let upstreamUrl: string;
  let gateway: TestServer;

  beforeAll(async () => {
    const port = await freePort();
    child = spawn(
      testLlamaServer!,
      ["-m", testModelPath("tiny-qwen3moe.gguf"), "--alias", "tiny-qwen3moe", "--host", "127.0.0.1", "--port", String(port)].concat([
        "-t",
        "1",
        "-c",
        "1024",
        "-np",
        "2",
        "--jinja",
      ]),
      { stdio: "ignore" },
    );
    upstreamUrl = `http://127.0.0.1:${port}`;
    for (let wait = 0; ; wait++) {
      const healthy = await fetch(`${upstreamUrl}/health`).then(
        (response) => response.ok,
        () => false,
      );
      if (healthy) break;
      if (wait > 300 || child.exitCode !== null) throw new Error("llama-server did not start");
      await sleep(50);
    }
    gateway = await startTestServer({ upstreams: [{ name: "llama", url: `${upstreamUrl}/v1`, kind: "llama-server" }] });
  });
  afterAll(async () => {
    await gateway?.close();
    child?.kill("SIGKILL");
  });

  const request = {
    model: "tiny-qwen3moe",
    temperature: 0,
    max_tokens: 12,
    messages: [{ role: "user" as const, content: "Hello" }],
    chat_template_kwargs: { enable_thinking: false },
  };

  it("lists the upstream's model and streams the same answer as llama-server directly", async () => {
    expect((await gateway.client.models.list()).data.map((model) => model.id)).toEqual(["tiny-qwen3moe"]);
    const direct = new OpenAI({ baseURL: `${upstreamUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    const collect = async (client: OpenAI) => {
      const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
      let text = "";
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        usage ??= chunk.usage;
      }
      return { text, promptTokens: usage?.prompt_tokens, completionTokens: usage?.completion_tokens };
    };
    const upstream = await collect(direct);
    expect(upstream.completionTokens).toBe(12);
    expect(await collect(gateway.client)).toEqual(upstream);
    const { response } = await gateway.client.chat.completions.create(request).withResponse();
    expect(response.headers.get("x-moestro-upstream")).toBe("llama");
  });

  it("answers Anthropic's Messages API from it", async () => {
    const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 });
    const message = await anthropic.messages.create({
      model: "tiny-qwen3moe",
      max_tokens: 6,
      messages: [{ role: "user", content: "Hello" }],
    });
    expect(message.stop_reason).toBe("max_tokens");
    expect(message.usage.output_tokens).toBe(6);
  });
});

if (!hasTestModels) describe.skip(skipReason, () => {});
else if (testLlamaServer === undefined) describe.skip(llamaServerSkipReason, () => {});
