import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { streamChatCompletion } from "../../../src/client/chat-stream.js";
import { useConsoleApi } from "../api.js";
import { formatDurationMs, formatFixed, formatInteger } from "../format.js";
import { useAsync } from "../hooks.js";
import { toCurl, toOpenAiJavaScript, toOpenAiPython } from "../request-code.js";
import { describeError, ErrorNotice, Notice, PageHeader } from "../ui.js";

/** A tool call the model made. */
interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** Token counts and timings of one answer. */
interface TurnStats {
  promptTokens?: number;
  completionTokens?: number;
  reasoningTokens?: number;
  cachedPromptTokens?: number;
  timeToFirstTokenMs?: number;
  durationMs?: number;
  /** Stream chunks that carried text, thought or a tool call. */
  chunks: number;
  finishReason?: string;
}

/** One message of the conversation. */
type Turn =
  | { role: "user"; content: string }
  | { role: "tool"; toolCallId: string; name: string; content: string }
  | {
      role: "assistant";
      content: string;
      reasoning: string;
      toolCalls: ToolCall[];
      stats: TurnStats;
      error?: string;
      isStreaming: boolean;
    };

/** The Playground's options; text fields stay text until the request is built. */
interface Settings {
  system: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  topK: string;
  minP: string;
  seed: string;
  stop: string;
  thinking: "default" | "on" | "off";
  thinkingBudget: string;
  isToolsOn: boolean;
  tools: string;
  toolChoice: "auto" | "none" | "required";
  responseFormat: "text" | "json_object" | "json_schema";
  jsonSchema: string;
}

const initialSettings: Settings = {
  system: "",
  maxTokens: "256",
  temperature: "0.7",
  topP: "",
  topK: "",
  minP: "",
  seed: "",
  stop: "",
  thinking: "default",
  thinkingBudget: "",
  isToolsOn: false,
  tools: JSON.stringify(
    [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The current weather in a city.",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ],
    null,
    2,
  ),
  toolChoice: "auto",
  responseFormat: "text",
  jsonSchema: JSON.stringify(
    { type: "object", properties: { answer: { type: "string" }, confidence: { type: "number" } }, required: ["answer", "confidence"] },
    null,
    2,
  ),
};

/** Reads a number field: `undefined` when empty; an error message when it is not a number in range. */
function readNumber(text: string, name: string, range: { min?: number; max?: number; isInteger?: boolean } = {}): number | undefined {
  if (text.trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || (range.isInteger && !Number.isInteger(value)))
    throw new Error(`${name} must be ${range.isInteger ? "a whole number" : "a number"}.`);
  if (range.min !== undefined && value < range.min) throw new Error(`${name} must be at least ${range.min}.`);
  if (range.max !== undefined && value > range.max) throw new Error(`${name} must be at most ${range.max}.`);
  return value;
}

function readJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/** The wire messages of the conversation (a thought is not sent back; tool calls and their results are). */
function toWireMessages(system: string, turns: readonly Turn[]): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [];
  if (system.trim() !== "") messages.push({ role: "system", content: system });
  for (const [index, turn] of turns.entries()) {
    if (turn.role === "user") messages.push({ role: "user", content: turn.content });
    else if (turn.role === "tool") messages.push({ role: "tool", tool_call_id: turn.toolCallId, content: turn.content });
    else if (turn.error === undefined) {
      // Calls whose results were skipped are left out: a call must be followed by its results.
      const hasResults = turns[index + 1]?.role === "tool" && turn.toolCalls.length > 0;
      const message: Record<string, unknown> = { role: "assistant", content: hasResults && turn.content === "" ? null : turn.content };
      if (hasResults)
        message.tool_calls = turn.toolCalls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.arguments },
        }));
      messages.push(message);
    }
  }
  return messages;
}

/**
 * The request body for the conversation and settings.
 *
 * @throws {Error} with a message for people when a field is out of range or a JSON field does not parse.
 */
