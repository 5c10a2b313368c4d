import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type OpenAI from "openai";
import { pino } from "pino";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { ModelBackend } from "../../src/spec/index.js";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, parseSse, postJson, serveApp } from "../helpers/server.js";

type Extra = Record<string, unknown>;
type ChatResponse = OpenAI.ChatCompletion & { choices: Array<{ message: { reasoning_content?: string; reasoning?: string } }> };

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)(
  "Qwen thinking: switches, budgets, reasoning_content and reasoning_tokens (%s engine)",
  (engine) => {
    const backends: ModelBackend[] = [];
    let server: Awaited<ReturnType<typeof serveApp>>;
    /** What the scripted models say; `undefined` lets them sample. */
    let script: string | undefined;

    beforeAll(async () => {
      backends.push(await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen3moe.gguf"), contextTokens: 1024 }));
      backends.push(await loadTestBackend({ engine, modelPath: testModelPath("tiny-qwen35moe.gguf"), contextTokens: 1024 }));
      backends.push(
        await loadTestBackend({
          engine,
          modelPath: testModelPath("tiny-qwen3moe.gguf"),
          contextTokens: 1024,
          id: "scripted-qwen3",
          script: () => script,
        }),
      );
      server = await serveApp({ models: createStaticModelRegistry(backends), logger: pino({ level: "silent" }) });
    });
    afterAll(async () => {
      await server?.close();
      for (const backend of backends) await backend.dispose();
    });

    async function chat(body: Extra): Promise<ChatResponse> {
      const response = await postJson(`${server.url}/v1/chat/completions`, { temperature: 0, ...body });
      expect(response.status).toBe(200);
      return (await response.json()) as ChatResponse;
    }

    type ReasoningChunk = { choices: Array<{ delta: { content?: string | null; reasoning_content?: string } }> };
    async function streamChat(body: Extra): Promise<ReasoningChunk[]> {
      const response = await postJson(`${server.url}/v1/chat/completions`, {
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
        ...body,
      });
      expect(response.status).toBe(200);
      return parseSse(await response.text()).filter((event) => event !== "[DONE]") as never;
    }

    it.each(["tiny-qwen3moe", "tiny-qwen35moe"])("%s thinks by default, and the thought never lands in content", async (model) => {
      const response = await chat({ model, max_tokens: 24, messages: [{ role: "user", content: "Hi" }] });
      const message = response.choices[0]!.message;
      // A random-weight model never closes its thought: all 24 tokens are reasoning (case C13's length rule).
      expect(message.reasoning_content!.length).toBeGreaterThan(0);
      expect(message.reasoning).toBe(message.reasoning_content);
      expect(message.content).toBe("");
      expect(response.choices[0]!.finish_reason).toBe("length");
      expect(response.usage!.completion_tokens_details!.reasoning_tokens).toBe(24);
    });

    it.each([
      ["enable_thinking", { enable_thinking: false }],
      ["chat_template_kwargs", { chat_template_kwargs: { enable_thinking: false } }],
      ["reasoning_effort none", { reasoning_effort: "none" }],
      ["/no_think", {}],
    ])("C12: thinking off by %s: the whole answer is content, 0 reasoning tokens (both models)", async (name, switchOff) => {
      for (const model of ["tiny-qwen3moe", "tiny-qwen35moe"]) {
        const content = name === "/no_think" ? "Who are you? One sentence. /no_think" : "Who are you? One sentence.";
        const response = await chat({ model, max_tokens: 12, messages: [{ role: "user", content }], ...switchOff });
        const message = response.choices[0]!.message;
        expect(message.content!.length).toBeGreaterThan(0);
        expect(message.content).not.toMatch(/<\/?think>/);
        expect(message.reasoning_content ?? "").toBe("");
        expect(response.usage!.completion_tokens_details!.reasoning_tokens).toBe(0);
        const chunks = await streamChat({ model, max_tokens: 12, messages: [{ role: "user", content }], ...switchOff });
        expect(chunks.some((chunk) => (chunk.choices[0]?.delta.reasoning_content ?? "").length > 0)).toBe(false);
      }
    });

    it.each(["tiny-qwen3moe", "tiny-qwen35moe"])("%s: thinking_budget closes the thought and the answer follows", async (model) => {
      const budget = 6;
      const response = await chat({
        model,
        max_tokens: 30,
        thinking_budget: budget,
        enable_thinking: true,
        messages: [{ role: "user", content: "Hi" }],
      });
      const { message } = response.choices[0]!;
      const usage = response.usage!;
      const reasoningTokens = usage.completion_tokens_details!.reasoning_tokens!;
      // The budget's tokens, then the injected "\n</think>\n\n".
      expect(reasoningTokens).toBeGreaterThanOrEqual(budget);
      expect(reasoningTokens).toBeLessThanOrEqual(budget + 3);
      expect(reasoningTokens).toBeLessThan(usage.completion_tokens);
      expect(message.reasoning_content!.length).toBeGreaterThan(0);
      expect(message.content!.length).toBeGreaterThan(0);
      expect(message.content).not.toMatch(/<\/?think>/);
    });

    it("C13: a thought opened by the template splits into reasoning_content and content, streamed reasoning first", async () => {
      script = "17 times 23: 17*20 = 340, 17*3 = 51, total 391.</think>\n\nThe answer is 391.";
      const response = await chat({
        model: "scripted-qwen3",
        max_tokens: 512,
        messages: [{ role: "user", content: "What is 17*23? Think, then answer." }],
      });
      const { message } = response.choices[0]!;
      expect(message.reasoning_content).toBe("17 times 23: 17*20 = 340, 17*3 = 51, total 391.");
      expect(message.content).toBe("The answer is 391.");
      expect(response.choices[0]!.finish_reason).toBe("stop");

      const chunks = await streamChat({
        model: "scripted-qwen3",
        max_tokens: 512,
        messages: [{ role: "user", content: "What is 17*23? Think, then answer." }],
      });
      const kinds = chunks.flatMap((chunk) =>
        chunk.choices.flatMap((choice) => [
          ...((choice.delta.reasoning_content ?? "").length > 0 ? ["reasoning"] : []),
          ...((choice.delta.content ?? "").length > 0 ? ["content"] : []),
        ]),
      );
      expect(kinds.indexOf("content")).toBeGreaterThan(kinds.lastIndexOf("reasoning"));
      const streamed = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
      expect(streamed).toBe("The answer is 391.");
    });

    it("C13: when max_tokens runs out inside the thought, all text is reasoning and finish_reason is length", async () => {
      script = "step one, step two, step three, step four, step five, step six</think>\n\n391";
      const response = await chat({ model: "scripted-qwen3", max_tokens: 5, messages: [{ role: "user", content: "17*23?" }] });
      expect(response.choices[0]!.message.content ?? "").toBe("");
      expect(response.choices[0]!.message.reasoning_content!.length).toBeGreaterThan(0);
      expect(response.choices[0]!.finish_reason).toBe("length");
    });

    it("C27: reasoning_tokens counts the thought and its closing tag only: 0 off, within 2 of the thought's tokens on", async () => {
      script = "1 plus 3 is 4.</think>\n\n4";
      const on = await chat({
        model: "scripted-qwen3",
        max_tokens: 128,
        messages: [{ role: "user", content: "What is 1+3? Only the number." }],
      });
      const reasoning = on.choices[0]!.message.reasoning_content!;
      // The thought's own token count, as the server counts a raw prompt (Qwen adds no BOS token).
      const counted = (await (
        await postJson(`${server.url}/v1/completions`, { model: "tiny-qwen3moe", prompt: reasoning, max_tokens: 1 })
      ).json()) as OpenAI.Completion;
      const thoughtTokens = counted.usage!.prompt_tokens;
      const usage = on.usage!;
      expect(usage.completion_tokens_details!.reasoning_tokens).toBeGreaterThan(0);
      expect(usage.completion_tokens_details!.reasoning_tokens).toBeLessThan(usage.completion_tokens);
      expect(Math.abs(usage.completion_tokens_details!.reasoning_tokens! - (thoughtTokens + 1))).toBeLessThanOrEqual(2);
      expect(on.choices[0]!.message.content).toBe("4");

      script = "4";
      const off = await chat({
        model: "scripted-qwen3",
        max_tokens: 128,
        chat_template_kwargs: { enable_thinking: false },
        messages: [{ role: "user", content: "What is 1+3? Only the number." }],
      });
      expect(off.usage!.completion_tokens_details!.reasoning_tokens).toBe(0);
      expect(off.choices[0]!.message.content).toBe("4");
    });
  },
);
