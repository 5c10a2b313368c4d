import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planOnThisMachine, workerMemoryBytes } from "../../src/engines/engine-choice.js";
import { probeHost, setupFromProbes } from "../../src/planner/index.js";
import { testLlamaServer } from "../helpers/engines.js";
import { waitFor } from "../helpers/fake-app.js";
import { hasTestModels, storiesGreedy40, testModelPath } from "../helpers/models.js";
import { killHard, startServe } from "../helpers/serve-process.js";
import { parseSse, postJson, startTestServer, type TestServer } from "../helpers/server.js";

/** Whether a process with this pid is running (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface PsModel {
  id: string;
  engine: string;
  worker: { pid: number | null; restarts: number; args: string[] } | null;
}

async function loadedModels(url: string): Promise<PsModel[]> {
  const response = await fetch(`${url}/v1/moestro/ps`);
  return ((await response.json()) as { data: PsModel[] }).data;
}

describe.skipIf(!hasTestModels || testLlamaServer === undefined)("llama-server workers (real llama-server processes)", () => {
  let test: TestServer;

  beforeAll(async () => {
    test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("tiny-qwen3moe.gguf") }],
        engine: { contextTokens: 1024, batchSize: 64, parallel: 2 },
      },
      { engine: "llama-server" },
    );
  });
  afterAll(async () => {
    await test?.close();
  });

  it("serves stories260K's recorded greedy text through the official openai client, and ps shows the worker", async () => {
    const completion = await test.client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 40,
      temperature: 0,
    });
    expect(completion.choices[0]!.text).toBe(storiesGreedy40);
    expect(completion.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 40 });
    const models = await loadedModels(test.url);
    const stories = models.find((model) => model.id === "stories260K")!;
    expect(stories.engine).toBe("llama-server");
    expect(stories.worker!.pid).toBeGreaterThan(0);
    expect(stories.worker!.args).toEqual(expect.arrayContaining(["-np", "2", "-t", "1", "--host", "127.0.0.1", "--api-key", "***"]));
    expect(isRunning(stories.worker!.pid!)).toBe(true);
    // A CPU build sees no GPU (--list-devices): no GPU-layer flags, which it would ignore with three warnings each.
    if (/-cpu[\\/]llama-server$/.test(testLlamaServer!)) expect(stories.worker!.args).not.toContain("-ngl");
  });

  it("the ledger records the worker engine, and /metrics carries the worker's own metrics labelled by model", async () => {
    await test.client.completions.create({ model: "stories260K", prompt: "Once", max_tokens: 2, temperature: 0 });
    const events = (await (await fetch(`${test.url}/v1/moestro/usage/events?limit=5`)).json()) as {
      data: Array<{ model: string; engine: string | null }>;
    };
    expect(events.data.find((event) => event.model === "stories260K")?.engine).toBe("llama-server");
    const metrics = await (await fetch(`${test.url}/metrics`)).text();
    expect(metrics).toMatch(/^llamacpp:tokens_predicted_total\{model="stories260K"\} \d+/m);
  });

  it("the worker listens on 127.0.0.1 only, and refuses requests without moestro's key", async () => {
    const stories = (await loadedModels(test.url)).find((model) => model.id === "stories260K")!;
    const args = stories.worker!.args;
    const port = args[args.indexOf("--port") + 1];
    const response = await postJson(`http://127.0.0.1:${port}/completion`, { prompt: "Once", n_predict: 1 });
    expect(response.status).toBe(401);
  });

  it("reports cached prompt tokens when a prompt repeats (the worker's slot cache)", async () => {
    const prompt = "Once upon a time, there was a little girl named Lily. She loved to play";
    await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 4, temperature: 0 });
    const again = await test.client.completions.create({ model: "stories260K", prompt, max_tokens: 4, temperature: 0 });
    const cached = (again.usage as { prompt_tokens_details?: { cached_tokens?: number } }).prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).toBeGreaterThan(0);
  });

  it("kill -9 of a worker mid-stream ends the stream with an error event, and a request succeeds again within 15 s", async () => {
    const response = await postJson(`${test.url}/v1/chat/completions`, {
      model: "tiny-qwen3moe",
      stream: true,
      max_tokens: 900,
      temperature: 1,
      messages: [{ role: "user", content: "Write a long story." }],
    });
    const reader = response.body!.getReader();
    await reader.read();
    const before = (await loadedModels(test.url)).find((model) => model.id === "tiny-qwen3moe")!;
    const pid = before.worker!.pid!;
    process.kill(pid, "SIGKILL");
    let text = "";
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const events = parseSse(text);
    const last = events.filter((event) => event !== "[DONE]").at(-1) as { error?: { code?: string } };
    expect(last.error?.code).toBe("worker_failed");
    const started = performance.now();
    let answered = false;
    while (!answered && performance.now() - started < 15_000) {
      try {
        const chat = await test.client.chat.completions.create({
          model: "tiny-qwen3moe",
          max_tokens: 4,
          messages: [{ role: "user", content: "Hi" }],
          enable_thinking: false,
        } as OpenAI.ChatCompletionCreateParamsNonStreaming);
        answered = chat.choices.length === 1;
      } catch (error) {
        expect((error as { status?: number }).status).toBe(502);
        await sleep(200);
      }
    }
    expect(answered).toBe(true);
    const after = (await loadedModels(test.url)).find((model) => model.id === "tiny-qwen3moe")!;
    expect(after.worker!.restarts).toBe(1);
    expect(after.worker!.pid).not.toBe(pid);
  });
});

describe.skipIf(!hasTestModels || testLlamaServer === undefined)("worker models under the memory budget", () => {
  it("an idle worker model is evicted for another like an in-process model, and its process stops", async () => {
    const shape = { contextTokens: 256, parallel: 1, batchSize: 64 };
    const setup = setupFromProbes(await probeHost({ measureBandwidth: false }), undefined);
    const estimate = async (file: string) => {
      const plan = await planOnThisMachine(testModelPath(file), setup, shape);
      return workerMemoryBytes(plan.workerBytes, 0, plan.vocabularyTokens);
    };
    const stories = await estimate("stories260K.gguf");
    const dreams = await estimate("aidreams260K.gguf");
    // A budget that holds either model but not both.
    const budget = Math.floor(Math.max(stories, dreams) * 1.5);
    expect(budget).toBeLessThan(stories + dreams);
    const test = await startTestServer(
      {
        models: [{ path: testModelPath("stories260K.gguf") }, { path: testModelPath("aidreams260K.gguf") }],
        engine: { ...shape, maxMemoryBytes: budget, keepAliveMs: -1 },
      },
      { engine: "llama-server" },
    );
    try {
      // Both load at start, one after the other: the second evicted the first, whose worker process is gone.
      const loaded = await loadedModels(test.url);
      expect(loaded.map((model) => model.id)).toEqual(["aidreams260K"]);
      const dreamsPid = loaded[0]!.worker!.pid!;
      const story = await test.client.completions.create({
        model: "stories260K",
        prompt: "Once upon a time",
        max_tokens: 40,
        temperature: 0,
      });
      expect(story.choices[0]!.text).toBe(storiesGreedy40);
      expect((await loadedModels(test.url)).map((model) => model.id)).toEqual(["stories260K"]);
      await waitFor(() => !isRunning(dreamsPid), 5_000);
    } finally {
      await test.close();
    }
  });
});

describe.skipIf(!hasTestModels || testLlamaServer === undefined)("workers and the moestro process (built CLI)", () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), "moestro-worker-cli-"));
  });
  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it("no worker is left running 5 s after kill -9 of moestro", async () => {
    const serve = startServe(
      [
        "--model",
        testModelPath("stories260K.gguf"),
        "--port",
        "0",
        "--threads",
        "1",
        "--engine",
        "llama-server",
        "--llama-server",
        testLlamaServer!,
      ],
      { MOESTRO_HOME: folder },
    );
    const url = await serve.url;
    const models = await loadedModels(url);
    const pid = models[0]!.worker!.pid!;
    expect(isRunning(pid)).toBe(true);
    await killHard(serve.child);
    await waitFor(() => !isRunning(pid), 5_000);
    expect(isRunning(pid)).toBe(false);
  });

  it("a --llama-server path that does not exist, or a binary that is not llama-server, is a clear error", async () => {
    const missing = startServe(
      [
        "--model",
        testModelPath("stories260K.gguf"),
        "--port",
        "0",
        "--engine",
        "llama-server",
        "--llama-server",
        path.join(folder, "nope"),
      ],
      {
        MOESTRO_HOME: folder,
      },
    );
    await expect(missing.url).rejects.toThrow(/nope/);
    const fake = path.join(folder, "fake-llama-server");
    writeFileSync(fake, "#!/bin/sh\necho hello\n");
    chmodSync(fake, 0o755);
    const wrong = startServe(
      ["--model", testModelPath("stories260K.gguf"), "--port", "0", "--engine", "llama-server", "--llama-server", fake],
      {
        MOESTRO_HOME: folder,
      },
    );
    await expect(wrong.url).rejects.toThrow(/llama-server/);
    expect(execFileSync("true").length).toBe(0);
  });
});
