import Anthropic from "@anthropic-ai/sdk";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticModelRegistry } from "../../src/engines/model-registry.js";
import type { GenerateRequest, ModelBackend } from "../../src/spec/index.js";
import { checkSequence, parseEvents } from "../helpers/anthropic-sse.js";
import {
  anthropicDefinedTools,
  claudeCodeExtras,
  claudeCodeFirstUserTurn,
  claudeCodeHeaders,
  claudeCodeSystem,
  claudeCodeTools,
} from "../helpers/claude-code-request.js";
import { hasTestModels, testModelPath } from "../helpers/models.js";
import { loadTestBackend, postJson, serveApp } from "../helpers/server.js";

// Claude Code's tool schemas as it sends them: integer bounds, `format: "uri"` and `propertyNames` included (enforced
// or checked after decoding, docs/api.md#structured-output).
const tools = [...claudeCodeTools, ...anthropicDefinedTools];

// Claude Code (ANTHROPIC_BASE_URL=moestro, ANTHROPIC_MODEL and ANTHROPIC_SMALL_FAST_MODEL set to a served model)
// replayed against the real server: its start-up call, count_tokens, and a two-request turn (thought, text and a Bash
// call; then the tool result and the answer), streamed as Claude Code streams them.
describe.skipIf(!hasTestModels)("Claude Code 2.x turn against /v1/messages", () => {
  let backend: ModelBackend;
  let server: Awaited<ReturnType<typeof serveApp>>;
  let script: string | undefined;
  let seen: GenerateRequest | undefined;

  beforeAll(async () => {
    // A 16k window: Claude Code's max_tokens (32000) does not fit, as on most local models.
    backend = await loadTestBackend({
      modelPath: testModelPath("tiny-qwen3moe.gguf"),
      contextTokens: 16384,
      id: "qwen-coder",
      script: (request) => {
        seen = request;
        return script;
      },
    });
    server = await serveApp({ models: createStaticModelRegistry([backend]), logger: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await server?.close();
    await backend?.dispose();
  });

  const headers = claudeCodeHeaders("sk-moestro-local");
  const post = (path: string, body: unknown) => postJson(`${server.url}${path}`, body, { headers });
  const mainLoop = {
    model: "qwen-coder",
    max_tokens: 32000,
    stream: true,
    temperature: 1,
    system: claudeCodeSystem(),
    tools,
    thinking: { type: "enabled", budget_tokens: 31999 },
    ...claudeCodeExtras,
  };

  it("the start-up call and count_tokens answer with ?beta=true and Claude Code's headers", async () => {
    script = "ok";
    const quota = await post("/v1/messages?beta=true", {
      model: "qwen-coder",
      max_tokens: 1,
      messages: [{ role: "user", content: "quota" }],
      metadata: claudeCodeExtras.metadata,
    });
    expect(quota.status).toBe(200);
    expect(await quota.json()).toMatchObject({ type: "message", stop_reason: "max_tokens" });

    const counted = await post("/v1/messages/count_tokens?beta=true", {
      model: "qwen-coder",
      system: claudeCodeSystem(),
      tools,
      thinking: mainLoop.thinking,
      messages: [claudeCodeFirstUserTurn],
    });
    expect(counted.status).toBe(200);
    const { input_tokens: inputTokens } = (await counted.json()) as { input_tokens: number };
    // A long prompt: the instructions and ~16 tool schemas.
    expect(inputTokens).toBeGreaterThan(1500);
  });

  it("completes a turn: a signed thought, text and a Bash call, then the tool result and the answer, in clean event streams", async () => {
    script =
      "The user wants a listing.</think>\n\nI'll list the files.\n\n" +
      '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls", "description": "List files in the folder"}}\n</tool_call>';
    const first = await post("/v1/messages?beta=true", { ...mainLoop, messages: [claudeCodeFirstUserTurn] });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toContain("text/event-stream");
    const events = parseEvents(await first.text());
    checkSequence(events);
    expect(events.some((event) => event.type === "error")).toBe(false);

    // What reached the model: the billing line dropped, every custom tool, none of Anthropic's own tool types.
    const messages = (seen!.input as { messages: Array<{ role: string; text: string }> }).messages;
    expect(messages[0]!.role).toBe("system");
    expect(messages[0]!.text.startsWith("You are Claude Code")).toBe(true);
    expect(messages[0]!.text).not.toContain("x-anthropic-billing-header");
    expect(seen!.tools!.definitions.map((tool) => tool.name)).toEqual(claudeCodeTools.map((tool) => tool.name));
    expect(seen!.thinking).toEqual({ enabled: true, budgetTokens: 31999 });
    // max_tokens lowered to what the 16k window leaves beside the prompt.
    expect(seen!.maxTokens).toBeLessThan(16384);

    // The Anthropic SDK, as Claude Code uses it (beta messages: ?beta=true and the anthropic-beta header), rebuilds it.
    const client = new Anthropic({
      baseURL: server.url,
      authToken: "sk-moestro-local",
      apiKey: null,
      maxRetries: 0,
      dangerouslyAllowBrowser: true,
      defaultHeaders: { "x-app": "cli", "user-agent": "claude-cli/2.1.45 (external, cli)" },
    });
    const params = {
      ...mainLoop,
      betas: ["claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27"],
      messages: [claudeCodeFirstUserTurn],
    } as unknown as Anthropic.Beta.Messages.MessageCreateParamsStreaming;
    const turn = await client.beta.messages.stream(params).finalMessage();
    expect(turn.stop_reason).toBe("tool_use");
    expect(turn.content.map((block) => block.type)).toEqual(["thinking", "text", "tool_use"]);
    const call = turn.content[2] as Anthropic.Beta.BetaToolUseBlock;
    expect(call).toMatchObject({ name: "Bash", input: { command: "ls", description: "List files in the folder" } });

    // The next request sends the whole assistant turn back (thought and signature included) with the tool's result.
    script = "Two files.</think>\n\nThere are two files: `a.txt` and `b.txt`.";
    const second = await client.beta.messages
      .stream({
        ...params,
        messages: [
          claudeCodeFirstUserTurn,
          { role: "assistant", content: turn.content },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: call.id, content: "a.txt\nb.txt", is_error: false },
              { type: "text", text: "<system-reminder>\nThe task list is empty.\n</system-reminder>" },
            ],
          },
        ],
      } as unknown as Anthropic.Beta.Messages.MessageCreateParamsStreaming)
      .finalMessage();
    expect(second.stop_reason).toBe("end_turn");
    expect(second.content.at(-1)).toEqual({ type: "text", text: "There are two files: `a.txt` and `b.txt`." });
    const history = (seen!.input as { messages: Array<Record<string, unknown>> }).messages;
    expect(history.slice(-3)).toEqual([
      {
        role: "assistant",
        text: (turn.content[1] as Anthropic.Beta.BetaTextBlock).text,
        toolCalls: [{ id: call.id, name: "Bash", arguments: '{"command":"ls","description":"List files in the folder"}' }],
      },
      { role: "tool", toolCallId: call.id, text: "a.txt\nb.txt" },
      { role: "user", text: "<system-reminder>\nThe task list is empty.\n</system-reminder>" },
    ]);
  });
});
