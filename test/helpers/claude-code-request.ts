/**
 * A Claude Code 2.x request as it reaches `ANTHROPIC_BASE_URL`, rebuilt for tests (Claude Code cannot be installed
 * here). The shape follows captures of Claude Code 2.1 traffic published in proxy projects' issues and code (headers,
 * `?beta=true`, the system prompt as three text blocks with `cache_control`, `metadata.user_id`, ~20 tools whose input
 * schemas declare JSON Schema 2020-12, `thinking` with a 31999-token budget under `max_tokens` 32000,
 * `context_management`); the texts and the tool descriptions are moestro's own, not Claude Code's.
 */

/** The headers Claude Code 2.x sends on `/v1/messages?beta=true` (with `ANTHROPIC_AUTH_TOKEN` set: Bearer auth). */
export function claudeCodeHeaders(token: string): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta":
      "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24",
    "anthropic-dangerous-direct-browser-access": "true",
    "x-app": "cli",
    "user-agent": "claude-cli/2.1.45 (external, cli)",
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.75.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "node",
    "x-stainless-runtime-version": "v22.12.0",
    "x-stainless-retry-count": "0",
    "x-stainless-timeout": "600",
    "x-stainless-helper-method": "stream",
  };
}

const schema2020 = "https://json-schema.org/draft/2020-12/schema";

/** An object schema as Claude Code declares its tools' inputs: 2020-12, closed. */
function input(properties: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return { $schema: schema2020, type: "object", properties, required, additionalProperties: false };
}

const text = (description: string) => ({ type: "string", description });

/**
 * Custom tools in the shapes Claude Code declares (names as in Claude Code; descriptions moestro's own): nested arrays
 * of objects, enums, `anyOf` with `const`, `default`s, numeric ranges (`exclusiveMinimum`, `minimum`, `maximum`),
 * `format: "uri"`, `propertyNames`, `minLength`, `minItems`/`maxItems`, option-like property names (`-A`, `-i`), and an
 * MCP tool declared with draft-07.
 */
export const claudeCodeTools: Array<Record<string, unknown>> = [
  {
    name: "Task",
    description: "Starts a sub-agent for a multi-step task.\n\nAgent types: general-purpose, Explore, Plan.",
    input_schema: input(
      {
        description: text("A 3 to 5 word summary"),
        prompt: text("What the agent should do"),
        subagent_type: text("Which agent type"),
        model: { type: "string", enum: ["sonnet", "opus", "haiku"], description: "Model for the agent" },
        run_in_background: { type: "boolean", description: "Run without waiting" },
        max_turns: { type: "integer", exclusiveMinimum: 0, maximum: 9007199254740991, description: "Turn limit" },
      },
      ["description", "prompt", "subagent_type"],
    ),
  },
  {
    name: "TaskOutput",
    description: "Reads the output of a background task.",
    input_schema: input(
      {
        task_id: text("The task's id"),
        block: { type: "boolean", default: true, description: "Wait for the task" },
        timeout: { type: "number", default: 30000, minimum: 0, maximum: 600000, description: "Wait at most this many ms" },
      },
      ["task_id", "block", "timeout"],
    ),
  },
  {
    name: "Bash",
    description: `Runs a shell command.\n\n${"Quote paths with spaces. Prefer the dedicated file tools. ".repeat(40)}`,
    input_schema: input(
      {
        command: text("The command"),
        timeout: { type: "number", description: "Timeout in ms (max 600000)" },
        description: text("What the command does, in 5 to 10 words"),
        run_in_background: { type: "boolean", description: "Run in the background" },
        dangerouslyDisableSandbox: { type: "boolean", description: "Run outside the sandbox" },
      },
      ["command"],
    ),
  },
  {
    name: "Glob",
    description: "Finds files by glob pattern.",
    input_schema: input({ pattern: text("The glob"), path: text("Where to look") }, ["pattern"]),
  },
  {
    name: "Grep",
    description: "Searches file contents with a regular expression.",
    input_schema: input(
      {
        pattern: text("The regular expression"),
        path: text("File or folder"),
        glob: text("Files to search"),
        output_mode: { type: "string", enum: ["content", "files_with_matches", "count"], description: "What to print" },
        "-B": { type: "number", description: "Lines before" },
        "-A": { type: "number", description: "Lines after" },
        "-C": { type: "number", description: "Lines around" },
        "-n": { type: "boolean", description: "Line numbers" },
        "-i": { type: "boolean", description: "Ignore case" },
        type: text("File type"),
        head_limit: { type: "number", description: "First N results" },
        multiline: { type: "boolean", description: "Patterns span lines" },
      },
      ["pattern"],
    ),
  },
  {
    name: "Read",
    description: "Reads a file.",
    input_schema: input(
      {
        file_path: text("Absolute path"),
        offset: { type: "number", description: "First line" },
        limit: { type: "number", description: "Lines" },
      },
      ["file_path"],
    ),
  },
  {
    name: "Edit",
    description: "Replaces a string in a file.",
    input_schema: input(
      {
        file_path: text("Absolute path"),
        old_string: text("Text to replace"),
        new_string: text("Replacement"),
        replace_all: { type: "boolean", default: false, description: "Every occurrence" },
      },
      ["file_path", "old_string", "new_string"],
    ),
  },
  {
    name: "Write",
    description: "Writes a file.",
    input_schema: input({ file_path: text("Absolute path"), content: text("The content") }, ["file_path", "content"]),
  },
  {
    name: "NotebookEdit",
    description: "Edits a Jupyter notebook cell.",
    input_schema: input(
      {
        notebook_path: text("Absolute path"),
        cell_id: text("The cell"),
        new_source: text("New source"),
        cell_type: { type: "string", enum: ["code", "markdown"], description: "Cell type" },
        edit_mode: { type: "string", enum: ["replace", "insert", "delete"], description: "What to do" },
      },
      ["notebook_path", "new_source"],
    ),
  },
  {
    name: "WebFetch",
    description: "Fetches a URL and answers a prompt about it.",
    input_schema: input({ url: { type: "string", format: "uri", description: "The URL" }, prompt: text("What to extract") }, [
      "url",
      "prompt",
    ]),
  },
  {
    name: "WebSearch",
    description: "Searches the web.",
    input_schema: input(
      {
        query: { type: "string", minLength: 2, description: "The query" },
        allowed_domains: { type: "array", items: { type: "string" }, description: "Only these" },
        blocked_domains: { type: "array", items: { type: "string" }, description: "Never these" },
      },
      ["query"],
    ),
  },
  {
    name: "AskUserQuestion",
    description: "Asks the user multiple-choice questions.",
    input_schema: input(
      {
        questions: {
          type: "array",
          minItems: 1,
          maxItems: 4,
          items: {
            type: "object",
            properties: {
              question: text("The question"),
              header: text("A short label"),
              options: {
                type: "array",
                minItems: 2,
                maxItems: 4,
                items: {
                  type: "object",
                  properties: { label: text("Label"), description: text("Meaning") },
                  required: ["label", "description"],
                  additionalProperties: false,
                },
              },
              multiSelect: { type: "boolean", default: false, description: "Several answers" },
            },
            required: ["question", "header", "options", "multiSelect"],
            additionalProperties: false,
          },
        },
        answers: {
          type: "object",
          propertyNames: { type: "string" },
          additionalProperties: { type: "string" },
          description: "Answers so far",
        },
      },
      ["questions"],
    ),
  },
  {
    name: "TodoWrite",
    description: "Updates the session's task list.",
    input_schema: input(
      {
        todos: {
          type: "array",
          items: {
            type: "object",
            properties: {
              content: { type: "string", minLength: 1 },
              status: { type: "string", enum: ["pending", "in_progress", "completed"] },
              activeForm: { type: "string", minLength: 1 },
            },
            required: ["content", "status", "activeForm"],
            additionalProperties: false,
          },
          description: "The whole list",
        },
      },
      ["todos"],
    ),
  },
  {
    name: "TaskUpdate",
    description: "Changes a task.",
    input_schema: input(
      {
        taskId: text("The task"),
        status: {
          anyOf: [
            { type: "string", enum: ["pending", "in_progress", "completed"] },
            { type: "string", const: "deleted" },
          ],
        },
        addBlocks: { type: "array", items: { type: "string" } },
      },
      ["taskId"],
    ),
  },
  { name: "ExitPlanMode", description: "Leaves plan mode.", input_schema: input({}, []) },
  {
    name: "mcp__tracker__create_issue",
    description: "Creates an issue in the tracker (an MCP server's tool).",
    input_schema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      properties: {
        title: { type: "string" },
        body: { type: "string" },
        labels: { type: "array", items: { type: "string" } },
        assignee: { type: ["string", "null"] },
      },
      required: ["title"],
      additionalProperties: false,
    },
  },
];