function buildBody(model: string, settings: Settings, messages: Array<Record<string, unknown>>): Record<string, unknown> {
  const body: Record<string, unknown> = { model, messages, stream: true, stream_options: { include_usage: true } };
  const maxTokens = readNumber(settings.maxTokens, "Max tokens", { min: 1, isInteger: true });
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  const numbers: Array<[keyof Settings, string, string, { min?: number; max?: number; isInteger?: boolean }]> = [
    ["temperature", "temperature", "Temperature", { min: 0, max: 2 }],
    ["topP", "top_p", "Top p", { min: 0, max: 1 }],
    ["topK", "top_k", "Top k", { min: 0, isInteger: true }],
    ["minP", "min_p", "Min p", { min: 0, max: 1 }],
    ["seed", "seed", "Seed", { isInteger: true }],
  ];
  for (const [field, wireName, label, range] of numbers) {
    const value = readNumber(settings[field] as string, label, range);
    if (value !== undefined) body[wireName] = value;
  }
  const stops = settings.stop
    .split("\n")
    .map((line) => line.replace(/\\n/g, "\n"))
    .filter((line) => line !== "");
  if (stops.length > 0) body.stop = stops;
  if (settings.thinking !== "default") {
    body.enable_thinking = settings.thinking === "on";
    const budget = readNumber(settings.thinkingBudget, "Thinking budget", { min: 0, isInteger: true });
    if (settings.thinking === "on" && budget !== undefined) body.thinking_budget = budget;
  }
  if (settings.isToolsOn) {
    const tools = readJson(settings.tools, "Tools");
    if (!Array.isArray(tools))
      throw new Error('Tools must be a JSON array of {type: "function", function: {name, description, parameters}}.');
    body.tools = tools;
    body.tool_choice = settings.toolChoice;
  }
  if (settings.responseFormat === "json_object") body.response_format = { type: "json_object" };
  if (settings.responseFormat === "json_schema") {
    body.response_format = {
      type: "json_schema",
      json_schema: { name: "answer", schema: readJson(settings.jsonSchema, "JSON schema"), strict: true },
    };
  }
  return body;
}

