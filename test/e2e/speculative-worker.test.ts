import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testLlamaServer } from "../helpers/engines.js";
import { estimateModelMemoryBytes } from "../../src/engines/inproc/memory-estimate.js";
import { getTestLlama, hasTestModels, storiesGreedy40, storiesGreedy60, testModelPath, testModelsDir } from "../helpers/models.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { createLlamaServerBackend } from "../../src/engines/llama-server/llama-server-backend.js";

/** moestro's request field (not in the openai package's types). */
const speculative = (value: boolean) => ({ speculative: value }) as {};
const script = path.resolve(import.meta.dirname, "../../scripts/make-padded-stories.mjs");

interface PsModel {
  id: string;
  memory_bytes: number;
  worker: { pid: number | null; args: string[]; restarts: number; speculation?: string | null } | null;
}

async function loadedModels(url: string): Promise<PsModel[]> {
  return ((await (await fetch(`${url}/v1/moestro/ps`)).json()) as { data: PsModel[] }).data;
}

describe.skipIf(!hasTestModels || testLlamaServer === undefined)("speculative decoding on llama-server workers (real processes)", () => {
  const folder = mkdtempSync(path.join(os.tmpdir(), "moestro-speculative-worker-"));
  const padded = path.join(folder, "stories260K-padded.gguf");
  const stories = testModelPath("stories260K.gguf");
  let test: TestServer;

  beforeAll(async () => {
    // A small padding keeps the test fast: the benchmark pads far wider (scripts/bench-speculative.mjs).
    execFileSync(process.execPath, [script, "--source", stories, "--out", padded, "--ffn", "1024", "--layers", "2"]);
    test = await startTestServer(
      {
        models: [
          { path: stories, id: "stories-plain" },
          { path: stories, id: "stories-lookup", speculative: { type: "ngram", maxDraftTokens: 8 } },
          { path: padded, id: "padded-plain" },
          { path: padded, id: "padded-drafted", speculative: { type: "draft", draftModel: stories } },
          // Its own draft: a chat model, for a grammar-constrained request on a speculating worker.
          {
            path: testModelPath("tiny-qwen3moe.gguf"),
            id: "qwen-drafted",
            speculative: { type: "draft", draftModel: testModelPath("tiny-qwen3moe.gguf") },
          },
        ],
        engine: { contextTokens: 1024, batchSize: 64, parallel: 2 },
      },
      { engine: "llama-server" },
    );
  });
  afterAll(async () => {
    await test?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it("prompt lookup: greedy text equals the plain worker's and the recorded in-process text; usage counts drafted and accepted tokens", async () => {
    const recorded = await test.client.completions.create({
      model: "stories-lookup",
      prompt: "Once upon a time",
      max_tokens: 40,
      temperature: 0,
    });
    expect(recorded.choices[0]!.text).toBe(storiesGreedy40);

    // The model is asked to continue a story it has just read (its own greedy continuation): drafts come from the prompt.
    const request = { prompt: `Once upon a time${storiesGreedy60}\n\nOnce upon a time`, max_tokens: 48, temperature: 0 };
    const drafted = await test.client.completions.create({ model: "stories-lookup", ...request });
    const plain = await test.client.completions.create({ model: "stories-plain", ...request });
    expect(drafted.choices[0]!.text).toBe(plain.choices[0]!.text);
    const details = drafted.usage!.completion_tokens_details!;
    expect(details.accepted_prediction_tokens).toBeGreaterThan(0);
    expect(details.rejected_prediction_tokens).toBeGreaterThanOrEqual(0);
    expect(plain.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 0 });

    const ps = await loadedModels(test.url);
    const lookup = ps.find((model) => model.id === "stories-lookup")!;
    expect(lookup.worker!.args).toEqual(expect.arrayContaining(["--spec-type", "ngram-simple", "--spec-ngram-simple-size-m", "8"]));
    // Prompt lookup needs no memory of its own.
    expect(lookup.memory_bytes).toBe(ps.find((model) => model.id === "stories-plain")!.memory_bytes);
  });

  it("a request's speculative: false cannot switch a worker's speculation off: it is served (same text) and its counts reported", async () => {
    const request = {
      model: "stories-lookup",
      prompt: `Once upon a time${storiesGreedy60}\n\nOnce upon a time`,
      max_tokens: 48,
      temperature: 0,
    };
    const on = await test.client.completions.create({ ...request, ...speculative(true) });
    const off = await test.client.completions.create({ ...request, ...speculative(false) });
    expect(off.choices[0]!.text).toBe(on.choices[0]!.text);
    expect(off.usage!.completion_tokens_details!.accepted_prediction_tokens).toBeGreaterThan(0);
  });

  it("a json_schema request on a speculating worker: llama-server checks drafts under the grammar, and the answer is valid JSON", async () => {
    const structured = await test.client.chat.completions.create({
      model: "qwen-drafted",
      messages: [{ role: "user", content: "Give me a number" }],
      max_tokens: 64,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: { name: "n", schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] } },
      },
      enable_thinking: false,
    } as Parameters<typeof test.client.chat.completions.create>[0] & { stream?: false });
    const details = structured.usage!.completion_tokens_details!;
    expect(details.accepted_prediction_tokens).toBeGreaterThanOrEqual(0);
    if (structured.choices[0]!.finish_reason === "stop") {
      expect(typeof (JSON.parse(structured.choices[0]!.message.content!) as { n: unknown }).n).toBe("number");
    }
  });

  it("refuses logprobs on a speculating worker with a 400 naming the field (llama-server sends none for drafted tokens)", async () => {
    const response = await fetch(`${test.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "stories-lookup", prompt: "Once", max_tokens: 4, logprobs: 2 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param?: string } }).error.param).toBe("logprobs");
  });

  it("a draft model: the padded target with stories260K as draft gives stories260K's greedy text, streamed; the ledger and /metrics record the counts", async () => {
    const stream = await test.client.completions.create({
      model: "padded-drafted",
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: { completion_tokens_details?: { accepted_prediction_tokens?: number; rejected_prediction_tokens?: number } } | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(storiesGreedy60);
    const plain = await test.client.completions.create({
      model: "padded-plain",
      prompt: "Once upon a time",
      max_tokens: 60,
      temperature: 0,
    });
    expect(plain.choices[0]!.text).toBe(storiesGreedy60);
    const accepted = usage?.completion_tokens_details?.accepted_prediction_tokens ?? 0;
    const rejected = usage?.completion_tokens_details?.rejected_prediction_tokens ?? 0;
    expect(accepted).toBeGreaterThan(0);

    const events = (await (await fetch(`${test.url}/v1/moestro/usage/events?limit=20`)).json()) as {
      data: Array<{ model: string; engine: string | null; draft_tokens: number; accepted_draft_tokens: number }>;
    };
    const event = events.data.find((candidate) => candidate.model === "padded-drafted");
    expect(event).toMatchObject({ engine: "llama-server", draft_tokens: accepted + rejected, accepted_draft_tokens: accepted });
    const metrics = await (await fetch(`${test.url}/metrics`)).text();
    expect(metrics).toMatch(/moestro_accepted_draft_tokens_total\{model="padded-drafted"\} [1-9]/);
    expect(metrics).toMatch(/moestro_draft_acceptance_ratio\{model="padded-drafted"\} (0\.\d+|1)\n/);

    const ps = await loadedModels(test.url);
    const drafted = ps.find((model) => model.id === "padded-drafted")!;
    expect(drafted.worker!.args).toEqual(
      expect.arrayContaining(["--spec-type", "draft-simple", "--spec-draft-model", stories, "--spec-draft-threads", "1"]),
    );
    // The scheduler counts the draft model with the target's context shape, as the in-process engine does.
    const draftBytes = await estimateModelMemoryBytes(await getTestLlama(), stories, {
      contextTokens: 1024,
      parallel: 2,
      batchSize: 64,
      withTokenizerProcess: false,
      cacheRamBytes: 0,
    });
    expect(draftBytes).toBeGreaterThan(0);
    expect(drafted.memory_bytes - ps.find((model) => model.id === "padded-plain")!.memory_bytes).toBe(draftBytes);
  });
});

/** The shared GGUF generator (docs/test-models.md), for a random draft of tiny-qwen3moe's vocabulary. */
const makeTinyQwen = path.join(testModelsDir, "../tools/gguf/make-tiny-qwen.mjs");

describe.skipIf(!hasTestModels || testLlamaServer === undefined || !existsSync(makeTinyQwen))(
  "a llama-server worker whose draft predicts nothing backs off: restarted without speculation (real processes)",
  () => {
    const target = testModelPath("tiny-qwen3moe.gguf");
    // tiny-qwen3moe's layout and vocabulary with other random weights (seed 99): it never predicts the target. Made once
    // per machine (about 5 to 20 s: the Qwen3 vocabulary), into the temporary folder.
    const draft = path.join(os.tmpdir(), "moestro-test-models", "tiny-qwen3moe-seed99.gguf");
    const windowTokens = 64;
    const prompts = ["The quick brown fox", "Write a poem about the sea.", "def fibonacci(n):", "Once upon a time", "Hello"];
    const request = (model: string, prompt: string) => ({ model, prompt, max_tokens: 24, temperature: 0 });
    let test: TestServer;

    beforeAll(async () => {
      if (!existsSync(draft)) {
        mkdirSync(path.dirname(draft), { recursive: true });
        const partial = `${draft}.${process.pid}.partial`;
        const args = ["--arch", "qwen3moe", "--qtype", "q4_0", "--seed", "99", "--name", "tiny-random-qwen3moe-seed99"];
        execFileSync(process.execPath, [makeTinyQwen, ...args, "--out", partial], { cwd: path.resolve(import.meta.dirname, "../..") });
        renameSync(partial, draft);
      }
      const speculativeDraft = { type: "draft" as const, draftModel: draft, backOffWindowTokens: windowTokens };
      test = await startTestServer(
        {
          models: [
            { path: target, id: "qwen-random-draft", speculative: speculativeDraft },
            { path: target, id: "qwen-warn-only", speculative: { ...speculativeDraft, backOff: false } },
            { path: target, id: "qwen-plain" },
          ],
          engine: { contextTokens: 512, batchSize: 64, parallel: 2 },
        },
        { engine: "llama-server" },
      );
    }, 120_000);
    afterAll(async () => {
      await test?.close();
    });

    it("after a window of drafted tokens below minAcceptance: every request answered across the restart, same greedy text, ps and /metrics say off, the draft's memory released", async () => {
      const plain = new Map<string, string>();
      for (const prompt of prompts)
        plain.set(prompt, (await test.client.completions.create(request("qwen-plain", prompt))).choices[0]!.text);
      const before = (await loadedModels(test.url)).find((model) => model.id === "qwen-random-draft")!;
      expect(before.worker).toMatchObject({ speculation: "draft", restarts: 0 });
      expect(before.worker!.args).toContain("--spec-draft-model");
      expect(await (await fetch(`${test.url}/metrics`)).text()).toMatch(/moestro_worker_speculating\{model="qwen-random-draft"\} 1\n/);

      // Two rounds of every prompt at once (2 slots: the rest wait): the first streams close the window mid-stream (a
      // 24-token request drafts far more than 64 tokens, none accepted), and every request runs on across the restart.
      const answers = await Promise.all(
        [...prompts, ...prompts].map(async (prompt) => {
          const response = await fetch(`${test.url}/v1/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request("qwen-random-draft", prompt)),
          });
          const body = (await response.json()) as { choices: Array<{ text: string }>; usage: { completion_tokens: number } };
          return { prompt, status: response.status, text: body.choices?.[0]?.text, tokens: body.usage?.completion_tokens };
        }),
      );
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
      for (const answer of answers) expect(answer.tokens).toBeGreaterThan(0);

      const after = (await loadedModels(test.url)).find((model) => model.id === "qwen-random-draft")!;
      expect(after.worker!.speculation).toMatch(/^off \(backed off: \d+% of \d+ drafted tokens accepted; restarted in \d+ ms\)$/);
      // A planned restart: not counted as a crash; a new process, without any speculative flag.
      expect(after.worker!.restarts).toBe(0);
      expect(after.worker!.pid).not.toBe(before.worker!.pid);
      expect(after.worker!.args.filter((arg) => arg.startsWith("--spec"))).toEqual([]);
      const metrics = await (await fetch(`${test.url}/metrics`)).text();
      expect(metrics).toMatch(/moestro_worker_speculating\{model="qwen-random-draft"\} 0\n/);
      // The draft model's memory left the scheduler's estimate: the model counts as its plain twin does.
      const plainBytes = (await loadedModels(test.url)).find((model) => model.id === "qwen-plain")!.memory_bytes;
      expect(before.memory_bytes).toBeGreaterThan(plainBytes);
      expect(after.memory_bytes).toBe(plainBytes);

      // Plain from now on: greedy text equals the plain twin's, no draft counts, logprobs served.
      for (const prompt of prompts) {
        const answer = await test.client.completions.create(request("qwen-random-draft", prompt));
        expect(answer.choices[0]!.text).toBe(plain.get(prompt));
        expect(answer.usage!.completion_tokens_details?.accepted_prediction_tokens).toBeUndefined();
      }
      const withLogprobs = await test.client.chat.completions.create({
        model: "qwen-random-draft",
        messages: [{ role: "user", content: "Hello" }],
        max_tokens: 4,
        logprobs: true,
        top_logprobs: 2,
        // Thinking off: the 4 tokens are the answer's, which carries the logprobs.
        enable_thinking: false,
      } as Parameters<typeof test.client.chat.completions.create>[0] & { stream?: false });
      expect(withLogprobs.choices[0]!.logprobs!.content!.length).toBeGreaterThan(0);

      // Every request has its ledger row, none failed.
      const events = (await (await fetch(`${test.url}/v1/moestro/usage/events?limit=100`)).json()) as {
        data: Array<{ model: string; status: string }>;
      };
      const rows = events.data.filter((event) => event.model === "qwen-random-draft");
      expect(rows).toHaveLength(answers.length + prompts.length + 1);
      expect(rows.every((row) => row.status === "ok")).toBe(true);
    }, 120_000);

    it("one long generation is judged mid-stream: its own window backs off, it is cut (no drain) and goes on on the new process with the plain worker's text", async () => {
      // The backend alone, with no drain (backOffDrainTimeoutMs 0), so that the request is cut as soon as it backs off.
      const logLines: string[] = [];
      const backend = await createLlamaServerBackend({
        llama: await getTestLlama(),
        modelPath: target,
        id: "qwen-cut",
        binary: { path: testLlamaServer!, version: "test" },
        placement: { description: "CPU only", gpuLayers: 0, cpuMoeLayers: 0 },
        threads: 1,
        parallel: 2,
        contextTokens: 512,
        batchSize: 64,
        // Its log says how many streams the planned restart cut.
        logger: pino({ level: "info" }, { write: (line: string) => void logLines.push(line) }),
        // A window the request's first step fills (it drafts 16 tokens, none accepted).
        speculative: { type: "draft", draftModel: draft, backOffWindowTokens: 16 },
        backOffDrainTimeoutMs: 0,
      });
      try {
        const generate = async (prompt: string, maxTokens: number) => {
          let text = "";
          let finishReason: string | undefined;
          for await (const part of await backend.generate({
            input: { kind: "completion", prompt },
            sampling: { temperature: 0 },
            stop: [],
            maxTokens,
          })) {
            if (part.type === "text-delta") text += part.text;
            if (part.type === "finish") finishReason = part.finishReason;
          }
          return { text, finishReason };
        };
        const pid = backend.engine().worker!.pid;
        // A single request (12 tokens, to its end of text): were the window judged only when a stream ends, it would
        // speculate to its end and the restart would come after it.
        const long = await generate("The quick brown fox", 48);
        // It went on on the new process, so the restart was done before it ended; it backed off on its first window.
        expect(backend.engine().worker!.speculation?.backedOff).toMatchObject({ acceptance: 0, draftTokens: expect.any(Number) });
        // The window (16) and less than one step more (at most 16 drafted); judged at the stream's end, it held all the
        // stream's drafts (176: 16 a step).
        expect(backend.engine().worker!.speculation!.backedOff!.draftTokens).toBeLessThan(16 + 16);
        expect(backend.engine().worker!.speculation?.backedOff?.restartMs).toBeGreaterThan(0);
        expect(backend.engine().worker!.pid).not.toBe(pid);
        expect(logLines.find((line) => line.includes("stopping for a planned restart"))).toContain('"streamsCut":1');
        const plain = await test.client.completions.create({ ...request("qwen-plain", "The quick brown fox"), max_tokens: 48 });
        expect({ text: long.text, finishReason: long.finishReason }).toEqual({
          text: plain.choices[0]!.text,
          finishReason: plain.choices[0]!.finish_reason,
        });
      } finally {
        await backend.dispose();
      }
    }, 60_000);

    it("backOff false: the worker keeps speculating (a warning only)", async () => {
      for (const prompt of prompts.slice(0, 2)) {
        const answer = await test.client.completions.create(request("qwen-warn-only", prompt));
        expect(answer.usage!.completion_tokens_details!.rejected_prediction_tokens).toBeGreaterThan(0);
      }
      const model = (await loadedModels(test.url)).find((candidate) => candidate.id === "qwen-warn-only")!;
      expect(model.worker).toMatchObject({ speculation: "draft", restarts: 0 });
      expect(model.worker!.args).toContain("--spec-draft-model");
    }, 60_000);
  },
);