/** Tools of Anthropic's own types, which some agents built on Claude Code's stack declare, and moestro drops. */
export const anthropicDefinedTools: Array<Record<string, unknown>> = [
  { type: "web_search_20250305", name: "web_search", max_uses: 8 },
  { type: "text_editor_20250728", name: "str_replace_based_edit_tool" },
];

/** A long system prompt in Claude Code's layout: a per-request billing line, the identity line, then the instructions. */
export function claudeCodeSystem(): Array<Record<string, unknown>> {
  const rules = [
    "Answer briefly; the output is shown in a terminal.",
    "Read a file before you change it.",
    "Use the dedicated tools for files, and the shell for commands only.",
    "Run independent tool calls in one turn.",
    "Never guess URLs.",
  ];
  const instructions = Array.from({ length: 60 }, (_, index) => `- ${rules[index % rules.length]} (rule ${index + 1})`).join("\n");
  return [
    { type: "text", text: "x-anthropic-billing-header: cc_version=2.1.45.760; cc_entrypoint=cli; cch=3f2a1;" },
    { type: "text", text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: "ephemeral" } },
    {
      type: "text",
      text: `\nYou are an interactive CLI tool that helps users with software engineering tasks.\n\n# Rules\n${instructions}\n\n<env>\nWorking directory: /home/user/project\nPlatform: linux\n</env>`,
      cache_control: { type: "ephemeral" },
    },
  ];
}

/** The fields Claude Code adds to every main-loop request besides the prompt. */
export const claudeCodeExtras = {
  metadata: {
    user_id: "user_5b8f0c1e9d2a4f6b8c0e1a3d5f7b9c2e4a6d8f0b1c3e5a7d9f1b3c5e7a9d1f3b_account__session_0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
  },
  context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
  output_config: { effort: "high" },
};

/** The first user turn as Claude Code sends it: a system reminder block, then the prompt (cached). */
export const claudeCodeFirstUserTurn = {
  role: "user" as const,
  content: [
    {
      type: "text",
      text: "<system-reminder>\nAs you answer, use the context below.\n# claudeMd\nRun tests with npm test.\n</system-reminder>",
    },
    { type: "text", text: "List the files here.", cache_control: { type: "ephemeral" } },
  ],
};
