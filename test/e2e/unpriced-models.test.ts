import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WireModelEntry } from "../../src/wire/console.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { moestroBin } from "../helpers/serve-process.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { chunkEvent, startStandInUpstream, usageEvent, type StandInUpstream } from "../helpers/stand-in-upstream.js";

const run = promisify(execFile);
if (!existsSync(path.resolve(path.dirname(moestroBin), "../dist/cli/index.js")))
  throw new Error("dist/ is missing: run `npm run build` first.");

const adminKey = "unpriced-e2e-admin-key-0123456789";

// docs/studio.md, "Unpriced models": an upstream's model the price book gives no price costs $0, so budgets never count
// it; the server says so where a budget is set and where usage is read.
describe.skipIf(!hasTestModels)("models without a price (default price book, a stand-in upstream)", () => {
  let upstream: StandInUpstream;
  let test: TestServer;
  const cli = async (args: string[]) => {
    const env = { ...process.env, MOESTRO_URL: test.url, MOESTRO_ADMIN_KEY: adminKey };
    const { stdout, stderr } = await run(process.execPath, [moestroBin, ...args], { env, encoding: "utf8" });
    return { stdout, stderr };
  };

  beforeAll(async () => {
    upstream = await startStandInUpstream(["remote-model"], (request, response) => {
      if (request.body.stream === true) {
        response.writeHead(200, { "content-type": "text/event-stream" });
        response.end(`${chunkEvent({ role: "assistant", content: "Hi" })}${chunkEvent({}, "stop")}${usageEvent(3, 2)}data: [DONE]\n\n`);
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          id: "chatcmpl-standin",
          object: "chat.completion",
          created: 0,
          model: "remote-model",
          choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        }),
      );
    });
    test = await startTestServer({
      models: [{ path: testModelPath("stories260K.gguf") }],
      upstreams: [{ name: "remote", url: upstream.url }],
      adminKey,
    });
  }, 60_000);
  afterAll(async () => {
    await test?.close();
    await upstream?.close();
  });

  it("marks the upstream's model unpriced in the admin model list, and warns when a key's budget cannot count it", async () => {
    const response = await fetch(`${test.url}/v1/moestro/models`, { headers: { authorization: `Bearer ${adminKey}` } });
    const models = ((await response.json()) as { data: WireModelEntry[] }).data;
    expect(Object.fromEntries(models.map((model) => [model.id, model.unpriced]))).toEqual({ stories260K: false, "remote-model": true });

    const created = await cli(["keys", "create", "--name", "budgeted", "--budget-usd", "0.001", "--models", "remote-model", "--json"]);
    expect(JSON.parse(created.stderr.trim())).toEqual({
      warning: {
        message:
          "the budget will not count the model 'remote-model': the server's price book gives it no price, so its requests cost $0 (docs/studio.md, Unpriced models).",
        param: "--budget-usd",
      },
    });
    // A key scoped to priced models only, or without a budget, gets no such warning.
    expect((await cli(["keys", "create", "--name", "local-only", "--budget-usd", "1", "--models", "stories260K"])).stderr).toBe("");
    expect((await cli(["keys", "create", "--name", "no-budget", "--models", "remote-model"])).stderr).toBe("");

    // Used: the request costs $0, and `moestro usage` says so on stderr, whatever it prints.
    const { secret } = JSON.parse(created.stdout) as { secret: string };
    const client = new OpenAI({ baseURL: `${test.url}/v1`, apiKey: secret, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: "remote-model", messages: [{ role: "user", content: "Hi" }] });
    expect(answer.choices[0]?.message.content).toBe("Hi");
    const usage = await cli(["usage", "--by", "model", "--json"]);
    expect(usage.stderr.trim()).toBe(
      "Warning: 1 request of 'remote-model' cost $0: the price book gives no price to these upstream models, so no budget counts them. Give each a tiers or hourly entry (docs/studio.md, Unpriced models).",
    );
    expect(
      (JSON.parse(usage.stdout) as Array<{ name: string; cost_micro_usd: number }>).map((row) => [row.name, row.cost_micro_usd]),
    ).toEqual([["remote-model", 0]]);
  });
});
