import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI, { type APIError } from "openai";
import { testEngines } from "../helpers/engines.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { parseSse, postJson, startTestServer, type TestServer } from "../helpers/server.js";

const model = "tiny-qwen3moe";
/** Thinking off (DashScope's switch; not in the openai package's types): these tests are about the answer. */
const noThinking = { enable_thinking: false } as {};

// Case ids in test names (C25…) are the compatibility cases listed in docs/compat-cases.md.
describe.skipIf(!hasTestModels).each(testEngines)(
  "POST /v1/chat/completions on tiny-qwen3moe (Qwen chat template, 2048-token context) (%s engine)",
  (engine) => {
    let test: TestServer;

    beforeAll(async () => {
      test = await startTestServer(
        {
          models: [{ path: testModelPath("tiny-qwen3moe.gguf") }],
          engine: { contextTokens: 2048, batchSize: 64, parallel: 2 },
        },
        { engine },
      );
    });
    afterAll(async () => {
      await test?.close();
    });

    it("renders chat with the model's Qwen (ChatML) template", async () => {
      const chat = await test.client.chat.completions.create({
        model,
        messages: [
          { role: "system", content: "Be terse." },
          { role: "user", content: "Hi" },
        ],
        max_tokens: 8,
        temperature: 0,
        ...noThinking,
      });
      // Thinking off: the template pre-fills an empty thought, as Qwen3's template does for enable_thinking=false.
      const raw = await test.client.completions.create({
        model,
        prompt: "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        max_tokens: 8,
        temperature: 0,
      });
      expect(chat.object).toBe("chat.completion");
      expect(chat.usage!.prompt_tokens).toBe(raw.usage!.prompt_tokens);
      expect(chat.choices[0]!.message.content).toBe(raw.choices[0]!.text.replace(/^\n+/, ""));
      expect(chat.choices[0]!.message.role).toBe("assistant");
    });

    it("streams exactly the non-streamed text at temperature 0, multi-byte characters included (no U+FFFD)", async () => {
      // 48 tokens: later, this random-weight model emits a byte token that no later token completes, a real invalid
      // sequence that whole-text decoding also renders as U+FFFD (see incremental-detokenizer.test.ts).
      const request = { model, messages: [{ role: "user" as const, content: "Hello" }], max_tokens: 48, temperature: 0, ...noThinking };
      const whole = (await test.client.chat.completions.create(request)).choices[0]!.message.content!;
      let streamed = "";
      for await (const chunk of await test.client.chat.completions.create({ ...request, stream: true }))
        streamed += chunk.choices[0]?.delta.content ?? "";
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for a character outside ASCII
      expect(whole).toMatch(/[^\x00-\x7f]/);
      expect(whole).not.toContain("\uFFFD");
      expect(streamed).toBe(whole);
    });

    it("C01: ends the stream with one data: [DONE] and well-formed chunks", async () => {
      const response = await postJson(`${test.url}/v1/chat/completions`, {
        model,
        stream: true,
        max_tokens: 16,
        messages: [{ role: "user", content: "Say hi" }],
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const body = await response.text();
      for (const block of body.split("\n\n").filter((text) => text.length > 0)) {
        expect(block.split("\n").filter((line) => line.startsWith("data: "))).toHaveLength(1);
      }
      const events = parseSse(body);
      expect(events.at(-1)).toBe("[DONE]");
      expect(events.filter((event) => event === "[DONE]")).toHaveLength(1);
      const chunks = events.slice(0, -1) as Array<OpenAI.ChatCompletionChunk>;
      expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true);
      expect(new Set(chunks.map((chunk) => `${chunk.id} ${chunk.created} ${chunk.model}`)).size).toBe(1);
      const finishes = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter((reason) => reason !== null);
      expect(finishes).toHaveLength(1);
      expect(["stop", "length"]).toContain(finishes[0]);
      expect(chunks.at(-1)!.choices[0]!.finish_reason).not.toBeNull();
      expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    });

    it("C02: sends the usage chunk only when include_usage is set", async () => {
      const request = { model, stream: true, max_tokens: 16, messages: [{ role: "user", content: "Say hi" }] };
      const withUsage = parseSse(
        await (await postJson(`${test.url}/v1/chat/completions`, { ...request, stream_options: { include_usage: true } })).text(),
      );
      const chunks = withUsage.slice(0, -1) as Array<OpenAI.ChatCompletionChunk>;
      const usageChunks = chunks.filter((chunk) => chunk.choices.length === 0);
      expect(usageChunks).toHaveLength(1);
      expect(chunks.at(-1)).toBe(usageChunks[0]);
      const usage = usageChunks[0]!.usage!;
      expect(usage.prompt_tokens).toBeGreaterThan(0);
      expect(usage.completion_tokens).toBeGreaterThan(0);
      expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
      expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
      const nonStreamed = await test.client.chat.completions.create({
        model,
        max_tokens: 16,
        messages: [{ role: "user", content: "Say hi" }],
      });
      expect(usage.prompt_tokens).toBe(nonStreamed.usage!.prompt_tokens);

      const without = parseSse(await (await postJson(`${test.url}/v1/chat/completions`, request)).text()).slice(
        0,
        -1,
      ) as Array<OpenAI.ChatCompletionChunk>;
      expect(without.some((chunk) => chunk.choices.length === 0)).toBe(false);
      expect(without.some((chunk) => chunk.usage !== undefined && chunk.usage !== null)).toBe(false);
    });

    it("C15: rejects max_tokens and max_completion_tokens of 0, negative or fractional with 400", async () => {
      for (const field of ["max_tokens", "max_completion_tokens"]) {
        for (const value of [0, -5, 2.5]) {
          const response = await postJson(`${test.url}/v1/chat/completions`, {
            model,
            messages: [{ role: "user", content: "Capital of France?" }],
            [field]: value,
          });
          expect(response.status).toBe(400);
          const body = (await response.json()) as { error: { type: string; param: string; message: string; code: string } };
          expect(body.error.type).toBe("invalid_request_error");
          expect(body.error.param).toBe(field);
          expect(body.error.message.length).toBeGreaterThan(0);
        }
      }
    });

    it("C16 A: a completion whose max_tokens overflows the context names the real window, prompt and max_tokens", async () => {
      const prompt = "one two three four five six seven";
      const { usage } = await test.client.completions.create({ model, prompt, max_tokens: 1 });
      const error = (await test.client.completions
        .create({ model, prompt, max_tokens: 2045 })
        .catch((caught: unknown) => caught)) as APIError;
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.code).toBe("context_length_exceeded");
      expect(error.type).toBe("invalid_request_error");
      expect(error.message).toContain("2048");
      expect(error.message).toContain(String(usage!.prompt_tokens));
      expect(error.message).toContain(String(usage!.prompt_tokens + 2045));
    });

    it("C16 B / C17: an overlong chat prompt is refused with the real counts, before any SSE byte, never truncated", async () => {
      const filler = "Code word: PINEAPPLE-7734.\n" + "The quick brown fox jumps over the lazy dog. ".repeat(700);
      const messages = [{ role: "user" as const, content: filler + "\nWhat code word appears on the first line?" }];
      for (const stream of [false, true]) {
        const response = await postJson(`${test.url}/v1/chat/completions`, { model, messages, stream });
        expect(response.status).toBe(400);
        expect(response.headers.get("content-type")).toMatch(/application\/json/);
        const { error } = (await response.json()) as { error: { code: string; message: string } };
        expect(error.code).toBe("context_length_exceeded");
        expect(error.message).toContain("2048");
        expect(error.message).not.toMatch(/-\d/);
        expect(Number(/prompt has (\d+) tokens/.exec(error.message)?.[1])).toBeGreaterThan(2048);
      }
    });

    it("C16: a request that fits, without max_tokens, may use the rest of the context", async () => {
      const completion = await test.client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "Hi" }],
        temperature: 0,
        stop: ["\n"],
      });
      expect(["stop", "length"]).toContain(completion.choices[0]!.finish_reason);
    });

    it("C21: accepts content as an array of text parts, with the same prompt as the joined string", async () => {
      const parts = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        messages: [
          { role: "system", content: [{ type: "text", text: "Answer in one word." }] },
          {
            role: "user",
            content: [
              { type: "text", text: "Colour of the sky? " },
              { type: "text", text: "Lowercase." },
            ],
          },
        ],
      });
      const joined = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        messages: [
          { role: "system", content: "Answer in one word." },
          { role: "user", content: "Colour of the sky? Lowercase." },
        ],
      });
      expect(parts.usage!.prompt_tokens).toBe(joined.usage!.prompt_tokens);
      const emptyAssistant = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        messages: [
          { role: "user", content: "A" },
          { role: "assistant", content: "" },
          { role: "user", content: "B" },
        ],
      });
      expect(emptyAssistant.choices).toHaveLength(1);
      const assistantParts = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        messages: [
          { role: "user", content: "A" },
          { role: "assistant", content: [{ type: "text", text: "ok" }] },
          { role: "user", content: "B" },
        ],
      });
      expect(assistantParts.choices).toHaveLength(1);
    });

    it("C21: refuses non-text parts, empty messages and unknown roles with 400 naming the field", async () => {
      const cases: Array<[unknown, string, RegExp]> = [
        [
          [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] }],
          "messages[0].content[0]",
          /image_url/,
        ],
        [[], "messages", /at least one/],
        [[{ role: "xyz", content: "hi" }], "messages[0].role", /role/],
      ];
      for (const [messages, param, message] of cases) {
        const response = await postJson(`${test.url}/v1/chat/completions`, { model, messages });
        expect(response.status).toBe(400);
        const { error } = (await response.json()) as { error: { param: string; message: string } };
        expect(error.param).toBe(param);
        expect(error.message).toMatch(message);
      }
    });

    it("C22: accepts system messages after the first turn (merged into one leading system message)", async () => {
      const completion = await test.client.chat.completions.create({
        model,
        max_tokens: 8,
        temperature: 0,
        ...noThinking,
        messages: [
          { role: "system", content: "Be terse." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello." },
          { role: "system", content: "From now on answer only BLUE." },
          { role: "user", content: "What colour is the sky?" },
        ],
      });
      expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(0);
      const merged = await test.client.chat.completions.create({
        model,
        max_tokens: 8,
        temperature: 0,
        ...noThinking,
        messages: [
          { role: "system", content: "Be terse.\n\nFrom now on answer only BLUE." },
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello." },
          { role: "user", content: "What colour is the sky?" },
        ],
      });
      expect(completion.usage!.prompt_tokens).toBe(merged.usage!.prompt_tokens);
    });

    it("ignores unknown top-level fields (other servers' extensions)", async () => {
      const response = await postJson(`${test.url}/v1/chat/completions`, {
        model,
        max_tokens: 2,
        messages: [{ role: "user", content: "Hi" }],
        mirostat: 2,
        cache_prompt: true,
        repetition_penalty: 1.1,
      });
      expect(response.status).toBe(200);
    });

    it("returns n choices in the chat format, or 400 above the limit", async () => {
      const completion = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        n: 2,
        temperature: 0,
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
      const stream = await test.client.chat.completions.create({
        model,
        max_tokens: 4,
        n: 2,
        temperature: 0,
        stream: true,
        messages: [{ role: "user", content: "Hi" }],
      });
      const texts = ["", ""];
      const finishes: string[] = [];
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          texts[choice.index] += choice.delta.content ?? "";
          if (choice.finish_reason) finishes.push(`${choice.index}:${choice.finish_reason}`);
        }
      }
      expect(texts).toEqual(completion.choices.map((choice) => choice.message.content));
      expect(finishes).toHaveLength(2);
      const error = await test.client.chat.completions
        .create({ model, n: 1000, messages: [{ role: "user", content: "Hi" }] })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as APIError).param).toBe("n");
    });

    it("answers invalid JSON, unknown routes and a missing model in OpenAI's error shape", async () => {
      const invalid = await fetch(`${test.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"model": ',
      });
      expect(invalid.status).toBe(400);
      expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
      const unknown = await fetch(`${test.url}/v1/nothing`);
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain("/v1/nothing");
      const noModel = await postJson(`${test.url}/v1/chat/completions`, { messages: [{ role: "user", content: "Hi" }] });
      expect(noModel.status).toBe(400);
      expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe("model");
    });
  },
);