/** Chat with a served model: streaming, thinking, tools, JSON output, sampling, and the request as code. */
export function PlaygroundPage(): ReactNode {
  const api = useConsoleApi();
  const models = useAsync(() => api.console.listModels(), [api]);
  const [model, setModel] = useState("");
  const [settings, setSettings] = useState<Settings>(initialSettings);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [toolResults, setToolResults] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  // The index of an assistant turn whose tool calls the user chose not to answer.
  const [skippedToolTurn, setSkippedToolTurn] = useState<number | undefined>(undefined);
  const [codeTab, setCodeTab] = useState<"curl" | "javascript" | "python">("curl");
  const [lastBody, setLastBody] = useState<Record<string, unknown> | undefined>(undefined);
  const abortRef = useRef<AbortController | undefined>(undefined);
  const scrollRef = useRef<HTMLDivElement>(null);
  const isStreaming = turns.some((turn) => turn.role === "assistant" && turn.isStreaming);

  useEffect(() => {
    if (model !== "" || models.data === undefined || models.data.length === 0) return;
    setModel((models.data.find((entry) => entry.loaded) ?? models.data[0]!).id);
  }, [models.data, model]);
  useEffect(() => () => abortRef.current?.abort(), []);
  useEffect(() => {
    const element = scrollRef.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [turns]);

  const lastTurn = turns.at(-1);
  const pendingToolCalls =
    lastTurn?.role === "assistant" && !lastTurn.isStreaming && lastTurn.error === undefined && skippedToolTurn !== turns.length - 1
      ? lastTurn.toolCalls
      : [];
  const set = <K extends keyof Settings>(key: K, value: Settings[K]): void => setSettings((previous) => ({ ...previous, [key]: value }));

  // The request the composer would send now; with an empty composer, the last one sent (or an example).
  const preview = useMemo((): { body?: Record<string, unknown>; error?: string; what: string } => {
    if (draft.trim() === "" && lastBody !== undefined) return { body: lastBody, what: "Last request" };
    const nextTurns: Turn[] = [...turns, { role: "user", content: draft.trim() === "" ? "Tell me a story" : draft }];
    const what = draft.trim() === "" ? "Example request" : "Next request";
    try {
      return { body: buildBody(model || "MODEL", settings, toWireMessages(settings.system, nextTurns)), what };
    } catch (error) {
      return { error: (error as Error).message, what };
    }
  }, [draft, turns, model, settings, lastBody]);

  const send = async (newTurns: Turn[]): Promise<void> => {
    let body: Record<string, unknown>;
    const history = [...turns, ...newTurns];
    try {
      if (model === "") throw new Error("Pick a model first.");
      body = buildBody(model, settings, toWireMessages(settings.system, history));
    } catch (error) {
      setFormError((error as Error).message);
      return;
    }
    setFormError(undefined);
    setLastBody(body);
    setDraft("");
    setToolResults({});
    const assistant: Extract<Turn, { role: "assistant" }> = {
      role: "assistant",
      content: "",
      reasoning: "",
      toolCalls: [],
      stats: { chunks: 0 },
      isStreaming: true,
    };
    setTurns([...history, assistant]);
    const update = (change: (turn: Extract<Turn, { role: "assistant" }>) => Extract<Turn, { role: "assistant" }>): void =>
      setTurns((previous) => {
        const last = previous.at(-1);
        if (last?.role !== "assistant") return previous;
        return [...previous.slice(0, -1), change(last)];
      });
    const controller = new AbortController();
    abortRef.current = controller;
    const startedAt = performance.now();
    let firstAt: number | undefined;
    try {
      for await (const part of streamChatCompletion({ baseUrl: "", apiKey: api.adminKey, body, signal: controller.signal })) {
        if (part.type === "usage") {
          update((turn) => ({
            ...turn,
            stats: {
              ...turn.stats,
              promptTokens: part.promptTokens,
              completionTokens: part.completionTokens,
              reasoningTokens: part.reasoningTokens,
              cachedPromptTokens: part.cachedPromptTokens,
            },
          }));
          continue;
        }
        if (part.type === "finish") {
          update((turn) => ({ ...turn, stats: { ...turn.stats, finishReason: part.finishReason } }));
          continue;
        }
        firstAt ??= performance.now();
        const timeToFirstTokenMs = firstAt - startedAt;
        update((turn) => {
          const stats = { ...turn.stats, chunks: turn.stats.chunks + 1, timeToFirstTokenMs };
          if (part.type === "reasoning-delta") return { ...turn, reasoning: turn.reasoning + part.text, stats };
          if (part.type === "text-delta") return { ...turn, content: turn.content + part.text, stats };
          const toolCalls = [...turn.toolCalls];
          const existing = toolCalls[part.index];
          toolCalls[part.index] = {
            id: part.id ?? existing?.id ?? `call_${part.index}`,
            name: part.name ?? existing?.name ?? "",
            arguments: (existing?.arguments ?? "") + part.argumentsDelta,
          };
          return { ...turn, toolCalls, stats };
        });
      }
      update((turn) => ({ ...turn, isStreaming: false, stats: { ...turn.stats, durationMs: performance.now() - startedAt } }));
    } catch (error) {
      const message = controller.signal.aborted ? "Stopped." : describeError(error).message;
      update((turn) => ({
        ...turn,
        isStreaming: false,
        error: message,
        stats: { ...turn.stats, durationMs: performance.now() - startedAt },
      }));
    } finally {
      if (abortRef.current === controller) abortRef.current = undefined;
    }
  };

  const onComposerKey = (event: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      if (!isStreaming && draft.trim() !== "") void send([{ role: "user", content: draft }]);
    }
  };

  const origin = `${window.location.origin}/v1`;
  const code =
    preview.body === undefined
      ? `// ${preview.error}`
      : { curl: toCurl, javascript: toOpenAiJavaScript, python: toOpenAiPython }[codeTab]({
          baseUrl: origin,
          body: preview.body,
          needsKey: api.info.key_checks,
        });

  return (
    <div className="page playground">
      <PageHeader
        title="Playground"
        subtitle="Chat with a served model. Answers stream as they are generated; a thought is shown apart, folded, with its token count."
        actions={
          <button
            type="button"
            onClick={() => {
              setTurns([]);
              setLastBody(undefined);
            }}
            disabled={isStreaming || turns.length === 0}
          >
            New chat
          </button>
        }
      />
      <div className="playground-grid">
        <div className="chat-column">
          <div className="chat-log" ref={scrollRef} data-testid="chat-log">
            {turns.length === 0 && <div className="chat-empty muted">Pick a model on the right, write a message and press Enter.</div>}
            {turns.map((turn, index) => (
              <TurnView key={index} turn={turn} />
            ))}
          </div>
          {formError !== undefined && <Notice kind="error">{formError}</Notice>}
          {pendingToolCalls.length > 0 ? (
            <div className="composer composer-tools">
              <p className="muted small">The model called tools. The Playground runs none: write each result, then send them back.</p>
              {pendingToolCalls.map((call) => (
                <label key={call.id}>
                  <span>
                    Result of <code>{call.name}</code> ({call.id})
                  </span>
                  <textarea
                    rows={2}
                    value={toolResults[call.id] ?? ""}
                    onChange={(event) => setToolResults((previous) => ({ ...previous, [call.id]: event.target.value }))}
                    placeholder='{"temperature_c": 21}'
                  />
                </label>
              ))}
              <div className="row">
                <button
                  type="button"
                  className="primary"
                  onClick={() =>
                    void send(
                      pendingToolCalls.map((call) => ({
                        role: "tool",
                        toolCallId: call.id,
                        name: call.name,
                        content: toolResults[call.id] ?? "",
                      })),
                    )
                  }
                >
                  Send results
                </button>
                <button type="button" onClick={() => setSkippedToolTurn(turns.length - 1)}>
                  Skip
                </button>
              </div>
            </div>
          ) : (
            <div className="composer">
              <textarea
                aria-label="Message"
                data-testid="composer"
                rows={3}
                placeholder="Message (Enter sends, Shift+Enter for a new line)"
                value={draft}
                onChange={(event) => setDraft(event.target.value)}
                onKeyDown={onComposerKey}
              />
              {isStreaming ? (
                <button type="button" onClick={() => abortRef.current?.abort()} data-testid="stop">
                  Stop
                </button>
              ) : (
                <button
                  type="button"
                  className="primary"
                  disabled={draft.trim() === "" || model === ""}
                  onClick={() => void send([{ role: "user", content: draft }])}
                  data-testid="send"
                >
                  Send
                </button>
              )}
            </div>
          )}
          <section className="code-panel" data-testid="request-code">
            <div className="tabs" role="tablist">
              <span className="muted small code-what">{preview.what} as</span>
              {(
                [
                  ["curl", "curl"],
                  ["javascript", "openai (JavaScript)"],
                  ["python", "openai (Python)"],
                ] as const
              ).map(([tab, label]) => (
                <button
                  key={tab}
                  type="button"
                  role="tab"
                  aria-selected={codeTab === tab}
                  className={codeTab === tab ? "tab active" : "tab"}
                  onClick={() => setCodeTab(tab)}
                >
                  {label}
                </button>
              ))}
              <span className="grow" />
              <button type="button" className="small" onClick={() => void navigator.clipboard?.writeText(code)}>
                Copy
              </button>
            </div>
            <pre className="code" data-testid={`request-code-${codeTab}`}>
              {code}
            </pre>
          </section>
        </div>
        <aside className="settings" aria-label="Request options">
          <label>
            Model
            {models.error !== undefined ? (
              <ErrorNotice error={models.error} what="The model list" />
            ) : (
              <select value={model} onChange={(event) => setModel(event.target.value)} data-testid="model-select">
                {models.data === undefined && <option value="">Loading…</option>}
                {models.data?.length === 0 && <option value="">No models</option>}
                {models.data?.map((entry) => (
                  <option key={entry.id} value={entry.id}>
                    {entry.id}
                    {entry.loaded ? " (loaded)" : ""}
                  </option>
                ))}
              </select>
            )}
          </label>
          <label>
            System prompt
            <textarea
              rows={2}
              value={settings.system}
              onChange={(event) => set("system", event.target.value)}
              placeholder="You are a helpful assistant."
            />
          </label>
          <fieldset>
            <legend>Thinking</legend>
            <div className="segmented" role="radiogroup" aria-label="Thinking">
              {(["default", "on", "off"] as const).map((mode) => (
                <label key={mode} className={settings.thinking === mode ? "active" : undefined}>
                  <input
                    type="radio"
                    name="thinking"
                    value={mode}
                    checked={settings.thinking === mode}
                    onChange={() => set("thinking", mode)}
                  />
                  {mode === "default" ? "Default" : mode === "on" ? "On" : "Off"}
                </label>
              ))}
            </div>
            <label>
              Thinking budget (tokens)
              <input
                inputMode="numeric"
                value={settings.thinkingBudget}
                onChange={(event) => set("thinkingBudget", event.target.value)}
                placeholder="no limit"
                disabled={settings.thinking !== "on"}
              />
            </label>
          </fieldset>
          <fieldset>
            <legend>Sampling</legend>
            <div className="field-grid">
              <label>
                Max tokens
                <input
                  inputMode="numeric"
                  value={settings.maxTokens}
                  onChange={(event) => set("maxTokens", event.target.value)}
                  placeholder="rest of context"
                />
              </label>
              <label>
                Temperature
                <input
                  inputMode="decimal"
                  value={settings.temperature}
                  onChange={(event) => set("temperature", event.target.value)}
                  placeholder="1"
                />
              </label>
              <label>
                Top p
                <input inputMode="decimal" value={settings.topP} onChange={(event) => set("topP", event.target.value)} placeholder="1" />
              </label>
              <label>
                Top k
                <input inputMode="numeric" value={settings.topK} onChange={(event) => set("topK", event.target.value)} placeholder="40" />
              </label>
              <label>
                Min p
                <input inputMode="decimal" value={settings.minP} onChange={(event) => set("minP", event.target.value)} placeholder="off" />
              </label>
              <label>
                Seed
                <input
                  inputMode="numeric"
                  value={settings.seed}
                  onChange={(event) => set("seed", event.target.value)}
                  placeholder="random"
                />
              </label>
            </div>
            <label>
              Stop sequences (one a line)
              <textarea rows={1} value={settings.stop} onChange={(event) => set("stop", event.target.value)} />
            </label>
          </fieldset>
          <fieldset>
            <legend>
              <label className="inline">
                <input
                  type="checkbox"
                  checked={settings.isToolsOn}
                  onChange={(event) => set("isToolsOn", event.target.checked)}
                  data-testid="tools-toggle"
                />{" "}
                Tools
              </label>
            </legend>
            {settings.isToolsOn && (
              <>
                <label>
                  Tool definitions (JSON)
                  <textarea
                    className="mono"
                    rows={8}
                    value={settings.tools}
                    onChange={(event) => set("tools", event.target.value)}
                    spellCheck={false}
                  />
                </label>
                <label>
                  Tool choice
                  <select value={settings.toolChoice} onChange={(event) => set("toolChoice", event.target.value as Settings["toolChoice"])}>
                    <option value="auto">auto</option>
                    <option value="required">required</option>
                    <option value="none">none</option>
                  </select>
                </label>
              </>
            )}
          </fieldset>
          <fieldset>
            <legend>Output</legend>
            <select
              value={settings.responseFormat}
              onChange={(event) => set("responseFormat", event.target.value as Settings["responseFormat"])}
              aria-label="Response format"
              data-testid="response-format"
            >
              <option value="text">Text</option>
              <option value="json_object">JSON object</option>
              <option value="json_schema">JSON schema</option>
            </select>
            {settings.responseFormat === "json_schema" && (
              <label>
                JSON schema
                <textarea
                  className="mono"
                  rows={7}
                  value={settings.jsonSchema}
                  onChange={(event) => set("jsonSchema", event.target.value)}
                  spellCheck={false}
                />
              </label>
            )}
          </fieldset>
        </aside>
      </div>
    </div>
  );
}

