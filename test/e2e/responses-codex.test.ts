import { describe, expect, it } from "vitest";
import type { GenerateRequest } from "../../src/spec/index.js";
import { hasTestModels } from "../helpers/models.js";
import { messagesOf, type NamedEvent, parseNamedSse, useResponsesServer } from "../helpers/responses.js";

/**
 * A turn of OpenAI's Codex CLI against a custom Responses provider (`wire_api = "responses"`), replayed: the request
 * shape of codex-rs (`ResponsesApiRequest` in codex-rs/codex-api/src/common.rs: model, instructions, input, tools,
 * tool_choice "auto", parallel_tool_calls, reasoning {effort, summary}, store false, stream true, include
 * ["reasoning.encrypted_content"], prompt_cache_key) with its headers, its tool kinds (function tools with `strict`,
 * `custom` apply_patch with a Lark grammar, `local_shell`, `web_search`) and its item kinds (developer and user messages
 * of `input_text` parts; on the next turn the whole history again, reasoning, function_call and function_call_output
 * included, since it does not store). Codex itself cannot be installed here; its SSE parser
 * (codex-rs/codex-api/src/sse/responses.rs) reads `response.output_item.done` items as its `ResponseItem`, and ends the
 * turn only on `response.completed` with an `id` and `usage` (else "stream closed before response.completed").
 */