function TurnView(props: { turn: Turn }): ReactNode {
  const { turn } = props;
  if (turn.role === "user") {
    return (
      <div className="turn turn-user" data-testid="user-message">
        <div className="turn-role">You</div>
        <div className="turn-text">{turn.content}</div>
      </div>
    );
  }
  if (turn.role === "tool") {
    return (
      <div className="turn turn-tool">
        <div className="turn-role">Tool result · {turn.name}</div>
        <pre className="turn-text mono">{turn.content}</pre>
      </div>
    );
  }
  const { stats } = turn;
  const isThinking = turn.isStreaming && turn.content === "" && turn.toolCalls.length === 0;
  const generatedTokens = stats.completionTokens;
  const decodeSeconds =
    stats.durationMs !== undefined && stats.timeToFirstTokenMs !== undefined
      ? (stats.durationMs - stats.timeToFirstTokenMs) / 1000
      : undefined;
  // A decode rate only when the answer streamed token by token (a tool call arrives whole, after it was generated).
  const isStreamedByToken = generatedTokens !== undefined && stats.chunks >= Math.max(4, generatedTokens / 2);
  const tokensPerSecond =
    isStreamedByToken && generatedTokens !== undefined && generatedTokens > 1 && decodeSeconds !== undefined && decodeSeconds > 0
      ? (generatedTokens - 1) / decodeSeconds
      : undefined;
  return (
    <div className="turn turn-assistant" data-testid="assistant-message" data-streaming={turn.isStreaming ? "true" : "false"}>
      <div className="turn-role">Assistant</div>
      {turn.reasoning !== "" && (
        <details className="thinking" open={isThinking} data-testid="thinking">
          <summary>
            {isThinking ? "Thinking…" : "Thought"} ·{" "}
            <span data-testid="thinking-tokens">
              {stats.reasoningTokens !== undefined
                ? `${formatInteger(stats.reasoningTokens)} tokens`
                : `${turn.reasoning.length > 0 ? "counting" : "0"} tokens`}
            </span>
          </summary>
          <div className="thinking-text">{turn.reasoning}</div>
        </details>
      )}
      {(turn.content !== "" || (turn.isStreaming && !isThinking)) && (
        <div className="turn-text" data-testid="assistant-text">
          {turn.content}
          {turn.isStreaming && <span className="cursor" aria-hidden="true" />}
        </div>
      )}
      {turn.isStreaming && turn.content === "" && turn.reasoning === "" && <div className="muted small">Waiting for the first token…</div>}
      {turn.toolCalls.map((call) => (
        <div key={call.id} className="tool-call" data-testid="tool-call">
          <span className="muted small">Tool call</span> <code>{call.name}</code>
          <pre className="mono">{call.arguments}</pre>
        </div>
      ))}
      {turn.error !== undefined && <Notice kind={turn.error === "Stopped." ? "info" : "error"}>{turn.error}</Notice>}
      {!turn.isStreaming &&
        turn.error === undefined &&
        turn.content === "" &&
        turn.toolCalls.length === 0 &&
        stats.finishReason === "length" && (
          <Notice>
            The model reached max tokens before it wrote anything to show{turn.reasoning === "" ? "" : " after its thought"}. Raise Max
            tokens.
          </Notice>
        )}
      {!turn.isStreaming && (
        <div className="turn-stats muted small" data-testid="turn-usage">
          {stats.promptTokens !== undefined && <span data-testid="prompt-tokens">{formatInteger(stats.promptTokens)} prompt</span>}
          {stats.completionTokens !== undefined && (
            <span data-testid="completion-tokens">{formatInteger(stats.completionTokens)} completion</span>
          )}
          {stats.reasoningTokens !== undefined && stats.reasoningTokens > 0 && <span>{formatInteger(stats.reasoningTokens)} thinking</span>}
          {stats.cachedPromptTokens !== undefined && stats.cachedPromptTokens > 0 && (
            <span>{formatInteger(stats.cachedPromptTokens)} cached</span>
          )}
          {stats.timeToFirstTokenMs !== undefined && <span>first chunk {formatDurationMs(stats.timeToFirstTokenMs)}</span>}
          {tokensPerSecond !== undefined && <span>{formatFixed(tokensPerSecond, 1)} tokens/s</span>}
          <span>{formatInteger(stats.chunks)} chunks</span>
          {stats.finishReason !== undefined && <span>finish: {stats.finishReason}</span>}
        </div>
      )}
    </div>
  );
}