const instructions = `You are Codex, a coding agent based on an open model. You and the user share the same workspace.\n\n${"## Guidelines\n- Keep going until the query is completely resolved.\n- Prefer `rg` over `grep`; use apply_patch to edit files; never revert changes you did not make.\n- Keep the final answer concise: short bullets, no headers for small changes.\n\n".repeat(24)}`;
const codexHeaders = {
  "content-type": "application/json",
  accept: "text/event-stream",
  authorization: "Bearer sk-local",
  "openai-beta": "responses=experimental",
  originator: "codex_cli_rs",
  version: "0.63.0",
  session_id: "0199a213-81c0-7800-8aa1-bbab2a035a53",
  conversation_id: "0199a213-81c0-7800-8aa1-bbab2a035a53",
  "user-agent": "codex_cli_rs/0.63.0 (Debian 12; x86_64) xterm-256color",
};
const shellTool = {
  type: "function",
  name: "shell",
  description: "Runs a shell command and returns its output.",
  strict: false,
  parameters: {
    type: "object",
    properties: {
      command: { type: "array", items: { type: "string" }, description: "The command to execute" },
      workdir: { type: "string", description: "The working directory to execute the command in" },
      timeout_ms: { type: "number", description: "The timeout for the command in milliseconds" },
    },
    required: ["command"],
    additionalProperties: false,
  },
};
const tools = [
  shellTool,
  {
    type: "function",
    name: "update_plan",
    description: "Updates the task plan.",
    strict: false,
    parameters: {
      type: "object",
      properties: {
        explanation: { type: "string" },
        plan: {
          type: "array",
          items: {
            type: "object",
            properties: { step: { type: "string" }, status: { type: "string", enum: ["pending", "in_progress", "completed"] } },
            required: ["step", "status"],
            additionalProperties: false,
          },
        },
      },
      required: ["plan"],
      additionalProperties: false,
    },
  },
  {
    type: "custom",
    name: "apply_patch",
    description: "Use the `apply_patch` tool to edit files.",
    format: { type: "grammar", syntax: "lark", definition: 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\n' },
  },
  { type: "local_shell" },
  { type: "web_search" },
];
const environment = {
  type: "message",
  role: "user",
  content: [
    {
      type: "input_text",
      text: "<environment_context>\n  <cwd>/work/project</cwd>\n  <sandbox_mode>read-only</sandbox_mode>\n</environment_context>",
    },
  ],
};
const developer = {
  type: "message",
  role: "developer",
  content: [{ type: "input_text", text: "<permissions instructions>Approvals are on-request.</permissions instructions>" }],
};
const ask = { type: "message", role: "user", content: [{ type: "input_text", text: "What files are in this folder?" }] };

function codexTurn(input: unknown[]): Record<string, unknown> {
  return {
    model: "scripted",
    instructions,
    input,
    tools,
    tool_choice: "auto",
    parallel_tool_calls: false,
    reasoning: { effort: "medium", summary: "auto" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "0199a213-81c0-7800-8aa1-bbab2a035a53",
  };
}

/** What Codex's parser needs of an output item (codex-rs `ResponseItem`): a known type and its required fields. */
function expectCodexItem(item: Record<string, unknown>): void {
  switch (item.type) {
    case "message":
      expect(item).toMatchObject({ role: "assistant", content: expect.any(Array) });
      for (const part of item.content as Array<Record<string, unknown>>)
        expect(part).toMatchObject({ type: "output_text", text: expect.any(String) });
      break;
    case "reasoning":
      expect(item).toMatchObject({ id: expect.any(String), summary: expect.any(Array) });
      break;
    case "function_call":
      expect(item).toMatchObject({ name: expect.any(String), arguments: expect.any(String), call_id: expect.any(String) });
      break;
    default:
      throw new Error(`Codex cannot read an output item of type ${String(item.type)}`);
  }
}

/** Checks a stream the way Codex reads it and returns its completed response. */
function expectCleanCodexStream(events: NamedEvent[]): Record<string, any> {
  expect(events.map((event) => event.event)).not.toContain("error");
  expect(events[0]!.event).toBe("response.created");
  expect(events[0]!.data.response.id).toMatch(/^resp_/);
  for (const event of events.filter((entry) => entry.event.startsWith("response.output_item."))) expectCodexItem(event.data.item);
  const completed = events.at(-1)!;
  expect(completed.event).toBe("response.completed");
  const response = completed.data.response;
  expect(response.id).toBe(events[0]!.data.response.id);
  expect(response.usage).toMatchObject({
    input_tokens: expect.any(Number),
    input_tokens_details: { cached_tokens: expect.any(Number) },
    output_tokens: expect.any(Number),
    output_tokens_details: { reasoning_tokens: expect.any(Number) },
    total_tokens: expect.any(Number),
  });
  // Every item Codex saw done is in the completed response, in order.
  const done = events.filter((event) => event.event === "response.output_item.done").map((event) => event.data.item);
  expect(response.output).toEqual(done);
  return response;
}

describe.skipIf(!hasTestModels)("Codex CLI's Responses requests, replayed against the real server", () => {
  const state = useResponsesServer({ contextTokens: 4096 });

  async function post(body: Record<string, unknown>): Promise<NamedEvent[]> {
    const response = await fetch(`${state.url}/v1/responses`, { method: "POST", headers: codexHeaders, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    return parseNamedSse(await response.text());
  }

  it("a turn that calls a tool, then the turn that answers with its output, both complete cleanly", async () => {
    let firstRequest: GenerateRequest | undefined;
    state.script = (request) => {
      firstRequest = request;
      return '<think>\nI should list the files.\n</think>\n\n<tool_call>\n{"name": "shell", "arguments": {"command": ["ls", "-a"]}}\n</tool_call>';
    };
    const first = expectCleanCodexStream(await post(codexTurn([developer, environment, ask])));
    // What the model saw: the long instructions and the developer message as one system prompt, the function tools only
    // (custom, local_shell and web_search dropped), thinking on (effort medium).
    const system = messagesOf(firstRequest!)[0]!;
    expect(system.role).toBe("system");
    expect(system.text.startsWith(instructions)).toBe(true);
    expect(system.text).toContain("<permissions instructions>");
    expect(firstRequest!.tools?.definitions.map((tool) => tool.name)).toEqual(["shell", "update_plan"]);
    expect(firstRequest!.tools?.parallel).toBe(false);
    expect(firstRequest!.thinking?.enabled).toBe(true);
    expect(first.output.map((item: { type: string }) => item.type)).toEqual(["reasoning", "function_call"]);
    const call = first.output[1];
    expect(JSON.parse(call.arguments)).toEqual({ command: ["ls", "-a"] });
    expect(first.store).toBe(false);

    // Codex does not store: the next turn sends the whole history, the reasoning item and the call included.
    const reasoning = first.output[0];
    state.script = (request) => {
      const messages = messagesOf(request);
      const tool = messages.find((message) => message.role === "tool");
      return tool?.role === "tool" && tool.toolCallId === call.call_id && tool.text.includes("README.md")
        ? "<think>\nThe listing is in.\n</think>\n\nThe folder holds `README.md` and `src/`."
        : "<think>\n</think>\n\nThe tool output was lost.";
    };
    const second = expectCleanCodexStream(
      await post(
        codexTurn([
          developer,
          environment,
          ask,
          { type: "reasoning", summary: [], content: reasoning.content, encrypted_content: null },
          { type: "function_call", name: "shell", arguments: call.arguments, call_id: call.call_id },
          { type: "function_call_output", call_id: call.call_id, output: "Exit code: 0\nOutput:\n.\n..\nREADME.md\nsrc\n" },
        ]),
      ),
    );
    expect(second.output.map((item: { type: string }) => item.type)).toEqual(["reasoning", "message"]);
    expect(second.output[1].content[0].text).toBe("The folder holds `README.md` and `src/`.");
    // Not stored (store: false), as Codex asked.
    expect((await fetch(`${state.url}/v1/responses/${second.id}`)).status).toBe(404);
  });
});
